// Process entry of the `distillery` command (bin/distillery.js imports this).
import { exitWhenDone } from './exit_when_done.ts';
import { main } from './program.ts';

exitWhenDone(await main(process.argv));

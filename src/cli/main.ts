// Process entry of the `distillery` command (bin/distillery.js imports this).
import { main } from './program.ts';

process.exitCode = await main(process.argv);

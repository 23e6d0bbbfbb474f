// `distillery run all`: the main job — corpus, teacher, pipeline, baseline, evaluation and the run report.
import { Argument, Command, InvalidArgumentError } from 'commander';
import { runMainJob } from '../runner/main_job.ts';
import type { TrainCommandIo } from './train.ts';

export const DEFAULT_TOPOLOGY = 'topologies/embedded.yaml';

interface RunFlags {
  topology: string;
  steps?: number;
  set?: string[];
  runId?: string;
  baseline: boolean;
}

export function runCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const command = new Command('run')
    .description('run a pipeline; `run all` is the main job: distil the student, train the labeled-only baseline, evaluate all three, write the report')
    .addArgument(new Argument('<what>', 'what to run').choices(['all']))
    .option('--topology <file>', 'topology YAML', DEFAULT_TOPOLOGY)
    .option('--steps <n>', "student steps (= --set stages.student.options.steps=N); the baseline trains as many", parseInteger)
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--run-id <id>', 'names the run (checkpoints under runs/<id>/, report in the topology runDir) [DISTILLERY_RUN_ID, else a timestamp]')
    .option('--no-baseline', 'skip training the labeled-only baseline (its row shows n/a)');

  command.action(async (_what: 'all', flags: RunFlags) => {
    const controller = new AbortController();
    const onSignal = (): void => {
      io.stderr.write('\nstopping (the student checkpoints); press Ctrl-C again to abort\n');
      controller.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await runMainJob({
        topologyFile: flags.topology,
        overrides: flags.set,
        steps: flags.steps,
        runId: flags.runId,
        baseline: flags.baseline,
        io,
        signal: controller.signal,
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
  return command;
}

function parseInteger(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

// `distillery run all`: the main job — corpus, teacher, pipeline, baseline, evaluation and the run report.
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { initBackend } from '../backend/backend.ts';
import { DEFAULT_STUDENT_INIT, formatBackend, parseStudentInit, runMainJob, type StudentInit } from '../runner/main_job.ts';
import { startProcessObservability, type ProcessObservability } from '../observability/index.ts';
import { runStageProcess, stageByName } from '../runner/stage_process.ts';
import { describeTopology, loadTopology, STUDENT_PEAK_LEARNING_RATES } from '../topology/index.ts';
import type { CompiledTopology } from '../topology/types.ts';
import { createLogger, type Logger } from '../util/logger.ts';
import type { TrainCommandIo } from './train.ts';
import { integerArg, positiveInteger, secondsArg } from './args.ts';

export const DEFAULT_TOPOLOGY = 'topologies/embedded.yaml';

interface RunFlags {
  topology: string;
  steps?: number;
  set?: string[];
  runId?: string;
  baseline: boolean;
  studentInit?: StudentInit;
  statusEvery: number;
  metricsPort?: number;
}

/**
 * Starts this process's /metrics, /healthz and /readyz on the topology's `observability` endpoint (DISTILLERY_METRICS_PORT
 * already applied by the compiler, --metrics-port on top; port 0 serves nothing), runs `work`, then closes it.
 */
async function withObservability<T>(
  topology: CompiledTopology,
  what: string,
  flags: RunFlags,
  io: TrainCommandIo,
  logger: Logger,
  signal: AbortSignal,
  work: (observability: ProcessObservability) => Promise<T>,
): Promise<T> {
  const { host, port: configured } = topology.observability;
  const port = flags.metricsPort ?? configured;
  const observability = await startProcessObservability({ process: what, endpoint: port === 0 ? undefined : { host, port }, logger, signal });
  if (observability.server !== undefined) io.stderr.write(`metrics and probes: ${observability.server.url}/metrics /healthz /readyz\n`);
  try {
    return await work(observability);
  } finally {
    await observability.close();
  }
}

/** `run <stage>`: one stage of the topology as this process, over the topology's (shared) transport and store. */
async function runOneStage(name: string, flags: RunFlags, io: TrainCommandIo, signal: AbortSignal): Promise<void> {
  const env = flags.runId === undefined ? process.env : { ...process.env, DISTILLERY_RUN_ID: flags.runId };
  const topology = await loadTopology(flags.topology, { env, overrides: flags.set });
  const stage = stageByName(topology, name);
  if (flags.steps !== undefined) throw new Error('--steps applies to `run all`; for one stage use --set stages.<name>.options.steps=N');
  const logger = createLogger();
  if (stage.kind !== 'ingest') {
    const backend = await initBackend(topology.backend, { reason: topology.backendReason });
    io.stderr.write(`${formatBackend(backend)}\n`);
  }
  io.stdout.write(`${describeTopology(topology)}\n\nrunning stage '${stage.name}' (${stage.kind}); SIGTERM or Ctrl-C stops it gracefully\n`);
  await withObservability(topology, stage.name, flags, io, logger, signal, (observability) =>
    runStageProcess({ topology, stageName: name, logger, signal, status: io.stderr, statusEveryMs: flags.statusEvery * 1000, observability }),
  );
}

export function runCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const command = new Command('run')
    .description(
      'run a pipeline: `run all` is the main job (every stage in one process: distil the student, train the labeled-only baseline, evaluate all three, write the report); `run <stage>` runs one stage of a Kafka topology as this process (stop it with SIGTERM/Ctrl-C: it drains, commits and exits)',
    )
    .addArgument(new Argument('<what>', "'all', or the name of one stage in the topology (e.g. ingest-labeled, teacher, student)"))
    .option('--topology <file>', 'topology YAML', DEFAULT_TOPOLOGY)
    .option('--steps <n>', "student steps (= --set stages.student.options.steps=N); the baseline trains as many", positiveInteger)
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--run-id <id>', 'names the run (checkpoints under runs/<id>/, report in the topology runDir) [DISTILLERY_RUN_ID, else a timestamp]')
    .option('--no-baseline', 'skip training the labeled-only baseline (its row shows n/a)')
    .addOption(
      new Option(
        '--student-init <from>',
        `random | baseline | <model prefix>: the distilled student starts from random weights, from the labeled-only baseline (trained first, same steps), or from a saved model of its architecture in the store (e.g. runs/<id>/baseline of an earlier run; with --no-baseline nothing is retrained); from a model, its peak learning rate is its preset's (${Object.entries(STUDENT_PEAK_LEARNING_RATES).map(([preset, lr]) => `${preset} ${lr}`).join(', ')}) unless the student's initLearningRate is set [${DEFAULT_STUDENT_INIT} with a step budget and a baseline, else random]`,
      ).argParser((text: string) => {
        try {
          return parseStudentInit(text);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      }),
    )
    .option('--status-every <seconds>', 'run <stage>: print the stage counters every n seconds (0 = off)', secondsArg, 10)
    .option('--metrics-port <n>', 'serve /metrics, /healthz, /readyz on this port (0 = off) [DISTILLERY_METRICS_PORT, else the topology observability.port, 9464]', integerArg({ min: 0, max: 65535, expected: 'a TCP port in [0, 65535] (0 = no metrics server)' }));

  command.action(async (what: string, flags: RunFlags) => {
    const controller = new AbortController();
    const onSignal = (): void => {
      io.stderr.write('\nstopping gracefully (finish the batch, commit, checkpoint); press Ctrl-C again to abort\n');
      controller.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      if (what !== 'all') {
        await runOneStage(what, flags, io, controller.signal);
        return;
      }
      // Compiled here only for the endpoint: the server must answer probes while the job prepares its corpus.
      const topology = await loadTopology(flags.topology, { overrides: flags.set });
      const logger = createLogger({ level: process.env.DISTILLERY_LOG_LEVEL ?? 'warn' });
      await withObservability(topology, 'all', flags, io, logger, controller.signal, (observability) =>
        runMainJob({
          topologyFile: flags.topology,
          overrides: flags.set,
          steps: flags.steps,
          runId: flags.runId,
          baseline: flags.baseline,
          studentInit: flags.studentInit,
          io,
          signal: controller.signal,
          logger,
          observability,
        }),
      );
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
  return command;
}


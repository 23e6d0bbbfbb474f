// `distillery train teacher|student`: supervised training on the labeled split, resumable, ending with a COCO summary.
import cliProgress from 'cli-progress';
import { Argument, Command, Option } from 'commander';
import { BACKEND_NAMES, initBackend, type BackendName } from '../backend/backend.ts';
import { formatCocoPerCategory, formatCocoSummary } from '../eval/coco_summary.ts';
import { LocalStore } from '../io/local_store.ts';
import { joinKey, type ObjectStore } from '../io/object_store.ts';
import { openStore } from '../io/open_store.ts';
import { disposeLayersModel } from '../model/detector.ts';
import type { DetectorConfig } from '../model/detector_config.ts';
import { saveDetector } from '../model/store_io.ts';
import { loadTopology, TEACHER_LEARNING_RATE } from '../topology/index.ts';
import type { CompiledTopology, StudentStageOptions } from '../topology/types.ts';
import { augmentPreset, type AugmentOptions } from '../train/augment.ts';
import { trainSupervised, type SupervisedTrainResult, type TrainProgress } from '../train/supervised.ts';
import { createLogger, type Logger } from '../util/logger.ts';
import { nonNegativeInteger, positiveNumber } from './args.ts';

/** Where the command writes; tests pass buffers, the CLI the process streams. */
export interface TrainCommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

export type TrainRole = 'teacher' | 'student';

export interface TrainFlags {
  topology: string;
  labeledOnly?: boolean;
  steps?: number;
  batchSize?: number;
  lr?: number;
  warmup?: number;
  evalEvery?: number;
  checkpointEvery?: number;
  resume?: boolean;
  store?: string;
  out?: string;
  /** Annotation keys of the training splits (repeatable: trained as one split). */
  labeled?: string[];
  test?: string;
  seed?: number;
  augment?: string;
  initFrom?: string;
  backend?: BackendName;
  set?: string[];
}

/** Everything a run needs, resolved from the topology and the flags (flags win). */
export interface TrainPlan {
  role: TrainRole;
  detector: DetectorConfig;
  store: ObjectStore;
  backend: BackendName;
  /** Annotation keys of the training splits (several are trained as one) and of the held-out split. */
  labeled: string[];
  test?: string;
  /** Prefix of the final model (model.json); checkpoints go under `<out>/training`. */
  out: string;
  checkpointPrefix: string;
  steps: number;
  batchSize: number;
  learningRate: number;
  warmupSteps: number;
  clipNorm: number;
  evalEvery: number;
  evalImages: number;
  checkpointEvery: number;
  seed: number;
  /** Training-time augmentation: teacher strong (zoom + colour), labeled-only student flips. */
  augment: AugmentOptions;
  augmentName: string;
  /** Store prefix of a saved model to start from (ignored when resuming). */
  initFrom?: string;
  resume: boolean;
  /**
   * Where the steps run: the student stage's trainingThread and trainingReplicas (inline without a student stage), and
   * for the student its trainingBackend unless --backend chose one.
   */
  trainer: { thread: boolean; replicas: number; backend?: BackendName | 'auto' };
  /** Evaluation post-processing: the topology's thresholds, as the teacher stage applies them. */
  postprocess: { scoreThreshold: number; topKPerLevel: number; nmsIou: number; maxDetections: number };
}

/** The teacher's peak learning rate when --lr is absent (defined beside the students' rates). */
export { TEACHER_LEARNING_RATE };

/** Hyper-parameters when the topology has no student stage to borrow them from. */
const FALLBACK: Pick<
  StudentStageOptions,
  'steps' | 'batchSize' | 'learningRate' | 'warmupSteps' | 'clipNorm' | 'checkpointEvery' | 'evalEvery' | 'evalImages' | 'seed' | 'trainingThread' | 'trainingReplicas'
> = {
  steps: 2000,
  batchSize: 8,
  learningRate: 1e-3,
  warmupSteps: 100,
  clipNorm: 10,
  checkpointEvery: 200,
  evalEvery: 200,
  evalImages: 0,
  seed: 0,
  trainingThread: false,
  trainingReplicas: 1,
};

/** Without a TTY, one progress line per this share of the steps. */
const LOG_EVERY = 0.05;

export function trainCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const command = new Command('train')
    .description('train the teacher, or the labeled-only baseline student, on the labeled split (resumable); prints the COCO summary on the test split')
    .addArgument(new Argument('<model>', 'which detector to train').choices(['teacher', 'student']))
    .requiredOption('--topology <file>', 'topology YAML (model presets, store, splits, training settings)')
    .option('--labeled-only', 'student: train on the labeled split alone (the baseline without distillation)')
    .option('--steps <n>', 'optimizer steps [the student stage\'s steps]', nonNegativeInteger)
    .option('--batch-size <n>', 'images per step [the student stage\'s batchSize]', nonNegativeInteger)
    .option('--lr <x>', 'peak learning rate [teacher: 1e-3; student: the student stage\'s learningRate]', positiveNumber)
    .option('--warmup <n>', 'linear warm-up steps [the student stage\'s warmupSteps]', nonNegativeInteger)
    .option('--eval-every <n>', 'COCO evaluation every n steps, 0 = only at the end', nonNegativeInteger)
    .option('--checkpoint-every <n>', 'checkpoint every n steps', nonNegativeInteger)
    .option('--resume', 'continue from <out>/training/latest.json')
    .option('--store <dir>', 'local object-store directory [the topology\'s store]')
    .option('--out <prefix>', 'store prefix of the trained model [teacher: the teacher stage\'s checkpoint; student: <student checkpointPrefix>-labeled-only]')
    .option(
      '--labeled <key>',
      'COCO annotations of the training split; repeat it to train on several as one, e.g. the labeled split plus the output of `distillery pseudo-label` (crowd boxes are ignored regions) [the labeled ingest stage\'s]',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--test <key>', 'COCO annotations of the held-out split [the student stage\'s evalAnnotations]')
    .option('--seed <n>', 'seed of the initial weights, shuffling and augmentation', nonNegativeInteger)
    .option('--augment <preset>', 'augmentation: none | flip | strong (zoom + colour jitter) | shift (strong + the unlabeled domain\'s look) [teacher: strong, student: flip]')
    .option('--init-from <prefix>', 'start from the model saved under this store prefix (fine-tuning) instead of random weights')
    .addOption(new Option('--backend <name>', 'compute backend [the topology\'s]').choices(BACKEND_NAMES))
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v]);

  command.action(async (role: TrainRole, flags: TrainFlags) => {
    const topology = await loadTopology(flags.topology, { overrides: flags.set });
    const plan = planTraining(topology, role, flags);
    await initBackend(plan.backend);
    const controller = new AbortController();
    const onSignal = (): void => {
      io.stderr.write('\nstopping after the current step (checkpointing); press Ctrl-C again to abort\n');
      controller.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await runTraining(plan, io, { signal: controller.signal });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
  return command;
}

/** Resolves a run from the topology and flags; throws a one-line error for anything missing. */
export function planTraining(topology: CompiledTopology, role: TrainRole, flags: TrainFlags): TrainPlan {
  if (role === 'student' && !flags.labeledOnly) {
    throw new Error('`train student` trains the labeled-only baseline: pass --labeled-only (the distilled student is trained by the student stage of `distillery run`)');
  }
  const student = topology.stages.find((s) => s.kind === 'student');
  const teacher = topology.stages.find((s) => s.kind === 'teacher');
  const defaults = student?.kind === 'student' ? student.options : FALLBACK;
  const labeledStage = topology.stages.find((s) => s.kind === 'ingest' && s.options.split === 'labeled');
  const testStage = topology.stages.find((s) => s.kind === 'ingest' && s.options.split === 'test');
  const fromTopology = labeledStage?.kind === 'ingest' ? labeledStage.options.annotations : undefined;
  const labeled = flags.labeled !== undefined && flags.labeled.length > 0 ? flags.labeled : fromTopology !== undefined ? [fromTopology] : [];
  if (labeled.length === 0) throw new Error(`${topology.source}: no labeled split (an ingest stage with split: labeled and annotations); pass --labeled <key>`);
  const test = flags.test ?? (student?.kind === 'student' && student.options.evalAnnotations ? student.options.evalAnnotations : testStage?.kind === 'ingest' ? testStage.options.annotations : undefined);

  let out = flags.out;
  if (out === undefined) {
    if (role === 'teacher') {
      if (teacher?.kind !== 'teacher') throw new Error(`${topology.source}: no teacher stage to take the checkpoint prefix from; pass --out <prefix>`);
      out = teacher.options.checkpoint;
    } else {
      if (student?.kind !== 'student') throw new Error(`${topology.source}: no student stage to take the checkpoint prefix from; pass --out <prefix>`);
      out = `${student.options.checkpointPrefix}-labeled-only`;
    }
  }
  const augmentName = flags.augment ?? (role === 'teacher' ? 'strong' : 'flip');
  augmentPreset(augmentName); // a bad name fails here, before any work

  // The topology's store, local or S3, so a teacher trained here lands where the distributed teacher stage loads it.
  const store: ObjectStore = flags.store !== undefined ? new LocalStore({ root: flags.store }) : openStore(topology.store);

  return {
    role,
    detector: role === 'teacher' ? topology.teacher : topology.student,
    store,
    backend: flags.backend ?? topology.backend,
    labeled,
    test,
    out,
    checkpointPrefix: joinKey(out, 'training'),
    steps: flags.steps ?? (defaults.steps > 0 ? defaults.steps : FALLBACK.steps),
    batchSize: flags.batchSize ?? defaults.batchSize,
    learningRate: flags.lr ?? (role === 'teacher' ? TEACHER_LEARNING_RATE : defaults.learningRate),
    warmupSteps: flags.warmup ?? defaults.warmupSteps,
    clipNorm: defaults.clipNorm,
    evalEvery: flags.evalEvery ?? defaults.evalEvery,
    evalImages: defaults.evalImages,
    checkpointEvery: flags.checkpointEvery ?? defaults.checkpointEvery,
    seed: flags.seed ?? defaults.seed,
    augmentName,
    augment: augmentPreset(augmentName),
    initFrom: flags.initFrom,
    resume: flags.resume ?? false,
    trainer: {
      thread: defaults.trainingThread,
      replicas: defaults.trainingReplicas,
      // Resolved when training starts ('auto' depends on the backend then active).
      ...(role === 'student' && flags.backend === undefined && student?.kind === 'student' && student.options.trainingBackend !== undefined
        ? { backend: student.options.trainingBackend }
        : {}),
    },
    postprocess: {
      scoreThreshold: topology.thresholds.candidate,
      topKPerLevel: topology.thresholds.topKPerLevel,
      nmsIou: topology.thresholds.nmsIou,
      maxDetections: topology.thresholds.maxDetections,
    },
  };
}

/** Trains per the plan, reporting progress on stderr; saves the model to `<out>` and prints the summary on stdout. */
export async function runTraining(plan: TrainPlan, io: TrainCommandIo, options: { signal?: AbortSignal; logger?: Logger } = {}): Promise<SupervisedTrainResult> {
  const logger = options.logger ?? createLogger({ level: process.env.DISTILLERY_LOG_LEVEL ?? 'warn' });
  const progress = progressReporter(plan, io);
  const started = performance.now();
  let result: SupervisedTrainResult;
  try {
    result = await trainSupervised({
      store: plan.store,
      detector: plan.detector,
      labeled: plan.labeled,
      test: plan.test,
      steps: plan.steps,
      batchSize: plan.batchSize,
      learningRate: plan.learningRate,
      warmupSteps: plan.warmupSteps,
      clipNorm: plan.clipNorm,
      evalEvery: plan.evalEvery,
      evalImages: plan.evalImages,
      checkpointEvery: plan.checkpointEvery,
      checkpointPrefix: plan.checkpointPrefix,
      resume: plan.resume,
      seed: plan.seed,
      augment: plan.augment,
      initFrom: plan.initFrom,
      trainer: plan.trainer,
      postprocess: plan.postprocess,
      onProgress: progress.update,
      logger,
      signal: options.signal,
    });
  } finally {
    progress.stop();
  }
  try {
    const seconds = (performance.now() - started) / 1000;
    const trained = result.step - (result.resumedFrom ?? 0);
    const lastLoss = result.history.steps.at(-1)?.total;
    io.stdout.write(
      `${plan.role}${plan.role === 'student' ? ' (labeled only)' : ''}: step ${result.step}/${plan.steps}` +
        `${result.resumedFrom !== undefined ? `, resumed from ${result.resumedFrom}` : ''}; ${trained} steps in ${seconds.toFixed(1)} s` +
        `${trained > 0 ? ` (${((1000 * seconds) / trained).toFixed(0)} ms/step incl. evaluation)` : ''}` +
        `${lastLoss !== undefined ? `, last loss ${lastLoss.toFixed(4)}` : ''}\n`,
    );
    if (result.stopped) {
      io.stdout.write(`stopped early; checkpoint ${result.checkpoint ?? '(none)'} — rerun with --resume to continue\n`);
      return result;
    }
    // Provenance in model.json: a fine-tuned model says what it started from and how its images were augmented.
    const provenance = { augment: plan.augmentName, ...(plan.initFrom !== undefined ? { initFrom: plan.initFrom } : {}) };
    await saveDetector(result.detector, plan.store, plan.out, { trainedSteps: result.step, labeled: plan.labeled.length === 1 ? plan.labeled[0] : plan.labeled, AP: result.metrics?.AP ?? null, ...provenance });
    io.stdout.write(`model saved to ${plan.store.describe()}/${plan.out}/model.json (checkpoints under ${plan.checkpointPrefix}/)\n`);
    if (result.metrics) {
      io.stdout.write(`COCO evaluation on ${plan.test} (${result.metrics.numImages} images):\n${formatCocoSummary(result.metrics)}\n\n${formatCocoPerCategory(result.metrics)}\n`);
    } else {
      io.stdout.write('no test split configured: skipped the COCO evaluation (pass --test <annotations key>)\n');
    }
    return result;
  } catch (err) {
    disposeLayersModel(result.detector.model);
    throw err;
  }
}

function progressReporter(plan: TrainPlan, io: TrainCommandIo): { update: (e: TrainProgress) => void; stop: () => void } {
  let lastAp = '-';
  const name = `${plan.role}${plan.role === 'student' ? ' (labeled only)' : ''}`;
  if (io.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: io.stderr as NodeJS.WriteStream,
        format: `train ${name} [{bar}] {value}/{total} steps | loss {loss} | lr {lr} | AP {ap} | {duration_formatted} elapsed, eta {eta_formatted}`,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    let stopped = false;
    return {
      update: (e) => {
        if (e.kind === 'start' && !started) {
          bar.start(e.steps, e.step, { loss: '-', lr: '-', ap: lastAp });
          started = true;
        } else if (e.kind === 'step' && started) {
          bar.update(e.step, { loss: e.losses.total.toFixed(4), lr: e.lr.toExponential(2), ap: lastAp });
        } else if (e.kind === 'eval') {
          lastAp = e.metrics.AP.toFixed(3);
          if (started) bar.update({ ap: lastAp });
        }
      },
      stop: () => {
        if (started && !stopped) bar.stop();
        stopped = true;
      },
    };
  }
  const t0 = performance.now();
  let every = 1;
  return {
    update: (e) => {
      const elapsed = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
      if (e.kind === 'loaded') io.stderr.write(`train ${name}: ${e.split} split: ${e.images} images${e.skipped ? `, ${e.skipped} skipped` : ''}\n`);
      else if (e.kind === 'start') {
        every = Math.max(1, Math.round(e.steps * LOG_EVERY));
        io.stderr.write(`train ${name}: ${e.resumed ? `resuming at step ${e.step}` : 'starting'}, ${e.steps} steps\n`);
      } else if (e.kind === 'step' && (e.step % every === 0 || e.step === e.steps)) {
        const l = e.losses;
        io.stderr.write(
          `train ${name}: step ${e.step}/${e.steps} loss ${l.total.toFixed(4)} (focal ${l.focal.toFixed(4)}, loc ${l.localization.toFixed(4)}) lr ${e.lr.toExponential(2)} ${e.ms.toFixed(0)} ms/step, ${elapsed}\n`,
        );
      } else if (e.kind === 'eval') io.stderr.write(`train ${name}: eval at step ${e.step}: AP ${e.metrics.AP.toFixed(3)} AP50 ${e.metrics.AP50.toFixed(3)} (${e.metrics.numImages} images)\n`);
      else if (e.kind === 'checkpoint') io.stderr.write(`train ${name}: checkpoint ${e.dir}\n`);
    },
    stop: () => {},
  };
}


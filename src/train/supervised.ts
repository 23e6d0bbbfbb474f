// Supervised detector training on a labeled COCO split (the teacher, and the labeled-only baseline student), resumable.
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { generateAnchors } from '../boxes/anchors.ts';
import type { CocoMetrics } from '../eval/coco_eval.ts';
import { evaluateDetector } from '../eval/evaluate_detector.ts';
import type { ObjectStore } from '../io/object_store.ts';
import { buildDetector, disposeLayersModel, type Detector } from '../model/detector.ts';
import { detectorAnchorConfig, type DetectorConfig } from '../model/detector_config.ts';
import type { PostprocessOptions } from '../postprocess/detections.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { ResumableAdam } from './adam.ts';
import type { AugmentOptions } from './augment.ts';
import { sameCategories } from '../eval/coco_categories.ts';
import { assertSameArchitecture, loadInitDetector } from './init_from.ts';
import { loadCheckpoint, readLatest, restoreOptimizer, saveCheckpoint, type CheckpointState } from './checkpoint.ts';
import {
  formatPosition,
  loadCocoDataset,
  mergeDatasets,
  packedTrainingBatches,
  parsePosition,
  START_POSITION,
  type DetectionDataset,
  type SamplerPosition,
} from './dataset.ts';
import { emptyHistory, evalRecord, stepRecord, type TrainHistory } from './history.ts';
import { DEFAULT_OBJECTIVE, type ObjectiveConfig } from './objective.ts';
import { mixSeed, SeededRng } from './rng.ts';
import { learningRateAt, resolveLrSchedule, type LrDecay } from './schedule.ts';
import type { StepLosses } from './step.ts';
import { openDetectorTrainer, type DetectorTrainer } from './trainer.ts';
import type { BackendName } from '../backend/backend.ts';

export interface SupervisedTrainOptions {
  store: ObjectStore;
  /** Architecture of a fresh detector. When resuming, the checkpoint's config is used and this must agree on classes and input size. */
  detector: DetectorConfig;
  /** Start from the weights saved under this prefix instead of a random initialization (ignored when resuming). */
  initFrom?: string;
  /**
   * Labeled split: an annotation key in `store`, several trained as one (e.g. with a pseudo-labeled split from
   * `distillery pseudo-label`), or a split already loaded at the detector's input size.
   */
  labeled: string | readonly string[] | DetectionDataset;
  /** Held-out split for periodic and final COCO evaluation (optional). */
  test?: string | DetectionDataset;
  /** Total optimizer steps of the run (a resumed run continues up to this). */
  steps: number;
  batchSize: number;
  learningRate: number;
  warmupSteps: number;
  /** Default 'cosine' over `steps`. */
  decay?: LrDecay;
  /** Clip gradients by global norm (0 = off). Default 10. */
  clipNorm?: number;
  /** COCO evaluation on the test split every this many steps (0 = only at the end). */
  evalEvery?: number;
  /** Images of the test split used by the periodic evaluations (0 = all); the final one uses all. */
  evalImages?: number;
  checkpointEvery: number;
  checkpointPrefix: string;
  /** Checkpoints kept under the prefix. Default 3. */
  keepCheckpoints?: number;
  /** Continue from `<checkpointPrefix>/latest.json` when present. Without it an existing checkpoint is an error. */
  resume?: boolean;
  /** Seed of the initial weights (without initFrom or a checkpoint), the shuffling and the augmentation. */
  seed: number;
  /** Random horizontal flips. Default true. Ignored when `augment` is given. */
  flip?: boolean;
  /** Flip + zoom + colour jitter (src/train/augment.ts); replaces `flip`. */
  augment?: AugmentOptions;
  /** Loss settings; the distillation kind must be 'none' (there is no teacher here). Default DEFAULT_OBJECTIVE without distillation. */
  objective?: ObjectiveConfig;
  postprocess?: Omit<PostprocessOptions, 'imageSize'>;
  /** Parallel image fetch + decode while loading splits. */
  loadConcurrency?: number;
  onProgress?: (event: TrainProgress) => void;
  logger?: Logger;
  /** Abort to stop after the current step; a checkpoint is written and the result says `stopped`. */
  signal?: AbortSignal;
  /** Where the steps run (src/train/trainer.ts): a training thread, data-parallel replicas. Default inline. */
  trainer?: { thread: boolean; replicas?: number; backend?: BackendName | 'auto' };
}

export type TrainProgress =
  | { kind: 'loaded'; split: 'labeled' | 'test'; images: number; skipped: number }
  | { kind: 'start'; step: number; steps: number; resumed: boolean }
  | { kind: 'step'; step: number; steps: number; lr: number; losses: StepLosses; ms: number }
  | { kind: 'eval'; step: number; metrics: CocoMetrics }
  | { kind: 'checkpoint'; step: number; dir: string };

export interface SupervisedTrainResult {
  /** The trained detector; the caller disposes `detector.model`. */
  detector: Detector;
  /** Steps completed. */
  step: number;
  /** True when the signal stopped the run before `steps`. */
  stopped: boolean;
  /** Step the run resumed from (undefined for a fresh run). */
  resumedFrom?: number;
  history: TrainHistory;
  /** Final evaluation on the whole test split (absent without a test split or when stopped). */
  metrics?: CocoMetrics;
  /** Folder key of the last checkpoint written. */
  checkpoint?: string;
}

/** Offsets key of the labeled stream in checkpoints; the RNG key of the augmentation draws. */
const LABELED_OFFSET = 'labeled';
const AUGMENT_RNG = 'augment';

/**
 * Trains a detector on ground truth with FL + L_loc (Adam, warm-up + decay, gradient clipping),
 * evaluating and checkpointing on the way. Resuming from a checkpoint replays the same batches, flips
 * and learning rates, so on a deterministic backend the result equals an uninterrupted run.
 */
export async function trainSupervised(options: SupervisedTrainOptions): Promise<SupervisedTrainResult> {
  const logger = options.logger ?? silentLogger();
  const objective = options.objective ?? { ...DEFAULT_OBJECTIVE, distillation: 'none' };
  if (objective.distillation !== 'none') throw new Error(`supervised training has no teacher: distillation must be 'none', got '${objective.distillation}'`);
  checkPositiveInt('steps', options.steps, 0);
  checkPositiveInt('batchSize', options.batchSize, 1);
  checkPositiveInt('checkpointEvery', options.checkpointEvery, 0);
  const evalEvery = options.evalEvery ?? 0;
  checkPositiveInt('evalEvery', evalEvery, 0);
  const schedule = resolveLrSchedule({ baseLr: options.learningRate, warmupSteps: options.warmupSteps, totalSteps: options.steps, decay: options.decay ?? 'cosine' });
  const clipNorm = options.clipNorm ?? 10;
  const emit = options.onProgress ?? (() => {});

  const latest = await readLatest(options.store, options.checkpointPrefix);
  if (latest && !options.resume) {
    throw new Error(
      `${options.store.describe()}/${options.checkpointPrefix} already holds a checkpoint at step ${latest.step}; resume it, or train into another prefix`,
    );
  }

  let detector: Detector;
  const optimizer = new ResumableAdam({ learningRate: schedule.baseLr });
  let state: CheckpointState = { step: 0, offsets: {}, rng: {}, history: emptyHistory() };
  let resumedFrom: number | undefined;
  if (latest) {
    const ckpt = await loadCheckpoint(options.store, options.checkpointPrefix);
    if (!ckpt) throw new Error(`${options.checkpointPrefix}: latest.json points at a missing checkpoint`);
    detector = ckpt.detector;
    assertSameArchitecture(detector.config, options.detector, `${options.store.describe()}/${ckpt.dir}`);
    await restoreOptimizer(optimizer, ckpt.optimizer);
    state = ckpt.state;
    resumedFrom = state.step;
    logger.info({ step: state.step, dir: ckpt.dir }, 'resuming from checkpoint');
  } else if (options.initFrom) {
    detector = (await loadInitDetector(options.store, options.initFrom, options.detector)).detector;
  } else {
    // Seeded like the student stage's fresh build: the same seed gives the same run, initial weights included.
    detector = buildDetector(options.detector, { seed: options.seed });
  }

  let trainer: DetectorTrainer | undefined;
  try {
    const config = detector.config;
    const labeledSplits = splitList(options.labeled);
    if (labeledSplits.length === 0) throw new Error('no labeled split to train on');
    const labeled = mergeDatasets(await Promise.all(labeledSplits.map((split) => resolveSplit(options, split, 'labeled', config, logger, emit))));
    const test = options.test === undefined ? undefined : await resolveSplit(options, options.test, 'test', config, logger, emit);
    if (test && !sameCategories(labeled.categories, test.categories)) {
      throw new Error(`${labeled.annotationsKey} and ${test.annotationsKey} have different categories`);
    }

    const savedCount = state.extra?.labeledImages;
    if (resumedFrom !== undefined && savedCount !== labeled.images.length) {
      logger.warn({ before: savedCount, now: labeled.images.length }, 'the labeled split changed since the checkpoint: the batch order will differ from an uninterrupted run');
    }
    const anchors = generateAnchors(detectorAnchorConfig(config), config.inputSize, config.inputSize);
    const rng = new SeededRng(state.rng[AUGMENT_RNG] ?? mixSeed(options.seed, 1));
    const start: SamplerPosition = state.offsets[LABELED_OFFSET] ? parsePosition(state.offsets[LABELED_OFFSET]) : START_POSITION;
    const batches = packedTrainingBatches(labeled, options.batchSize, rng, {
      anchors,
      shuffleSeed: mixSeed(options.seed, 2),
      start,
      flip: options.flip ?? true,
      augment: options.augment,
    });
    let position = start;
    let step = state.step;
    const history = state.history;
    let lastCheckpoint: string | undefined;
    let checkpointedStep = resumedFrom ?? -1;
    trainer = await openDetectorTrainer(detector, optimizer, { thread: options.trainer?.thread ?? false, replicas: options.trainer?.replicas, backend: options.trainer?.backend, anchors, objective, clipNorm });
    const steps = trainer;
    // The detector and optimizer here are brought to the trainer's state before anything reads them.
    let syncedStep = step;
    const synced = async (): Promise<void> => {
      if (syncedStep === step) return;
      await steps.sync();
      syncedStep = step;
    };

    const checkpoint = async (): Promise<void> => {
      const saved: CheckpointState = {
        step,
        offsets: { [LABELED_OFFSET]: formatPosition(position) },
        rng: { [AUGMENT_RNG]: rng.state },
        history,
        extra: { labeled: labeled.annotationsKey, labeledImages: labeled.images.length, seed: options.seed },
      };
      await synced();
      lastCheckpoint = await saveCheckpoint(options.store, options.checkpointPrefix, detector, optimizer, saved, { keep: options.keepCheckpoints });
      checkpointedStep = step;
      logger.info({ step, dir: lastCheckpoint }, 'checkpoint saved');
      emit({ kind: 'checkpoint', step, dir: lastCheckpoint });
    };
    const evaluate = async (maxImages: number): Promise<CocoMetrics | undefined> => {
      if (!test) return undefined;
      await synced();
      const result = await evaluateDetector(detector, test, { maxImages, postprocess: options.postprocess, signal: options.signal });
      history.evals.push(evalRecord(step, result.metrics, result.seconds));
      logger.info({ step, AP: result.metrics.AP, AP50: result.metrics.AP50, images: result.numImages }, 'evaluation');
      emit({ kind: 'eval', step, metrics: result.metrics });
      return result.metrics;
    };

    emit({ kind: 'start', step, steps: options.steps, resumed: resumedFrom !== undefined });
    let stopped = false;
    while (step < options.steps) {
      if (options.signal?.aborted) {
        stopped = true;
        break;
      }
      const t0 = performance.now();
      const lr = learningRateAt(schedule, step);
      const batch = batches.next().value;
      const losses = await steps.step(batch.packed, lr);
      position = batch.position;
      step++;
      const ms = performance.now() - t0;
      history.steps.push(stepRecord(step, lr, losses, ms));
      logger.debug({ step, lr, ...losses, ms }, 'step');
      emit({ kind: 'step', step, steps: options.steps, lr, losses, ms });
      if (evalEvery > 0 && step % evalEvery === 0 && step < options.steps) await evaluate(options.evalImages ?? 0);
      if (options.checkpointEvery > 0 && step % options.checkpointEvery === 0) await checkpoint();
      // A step on tfjs-node resolves without a turn of the event loop, so SIGINT/SIGTERM (and timers) would never
      // get to abort the run: let I/O in between steps.
      await yieldToIo();
    }
    if (step !== checkpointedStep) await checkpoint();
    const metrics = stopped ? undefined : await evaluate(0);
    await synced();
    return { detector, step, stopped, resumedFrom, history, metrics, checkpoint: lastCheckpoint };
  } catch (err) {
    disposeLayersModel(detector.model);
    throw err;
  } finally {
    await trainer?.close();
    optimizer.dispose();
  }
}

function splitList(labeled: SupervisedTrainOptions['labeled']): Array<string | DetectionDataset> {
  return typeof labeled === 'string' ? [labeled] : 'images' in labeled ? [labeled] : [...labeled];
}

async function resolveSplit(
  options: SupervisedTrainOptions,
  split: string | DetectionDataset,
  name: 'labeled' | 'test',
  config: DetectorConfig,
  logger: Logger,
  emit: (event: TrainProgress) => void,
): Promise<DetectionDataset> {
  const dataset =
    typeof split === 'string'
      ? await loadCocoDataset(options.store, split, { inputSize: config.inputSize, concurrency: options.loadConcurrency, logger, signal: options.signal })
      : split;
  if (dataset.inputSize !== config.inputSize) throw new Error(`${name} split is letterboxed to ${dataset.inputSize} px but the detector takes ${config.inputSize} px`);
  if (dataset.categories.numClasses !== config.numClasses) {
    throw new Error(`${dataset.annotationsKey} has ${dataset.categories.numClasses} categories but the detector has ${config.numClasses} classes`);
  }
  logger.info({ split: name, annotations: dataset.annotationsKey, images: dataset.images.length, skipped: dataset.skipped.length }, 'split loaded');
  emit({ kind: 'loaded', split: name, images: dataset.images.length, skipped: dataset.skipped.length });
  return dataset;
}

function checkPositiveInt(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
}

// The student stage runner: Samples → replay buffer → FL + λ·ADL + L_loc steps → checkpoints (+ offsets) and rolling eval.
import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import { anchorConfigsEqual } from '../../boxes/anchor_config.ts';
import { anchorFlipOrder } from '../../boxes/anchor_flip.ts';
import { generateAnchors, type AnchorSet } from '../../boxes/anchors.ts';
import { evaluateDetector } from '../../eval/evaluate_detector.ts';
import { buildDetector, disposeLayersModel, type Detector } from '../../model/detector.ts';
import { detectorAnchorConfig, totalAnchors } from '../../model/detector_config.ts';
import { consumerGroupOf } from '../../topology/consumer_group.ts';
import type { StageConfig, StudentStageOptions } from '../../topology/types.ts';
import { ResumableAdam } from '../../train/adam.ts';
import { loadCheckpoint, readLatest, restoreOptimizer, saveCheckpoint, type CheckpointState } from '../../train/checkpoint.ts';
import { loadCocoDataset, type DetectionDataset } from '../../train/dataset.ts';
import { assertSameArchitecture, loadInitDetector } from '../../train/init_from.ts';
import { emptyHistory, evalRecord, stepRecord, type EvalRecord, type StepRecord, type TrainHistory } from '../../train/history.ts';
import { mixSeed, SeededRng } from '../../train/rng.ts';
import { learningRateAt, type LrSchedule } from '../../train/schedule.ts';
import { NotAssignedError, type Consumer, type Producer } from '../../transport/transport.ts';
import type { RunningStage, StageContext, StageCounters } from '../stage.ts';
import type { StudentLayout } from './admit_sample.ts';
import { offsetsRecord, parseOffsetKey, rewindGroup, seekGroup } from './offsets.ts';
import { packBatch } from './sample_batch.ts';
import { SampleBuffer } from './sample_buffer.ts';
import { SampleIntake } from './sample_intake.ts';
import { BestPromoter } from './promote_best.ts';
import type { SampleSource } from './sample_buffer.ts';
import { TrainedLedger } from './trained_ledger.ts';
import { openDetectorTrainer, type DetectorTrainer } from '../../train/trainer.ts';
import { studentSchedule } from './student_schedule.ts';

export type StudentStageConfig = Extract<StageConfig, { kind: 'student' }>;

/** Counters present from the start; `loss.*`, `lr`, `AP`, `AP50` appear with the first step / evaluation. */
export const STUDENT_COUNTERS = [
  'consumed',
  'labeled',
  'unlabeled',
  'ignored',
  'dlq',
  'dropped',
  'steps',
  'bufferLabeled',
  'bufferUnlabeled',
  'bufferFresh',
  'checkpoints',
  'evals',
  'trained',
  'samplesTrained',
  'stepsPerSecond',
  'waitSeconds',
  'unlabeledShortfall',
  'starvedSteps',
] as const;

/** The consumer may run this many batches of fresh samples ahead of training (bounded by bufferSize). */
export const FRESH_BATCHES = 4;
/** Messages per transport batch. */
const FETCH_BATCH = 32;
/** In continuous mode (steps = 0) the history keeps this many latest step records (evaluations are all kept). */
export const CONTINUOUS_HISTORY_STEPS = 10_000;
/**
 * Training inline (trainingThread false) on a shared event loop, the student pauses this share of each step's time
 * after it (capped by SHARED_LOOP_MAX_MS). An inline training step blocks the loop for its whole length (tfjs-node runs kernels synchronously), and every await of a
 * co-located stage (a fetch, a decode, an inference result) needs a turn of the loop: with one turn per step the
 * teacher moved a hop per step and labelled ~3 images per step (bench/embedded_cores.ts).
 */
export const SHARED_LOOP_SHARE = 0.25;
const SHARED_LOOP_MAX_MS = 100;
/** RNG key of the batch draws in checkpoints. */
const DRAW_RNG = 'draw';
/** Checkpoint `extra` field: samples trained on below the checkpoint's offsets, over all runs (see TrainedLedger). */
const SAMPLES_TRAINED = 'samplesTrained';
/** RNG key of the augmentation draws (its own stream, so turning flips on or off leaves the batch draws alone). */
const AUGMENT_RNG = 'augment';
/** Checkpoint `extra` field: store key of the model the first step started from (absent: random weights). */
const INIT_FROM = 'initFrom';

export interface StudentCheckpointInfo {
  step: number;
  dir: string;
  /** Offsets stored in the checkpoint and committed for the group. */
  offsets: Record<string, string>;
}

export interface StudentStageHooks {
  onStep?: (record: StepRecord) => void;
  onEval?: (record: EvalRecord) => void;
  onCheckpoint?: (info: StudentCheckpointInfo) => void;
  /** After each step: the samples it drew for the first time (ids and where they came from). */
  onTrained?: (samples: Array<{ id: string; source: SampleSource }>, step: number) => void;
  /** After a checkpoint was loaded, before consuming (the detector stays the stage's: do not keep or dispose it). */
  onRestored?: (info: { step: number; offsets: Record<string, string>; detector: Detector }) => void;
  /** After a fresh run loaded its start from `initFrom`, before consuming (the detector stays the stage's). */
  onInitialized?: (info: { initFrom: string; detector: Detector }) => void;
  /** Fresh samples the consumer may hold ahead of training. Default min(bufferSize, FRESH_BATCHES × batchSize). */
  maxFresh?: number;
}

/** A running student: its live loss/eval history (also saved in every checkpoint) besides the usual counters. */
export interface StudentRunningStage extends RunningStage {
  readonly history: Readonly<TrainHistory>;
}

export function checkStudentOptions(o: StudentStageOptions): void {
  const int = (name: keyof StudentStageOptions, min: number): void => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`student: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  };
  int('steps', 0);
  int('batchSize', 1);
  int('checkpointEvery', 1);
  int('evalEvery', 0);
  int('evalImages', 0);
  int('warmupSteps', 0);
  if (o.initWarmupSteps !== undefined) int('initWarmupSteps', 0);
  int('bufferSize', 1);
  int('trainingReplicas', 1);
  if (o.trainingReplicas > 1 && !o.trainingThread) throw new Error('student: trainingReplicas > 1 needs trainingThread: true');
  if (o.trainingBackend !== undefined && o.trainingBackend !== 'auto' && !o.trainingThread) throw new Error('student: trainingBackend needs trainingThread: true');
  if (o.bufferSize < o.batchSize) throw new Error(`student: bufferSize (${o.bufferSize}) must hold at least one batch (${o.batchSize})`);
  if (!(o.labeledFraction >= 0 && o.labeledFraction <= 1)) throw new Error(`student: labeledFraction must be in [0, 1], got ${o.labeledFraction}`);
  if (!(o.learningRate > 0)) throw new Error(`student: learningRate must be > 0, got ${o.learningRate}`);
  if (o.initLearningRate !== undefined && !(o.initLearningRate > 0)) throw new Error(`student: initLearningRate must be > 0, got ${o.initLearningRate}`);
  if (!(o.clipNorm >= 0)) throw new Error(`student: clipNorm must be ≥ 0, got ${o.clipNorm}`);
  if (o.checkpointPrefix.length === 0) throw new Error('student: checkpointPrefix is required');
  if (o.evalEvery > 0 && o.evalAnnotations.length === 0) throw new Error('student: evalAnnotations is required when evalEvery > 0');
}

/**
 * Starts the student stage: a consumer group named after the stage reads Samples from the beginning into a replay
 * buffer while a training loop steps the student on mixed labeled:unlabeled batches. Every `checkpointEvery` steps
 * and at the end it saves weights + optimizer + step + RNG + offsets, then commits those offsets — held back to the
 * oldest sample not yet trained on, so a crash redelivers every sample the saved weights have not seen. On start it
 * resumes from the latest checkpoint under `checkpointPrefix` and seeks the group to its offsets. `done` resolves
 * after `steps` steps (final eval + checkpoint) or, in continuous mode (steps = 0), after `stop()`/`ctx.signal`.
 */
export function runStudentStage(ctx: StageContext<StudentStageConfig>, hooks: StudentStageHooks = {}): StudentRunningStage {
  const counters: StageCounters = Object.fromEntries(STUDENT_COUNTERS.map((c) => [c, 0]));
  const history = emptyHistory();
  const stopping = new AbortController();
  const onAbort = (): void => stopping.abort();
  if (ctx.signal.aborted) stopping.abort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });
  const done = distill(ctx, counters, history, stopping.signal, hooks).finally(() => ctx.signal.removeEventListener('abort', onAbort));
  return {
    name: ctx.stage.name,
    counters,
    history,
    done,
    async stop() {
      stopping.abort();
      await done.then(
        () => undefined,
        () => undefined,
      );
    },
  };
}

interface Restored {
  detector: Detector;
  optimizer: ResumableAdam;
  state: CheckpointState;
  resumed: boolean;
  /** Store key of the model the run's weights started from, kept across resumes (undefined: random weights). */
  initFrom: string | undefined;
}

async function distill(ctx: StageContext<StudentStageConfig>, counters: StageCounters, history: TrainHistory, stop: AbortSignal, hooks: StudentStageHooks): Promise<StageCounters> {
  const { stage, topology, transport, logger } = ctx;
  const o = stage.options;
  checkStudentOptions(o);
  const input = topology.topics[stage.input].name;
  const dlq = topology.topics.dlq;
  await transport.createTopics([topology.topics[stage.input], dlq].map((t) => ({ topic: t.name, partitions: t.partitions })));
  const restored = await restoreOrInit(ctx);
  const { detector, optimizer, state } = restored;
  try {
    history.steps.push(...state.history.steps);
    history.evals.push(...state.history.evals);
    counters.steps = state.step;
    if (restored.resumed) {
      logger.info({ step: state.step, offsets: state.offsets, prefix: o.checkpointPrefix }, 'resuming from checkpoint');
      hooks.onRestored?.({ step: state.step, offsets: { ...state.offsets }, detector });
    } else if (restored.initFrom !== undefined) {
      hooks.onInitialized?.({ initFrom: restored.initFrom, detector });
    }
    if (o.steps > 0 && state.step >= o.steps) {
      logger.info({ step: state.step, steps: o.steps }, 'the checkpoint already has every step; nothing to do');
      return counters;
    }
    const test = await loadTestSet(ctx, detector);
    let initialOffsets: Record<string, string> = {};
    if (restored.resumed) {
      const seeked = await seekGroup(transport, consumerGroupOf(topology, stage.name), input, state.offsets, logger);
      initialOffsets = offsetsRecord(input, seeked);
      if (seeked.length > 0) logger.info({ topic: input, offsets: seeked }, 'group seeked to the checkpoint offsets');
    } else {
      await rewindGroup(transport, consumerGroupOf(topology, stage.name), input, logger);
    }
    const config = detector.config;
    const anchors = generateAnchors(detectorAnchorConfig(config), config.inputSize, config.inputSize);
    const trainer = await openDetectorTrainer(detector, optimizer, { thread: o.trainingThread, replicas: o.trainingReplicas, backend: o.trainingBackend, anchors, objective: topology.loss, clipNorm: o.clipNorm });
    if (trainer.threaded) logger.info({ trainingThreads: o.trainingReplicas, backend: trainer.workerBackend, backendThreadsEach: trainer.workerThreads }, 'training threads started');
    try {
      const run = new StudentRun(ctx, counters, history, hooks, { detector, optimizer, trainer, anchors, state, test, initialOffsets, initFrom: restored.initFrom });
      await run.run(stop);
    } finally {
      await trainer.close();
    }
    logger.info({ ...counters }, 'student stopped');
    return counters;
  } finally {
    optimizer.dispose();
    disposeLayersModel(detector.model);
  }
}

async function restoreOrInit(ctx: StageContext<StudentStageConfig>): Promise<Restored> {
  const { store, topology, stage } = ctx;
  const o = stage.options;
  const optimizer = new ResumableAdam({ learningRate: o.learningRate });
  const fresh: CheckpointState = { step: 0, offsets: {}, rng: {}, history: emptyHistory() };
  let detector: Detector | undefined;
  try {
    // A checkpoint of this student wins over initFrom: a restarted continuous run goes on, it does not start over.
    if ((await readLatest(store, o.checkpointPrefix)) === undefined) {
      if (o.initFrom === undefined) return { detector: buildDetector(topology.student, { seed: o.seed }), optimizer, state: fresh, resumed: false, initFrom: undefined };
      const init = await loadInitDetector(store, o.initFrom, topology.student);
      ctx.logger.info({ initFrom: init.dir }, 'student starts from a saved model');
      return { detector: init.detector, optimizer, state: fresh, resumed: false, initFrom: init.dir };
    }
    const ckpt = await loadCheckpoint(store, o.checkpointPrefix);
    if (ckpt === undefined) throw new Error(`${o.checkpointPrefix}: latest.json points at a missing checkpoint`);
    detector = ckpt.detector;
    const saved = detector.config;
    const wanted = topology.student;
    assertSameArchitecture(saved, wanted, `checkpoint ${ckpt.dir} (use another checkpointPrefix for another student)`);
    if (!anchorConfigsEqual(detectorAnchorConfig(saved), topology.anchors)) {
      throw new Error(`checkpoint ${ckpt.dir}: the saved student's anchors are not the topology's; use another checkpointPrefix`);
    }
    await restoreOptimizer(optimizer, ckpt.optimizer);
    const initFrom = ckpt.state.extra?.[INIT_FROM];
    return { detector, optimizer, state: ckpt.state, resumed: true, initFrom: typeof initFrom === 'string' ? initFrom : undefined };
  } catch (err) {
    optimizer.dispose();
    if (detector !== undefined) disposeLayersModel(detector.model);
    throw err;
  }
}

/** The held-out split, loaded once at the student's input size (only `evalImages` of it), or undefined without eval. */
async function loadTestSet(ctx: StageContext<StudentStageConfig>, detector: Detector): Promise<DetectionDataset | undefined> {
  const o = ctx.stage.options;
  if (o.evalAnnotations.length === 0) return undefined;
  const config = detector.config;
  // No abort signal: a stop during start-up lets this bounded load finish and then ends the run cleanly.
  const test = await loadCocoDataset(ctx.store, o.evalAnnotations, { inputSize: config.inputSize, limit: o.evalImages, logger: ctx.logger });
  if (test.categories.numClasses !== config.numClasses) {
    throw new Error(`${o.evalAnnotations} has ${test.categories.numClasses} categories but the student has ${config.numClasses} classes`);
  }
  if (test.images.length === 0) throw new Error(`${o.evalAnnotations}: no usable test images`);
  ctx.logger.info({ annotations: o.evalAnnotations, images: test.images.length, skipped: test.skipped.length }, 'test split loaded');
  return test;
}

interface RunState {
  detector: Detector;
  optimizer: ResumableAdam;
  /** Runs the steps; the detector and optimizer above are brought to its state before evaluations and checkpoints. */
  trainer: DetectorTrainer;
  anchors: AnchorSet;
  state: CheckpointState;
  test: DetectionDataset | undefined;
  /** Offsets the group was seeked to (what is committed when the run starts). */
  initialOffsets: Record<string, string>;
  initFrom: string | undefined;
}

/** One run of the stage between restore and shutdown: the consumer, the training loop and their bookkeeping. */
class StudentRun {
  private readonly o: StudentStageOptions;
  private readonly input: string;
  private readonly detector: Detector;
  private readonly optimizer: ResumableAdam;
  private readonly trainer: DetectorTrainer;
  /** The step the stage's detector and optimizer were last brought to (see DetectorTrainer.sync). */
  private syncedStep: number;
  private readonly test: DetectionDataset | undefined;
  private readonly best: BestPromoter;
  private readonly buffer: SampleBuffer;
  private readonly intake: SampleIntake;
  private readonly producer: Producer;
  private readonly consumer: Consumer;
  private readonly anchors: AnchorSet;
  private readonly schedule: LrSchedule;
  private readonly rng: SeededRng;
  private readonly augmentRng: SeededRng;
  /** Mirror order of the anchors, when samples are flipped. */
  private readonly flipOrder: Int32Array | undefined;
  private readonly halt = new AbortController();
  private halted: Promise<void> | undefined;
  private readonly startedAt = performance.now();
  private readonly startStep: number;
  private step: number;
  private checkpointedStep: number;
  private lastEvalStep: number;
  private readonly committed: Record<string, string>;
  private readonly ledger: TrainedLedger;
  private readonly initFrom: string | undefined;
  private failure: { error: unknown } | undefined;
  /** The periodic evaluation running beside training (with a training thread), until settled. */
  private evaluating: Promise<void> | undefined;

  constructor(
    private readonly ctx: StageContext<StudentStageConfig>,
    private readonly counters: StageCounters,
    private readonly history: TrainHistory,
    private readonly hooks: StudentStageHooks,
    run: RunState,
  ) {
    const { stage, topology, transport } = ctx;
    const o = stage.options;
    this.o = o;
    this.input = topology.topics[stage.input].name;
    this.detector = run.detector;
    this.optimizer = run.optimizer;
    this.trainer = run.trainer;
    this.test = run.test;
    const { store, logger } = ctx;
    this.best = new BestPromoter({ store, logger, checkpointPrefix: o.checkpointPrefix, thresholds: topology.thresholds, loss: topology.loss, evalAnnotations: o.evalAnnotations, categories: run.test?.categories });
    const config = run.detector.config;
    this.buffer = new SampleBuffer({
      capacity: o.bufferSize,
      labeledFraction: o.labeledFraction,
      labeledOnly: o.labeledOnly,
      maxFresh: hooks.maxFresh ?? Math.min(o.bufferSize, FRESH_BATCHES * o.batchSize),
    });
    this.producer = transport.producer({ clientId: stage.name });
    this.consumer = transport.consumer({ groupId: consumerGroupOf(topology, stage.name), clientId: stage.name });
    const layout: StudentLayout = { anchors: topology.anchors, inputSize: config.inputSize, numAnchors: totalAnchors(config), numClasses: config.numClasses };
    this.intake = new SampleIntake({
      stageName: stage.name,
      buffer: this.buffer,
      layout,
      dlqTopic: topology.topics.dlq.name,
      send: (topic, messages) => this.producer.send(topic, messages),
      counters,
      logger: ctx.logger,
      initialOffsets: run.initialOffsets,
      onProgress: () => ctx.onProgress?.(counters),
      metrics: ctx.metrics,
    });
    this.committed = { ...run.initialOffsets };
    this.initFrom = run.initFrom;
    this.anchors = run.anchors;
    this.schedule = studentSchedule(o, run.initFrom !== undefined);
    this.rng = new SeededRng(run.state.rng[DRAW_RNG] ?? mixSeed(o.seed, 3));
    this.augmentRng = new SeededRng(run.state.rng[AUGMENT_RNG] ?? mixSeed(o.seed, 4));
    this.flipOrder = o.augment === 'flip' ? anchorFlipOrder(this.anchors) : undefined;
    if (o.augment === 'flip' && this.flipOrder === undefined) {
      throw new Error(`student: augment 'flip' needs a mirror-symmetric anchor layout (input ${config.inputSize} px a multiple of every level's stride)`);
    }
    this.step = run.state.step;
    this.syncedStep = run.state.step;
    this.startStep = run.state.step;
    this.checkpointedStep = run.state.step;
    this.lastEvalStep = run.state.history.evals.at(-1)?.step ?? -1;
    const saved = run.state.extra?.[SAMPLES_TRAINED];
    this.ledger = new TrainedLedger(typeof saved === 'number' ? saved : 0);
    counters.samplesTrained = this.ledger.covered;
  }

  async run(stop: AbortSignal): Promise<void> {
    const onStop = (): void => this.halt.abort();
    if (stop.aborted) this.halt.abort();
    else stop.addEventListener('abort', onStop, { once: true });
    let running: Promise<void> | undefined;
    try {
      await this.producer.connect();
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [this.input], fromBeginning: true });
      this.ctx.logger.info(
        { step: this.step, steps: this.o.steps, batchSize: this.o.batchSize, labeledShare: this.buffer.labeledShare, bufferSize: this.o.bufferSize, input: this.input },
        'student training',
      );
      running = this.consumer
        .run({ eachBatch: this.intake.eachBatch, maxBatchSize: FETCH_BATCH, maxInFlightBatches: 1, eachBatchAutoResolve: false })
        .then(
          // The consumer only returns on its own when the transport closed under it.
          () => this.halt.abort(),
          (error: unknown) => {
            this.failure ??= { error };
            this.halt.abort();
          },
        );
      try {
        await this.trainLoop();
      } catch (error) {
        this.failure ??= { error };
      }
      // Shutdown: stop fetching → cut the batch in flight short → (eval → checkpoint → commit) → leave the group.
      this.consumer.pause([{ topic: this.input }]);
      await this.intake.close();
      this.intake.updateBufferCounters();
      await this.settleEvaluation();
      if (this.failure !== undefined) throw this.failure.error;
      const reached = this.o.steps > 0 && this.step >= this.o.steps;
      if ((reached || this.o.steps === 0) && this.step > this.startStep && this.lastEvalStep !== this.step) await this.evaluate(false);
      const positions = this.intake.positions();
      const moved = !sameOffsets(positions, this.committed) && !(this.step === this.startStep && this.intake.offsets.unchangedSinceStart(positions));
      if (this.step !== this.checkpointedStep || moved) await this.checkpoint();
    } finally {
      stop.removeEventListener('abort', onStop);
      await this.consumer.disconnect();
      await running;
      await this.producer.disconnect();
    }
  }

  private async trainLoop(): Promise<void> {
    const o = this.o;
    const objective = this.ctx.topology.loss;
    const config = this.detector.config;
    while (o.steps === 0 || this.step < o.steps) {
      const waiting = performance.now();
      const size = await this.waitForBatch();
      if (size === 0) return;
      const t0 = performance.now();
      // Time with less than a batch buffered: the student idle for want of samples.
      this.counters.waitSeconds += (t0 - waiting) / 1000;
      const lr = learningRateAt(this.schedule, this.step);
      const samples = this.buffer.draw(size, this.rng);
      const first = samples.filter((s) => s.uses === 1);
      this.ledger.firstUses(first.map((s) => s.source));
      this.counters.trained += first.length;
      // Starved: fewer fresh unlabeled samples (new teacher output) than the batch's unlabeled slots, which were then
      // filled by replays or by labeled samples.
      const slots = o.labeledOnly ? 0 : Math.floor(size * (1 - o.labeledFraction));
      const shortfall = Math.max(0, slots - first.filter((s) => s.pool === 'unlabeled').length);
      const flips = this.flipOrder === undefined ? undefined : samples.map(() => this.augmentRng.next() < 0.5);
      const batch = packBatch(samples, {
        anchors: this.anchors,
        numClasses: config.numClasses,
        inputSize: config.inputSize,
        teacherProbs: objective.distillation !== 'none',
        flip: flips && { flips, anchorOrder: this.flipOrder },
      });
      const { labeled, unlabeled } = batch;
      const losses = await this.trainer.step(batch, lr);
      this.step += 1;
      const record = stepRecord(this.step, lr, losses, performance.now() - t0);
      this.history.steps.push(record);
      if (o.steps === 0 && this.history.steps.length > CONTINUOUS_HISTORY_STEPS) this.history.steps.splice(0, this.history.steps.length - CONTINUOUS_HISTORY_STEPS);
      // Counted with the step, once it is done: a snapshot of the counters never has more starved steps than steps.
      this.counters.unlabeledShortfall += shortfall;
      if (shortfall > 0) this.counters.starvedSteps += 1;
      this.countStep(record, labeled, unlabeled);
      this.ctx.metrics?.studentStep(record, samples.length);
      this.hooks.onStep?.(record);
      this.hooks.onTrained?.(
        first.map((s) => ({ id: s.id, source: s.source })),
        this.step,
      );
      this.ctx.onProgress?.(this.counters);
      // The last step's evaluation and checkpoint happen at shutdown, once consumption has stopped. The checkpoint
      // comes first: with a training thread the evaluation then runs beside the next steps, and a checkpoint would
      // have to wait for it (it syncs the weights the evaluation reads).
      const last = o.steps > 0 && this.step >= o.steps;
      if (!last && this.step % o.checkpointEvery === 0) await this.checkpoint();
      if (!last && o.evalEvery > 0 && this.step % o.evalEvery === 0) await this.evaluate(this.trainer.threaded);
      // Let sharp's decode callbacks and the consumer run between steps (inline, a step blocks the event loop).
      if (!this.trainer.threaded && this.ctx.sharedEventLoop?.()) await sleep(Math.min(SHARED_LOOP_MAX_MS, Math.ceil(record.ms * SHARED_LOOP_SHARE)));
      else await yieldToIo();
    }
  }

  /**
   * Waits until the buffer holds a batch, or holds some samples and none arrived for maxBatchWaitMs (then the batch
   * is what it holds). Returns the batch size to draw; 0 when halted first.
   */
  private async waitForBatch(): Promise<number> {
    // One promise for the whole run: a listener per step would pile up on the signal (MaxListenersExceeded).
    this.halted ??= new Promise<void>((resolve) => {
      if (this.halt.signal.aborted) resolve();
      else this.halt.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    const halted = this.halted;
    const { batchSize, maxBatchWaitMs } = this.o;
    while (!this.halt.signal.aborted && this.buffer.size < batchSize) {
      if (this.buffer.size === 0) {
        await Promise.race([this.buffer.changed(), halted]);
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<'idle'>((resolve) => (timer = setTimeout(() => resolve('idle'), maxBatchWaitMs)));
      const woke = await Promise.race([this.buffer.changed(), halted, idle]);
      clearTimeout(timer);
      if (woke === 'idle') break;
    }
    return this.halt.signal.aborted ? 0 : Math.min(batchSize, this.buffer.size);
  }

  private countStep(record: StepRecord, labeled: number, unlabeled: number): void {
    const c = this.counters;
    c.steps = this.step;
    c.lr = record.lr;
    c.loss = record.total;
    c['loss.focal'] = record.focal;
    c['loss.distillation'] = record.distillation;
    c['loss.localization'] = record.localization;
    c['batch.labeled'] = labeled;
    c['batch.unlabeled'] = unlabeled;
    const seconds = (performance.now() - this.startedAt) / 1000;
    c.stepsPerSecond = seconds > 0 ? Math.round(((this.step - this.startStep) / seconds) * 100) / 100 : 0;
    const busy = this.trainer.threadBusy();
    if (busy !== undefined) c.trainingThreadBusy = Math.round(busy * 1000) / 1000;
    const inWorker = this.trainer.workerTensors();
    if (inWorker !== undefined) c.trainingThreadTensors = inWorker;
    this.intake.updateBufferCounters();
  }

  /** Brings the stage's detector and optimizer to the trained state (once per step). */
  private async syncTrained(): Promise<void> {
    if (this.syncedStep === this.step) return;
    // The evaluation in flight reads the stage's detector: the sync waits for it.
    await this.settleEvaluation();
    await this.trainer.sync();
    this.syncedStep = this.step;
  }

  /**
   * Evaluates the weights of this step on the test split, then offers them to best/. With `beside`, it runs beside
   * the next training steps (their thread keeps stepping while this thread evaluates); a failure then ends the run.
   */
  private async evaluate(beside: boolean): Promise<void> {
    if (this.test === undefined) return;
    await this.syncTrained();
    const at = { step: this.step, offsets: this.intake.positions(), teachers: this.intake.teacherModels };
    this.lastEvalStep = at.step;
    const running = this.evaluateAt(this.test, at);
    if (!beside) return running;
    this.evaluating = running.catch((error: unknown) => {
      this.failure ??= { error };
      this.halt.abort();
    });
  }

  /** Waits for the evaluation running beside training, if any. */
  private async settleEvaluation(): Promise<void> {
    const running = this.evaluating;
    this.evaluating = undefined;
    await running;
  }

  private async evaluateAt(test: DetectionDataset, at: { step: number; offsets: Record<string, string>; teachers: SampleIntake['teacherModels'] }): Promise<void> {
    const t = this.ctx.topology.thresholds;
    const result = await evaluateDetector(this.detector, test, {
      postprocess: { scoreThreshold: t.candidate, topKPerLevel: t.topKPerLevel, nmsIou: t.nmsIou, maxDetections: t.maxDetections },
    });
    const record = evalRecord(at.step, result.metrics, result.seconds);
    this.history.evals.push(record);
    this.counters.evals += 1;
    this.counters.AP = record.AP;
    this.counters.AP50 = record.AP50;
    this.ctx.metrics?.studentEvaluation(record);
    this.ctx.logger.info({ step: at.step, AP: record.AP, AP50: record.AP50, images: result.numImages, seconds: record.seconds }, 'evaluation');
    await this.best.consider(record, this.detector, { offsets: at.offsets, teachers: at.teachers, initFrom: this.initFrom });
    this.hooks.onEval?.(record);
    this.ctx.onProgress?.(this.counters);
  }

  /** Saves weights, optimizer, step, RNG, history and offsets, then commits those offsets. */
  private async checkpoint(): Promise<void> {
    const { store, stage, logger } = this.ctx;
    // Snapshot first: consumption goes on while the checkpoint is written.
    const offsets = this.intake.positions();
    const state: CheckpointState = {
      step: this.step,
      offsets,
      rng: { [DRAW_RNG]: this.rng.state, [AUGMENT_RNG]: this.augmentRng.state },
      history: this.history,
      extra: {
        stage: stage.name,
        input: this.input,
        seed: this.o.seed,
        teachers: this.intake.teachers,
        teacherModels: this.intake.teacherModels,
        thresholds: this.ctx.topology.thresholds,
        loss: this.ctx.topology.loss,
        ...(this.initFrom === undefined ? {} : { [INIT_FROM]: this.initFrom }),
      },
    };
    const ledger = this.ledger.checkpointed(offsets);
    state.extra = { ...state.extra, [SAMPLES_TRAINED]: ledger };
    await this.syncTrained();
    const dir = await saveCheckpoint(store, this.o.checkpointPrefix, this.detector, this.optimizer, state);
    this.counters.samplesTrained = ledger;
    this.checkpointedStep = this.step;
    for (const [key, offset] of Object.entries(offsets)) {
      if (this.committed[key] === offset) continue;
      const tp = parseOffsetKey(key);
      if (tp === undefined) continue;
      try {
        await this.consumer.commit(tp.topic, tp.partition, offset);
        this.committed[key] = offset;
      } catch (err) {
        // The checkpoint holds the offsets and a resumed run seeks to them, so a lost commit costs only a warning.
        if (!(err instanceof NotAssignedError)) throw err;
        logger.warn({ err, key, offset }, 'could not commit (partition moved to another member)');
      }
    }
    this.counters.checkpoints += 1;
    logger.info({ step: this.step, dir, offsets, loss: this.history.steps.at(-1)?.total }, 'checkpoint saved');
    this.hooks.onCheckpoint?.({ step: this.step, dir, offsets });
    this.ctx.onProgress?.(this.counters);
  }
}

function sameOffsets(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

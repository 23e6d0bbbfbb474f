// Every distillery_ metric of one process in one prom-client registry; stages get a StageMetrics bound to their name.
import * as tf from '@tensorflow/tfjs';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../util/logger.ts';
import { LagGauge, type LagSource } from './lag.ts';
import { StageMetrics } from './stage_metrics.ts';

/** Every metric name starts with this (prom-client's default process metrics included). */
export const METRIC_PREFIX = 'distillery_';

/** The teacher's steps, each a `step` label value of distillery_teacher_step_seconds (docs/observability.md). */
export const TEACHER_STEPS = ['fetch', 'decode', 'letterbox', 'infer', 'nms', 'encode', 'produce'] as const;
export type TeacherStep = (typeof TEACHER_STEPS)[number];

/** `term` label values of distillery_student_loss: FL, the distillation term (ADL by default), L_loc, and their sum. */
export const LOSS_TERMS = ['focal', 'distillation', 'localization', 'total'] as const;
export type LossTerm = (typeof LOSS_TERMS)[number];

// From a millisecond (a small object fetch, a header probe) to half a minute (a large teacher batch on a CPU).
const STEP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface PipelineMetricsOptions {
  /** The `stage` label of process-wide metrics: the `run` argument (`all`, or the stage this process runs). */
  process: string;
  /** prom-client's process and Node.js metrics (RSS, CPU, event-loop lag, GC …); default true. */
  defaultMetrics?: boolean;
  logger?: Logger;
}

/** The instruments, shared by every stage of the process; StageMetrics binds the `stage` label. */
export interface Instruments {
  imagesProduced: Counter<'stage'>;
  imagesConsumed: Counter<'stage'>;
  samples: Counter<'stage'>;
  rejected: Counter<'stage' | 'reason'>;
  dlq: Counter<'stage' | 'reason'>;
  samplesConsumed: Counter<'stage'>;
  teacherStep: Histogram<'stage' | 'step'>;
  studentLoss: Gauge<'stage' | 'term'>;
  studentLearningRate: Gauge<'stage'>;
  studentSamplesPerSecond: Gauge<'stage'>;
  studentSteps: Counter<'stage'>;
  studentStep: Gauge<'stage'>;
  studentAp: Gauge<'stage'>;
  studentAp50: Gauge<'stage'>;
}

/** One registry per process (never prom-client's global one, so tests and embedded runs do not mix). */
export class PipelineMetrics {
  readonly registry = new Registry();
  private readonly instruments: Instruments;
  private readonly lag: LagGauge;
  private readonly stages = new Map<string, StageMetrics>();

  constructor(options: PipelineMetricsOptions) {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
      new Counter({ name: METRIC_PREFIX + name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> =>
      new Gauge({ name: METRIC_PREFIX + name, help, labelNames, registers });
    this.instruments = {
      imagesProduced: counter('images_produced_total', 'ImageRefs an ingest stage published to the images topic', ['stage']),
      imagesConsumed: counter('images_consumed_total', 'ImageRefs the teacher consumed and committed (each ends as one sample, rejection or DLQ record)', ['stage']),
      samples: counter('samples_total', 'Samples the teacher published (images that passed the filter, and labeled images)', ['stage']),
      rejected: counter('rejected_total', 'Images the teacher rejected, by reason (no-detections is the filter; the rest are unusable inputs)', ['stage', 'reason']),
      dlq: counter('dlq_total', 'Messages sent to the dead-letter topic, by error reason (or error class)', ['stage', 'reason']),
      samplesConsumed: counter('samples_consumed_total', 'Samples the student consumed from the samples topic', ['stage']),
      teacherStep: new Histogram({
        name: `${METRIC_PREFIX}teacher_step_seconds`,
        help: 'Teacher latency per step: fetch, decode, letterbox, encode per image; infer, nms, produce per model batch',
        labelNames: ['stage', 'step'],
        buckets: STEP_BUCKETS,
        registers,
      }),
      studentLoss: gauge('student_loss', 'Student loss of the last step by term: focal (FL), distillation (ADL by default), localization (L_loc), total', ['stage', 'term']),
      studentLearningRate: gauge('student_learning_rate', 'Learning rate of the last student step', ['stage']),
      studentSamplesPerSecond: gauge('student_samples_per_second', 'Samples per second of the last student step (batch size / step wall time)', ['stage']),
      studentSteps: counter('student_steps_total', 'Optimizer steps this process took', ['stage']),
      studentStep: gauge('student_step', "The student's global step (counts steps restored from its checkpoint)", ['stage']),
      studentAp: gauge('student_ap', 'COCO AP@[.50:.95] of the last rolling evaluation', ['stage']),
      studentAp50: gauge('student_ap50', 'COCO AP@.50 of the last rolling evaluation', ['stage']),
    };
    this.lag = new LagGauge(this.registry, `${METRIC_PREFIX}consumer_lag`, options.logger);
    const processLabels = { stage: options.process };
    // Read at scrape time. Before a backend is set (an ingest process never sets one) asking would start one.
    const tensorGauge = (name: string, help: string, read: (m: tf.MemoryInfo) => number): Gauge<'stage'> =>
      new Gauge({
        name: METRIC_PREFIX + name,
        help,
        labelNames: ['stage'],
        registers,
        collect() {
          if (tf.engine().backendName) this.set(processLabels, read(tf.memory()));
        },
      });
    tensorGauge('tensors', 'Tensors alive in the TF.js engine (a leak grows it step after step)', (m) => m.numTensors);
    tensorGauge('tensor_bytes', 'Bytes held by live TF.js tensors', (m) => m.numBytes);
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX, labels: processLabels });
  }

  /** The metrics a stage updates, with `stage` bound to its name (replicas of one stage share it). */
  forStage(stage: string): StageMetrics {
    let bound = this.stages.get(stage);
    if (bound === undefined) {
      bound = new StageMetrics(stage, this.instruments);
      this.stages.set(stage, bound);
    }
    return bound;
  }

  /** Reports a consumer group's lag on its input topic at every scrape, until the returned function is called. */
  watchLag(source: LagSource): () => void {
    return this.lag.watch(source);
  }

  /** The Prometheus text exposition of every metric. */
  async scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

// Defaults of every optional topology field, in one place (the compiler fills them; docs and tests refer to them).
import type { PresetName } from '../model/detector_config.ts';
import { DEFAULT_OBJECTIVE, type ObjectiveConfig } from '../train/objective.ts';
import type { IngestStageOptions, ObservabilityConfig, StudentStageOptions, TeacherStageOptions, ThresholdConfig } from './types.ts';

export const DEFAULT_THRESHOLDS: Readonly<ThresholdConfig> = Object.freeze({
  candidate: 0.05,
  topKPerLevel: 1000,
  nmsIou: 0.5,
  maxDetections: 100,
  hardLabel: 0.5,
  softEpsilon: 0,
});

export const DEFAULT_LOSS: Readonly<ObjectiveConfig> = DEFAULT_OBJECTIVE;

export const DEFAULT_INGEST_OPTIONS: Readonly<Omit<IngestStageOptions, 'prefix' | 'split' | 'annotations' | 'bucket'>> = Object.freeze({
  // S3 ListObjectsV2 returns at most 1000 keys per page.
  pageSize: 1000,
  watch: false,
  watchIntervalMs: 30_000,
  limit: 0,
  cursorPrefix: 'state/ingest',
});

export const DEFAULT_TEACHER_OPTIONS: Readonly<Omit<TeacherStageOptions, 'checkpoint'>> = Object.freeze({
  batchSize: 8,
  fetchConcurrency: 8,
  maxImagePixels: 40_000_000,
  maxObjectBytes: 64 * 1024 * 1024,
  maxBatchWaitMs: 200,
  filter: true,
  // bench/embedded_cores.ts and npm run bench:pipeline: faster in both runners (docs/benchmarks.md).
  inferenceThread: true,
});

export const DEFAULT_STUDENT_OPTIONS: Readonly<Omit<StudentStageOptions, 'checkpointPrefix' | 'evalAnnotations'>> = Object.freeze({
  steps: 0,
  batchSize: 8,
  labeledFraction: 0.5,
  learningRate: 1e-3,
  warmupSteps: 100,
  clipNorm: 10,
  checkpointEvery: 200,
  evalEvery: 200,
  evalImages: 0,
  labeledOnly: false,
  bufferSize: 2000,
  maxBatchWaitMs: 5000,
  seed: 0,
  augment: 'flip',
  trainingThread: true,
  trainingReplicas: 1,
});

/**
 * The teacher's peak learning rate (`distillery train teacher` without --lr, and a student built from the teacher
 * preset): the rate the bundled teacher was trained with from scratch. The other hyper-parameters of `train teacher`
 * come from the student stage, but the student's peak (8e-3) collapsed a from-scratch teacher to one constant score
 * (docs/results.md, the anchor-size section).
 */
export const TEACHER_LEARNING_RATE = 1e-3;

/**
 * A student stage's learningRate where the topology gives none and the student has a step budget (warm-up, then cosine
 * to 0), by the student's preset: the peak each was measured best at, and for student-large the highest it trains at
 * reliably (docs/results.md, "The learning rates" and "`student-large` at its own learning rate": at 8e-3 two of three
 * seeds of its baseline did not train). The main job also starts a student from its baseline at this peak. A continuous
 * student (steps: 0, no decay) keeps DEFAULT_STUDENT_OPTIONS.learningRate, whatever its preset.
 */
export const STUDENT_PEAK_LEARNING_RATES: Readonly<Record<PresetName, number>> = Object.freeze({
  student: 8e-3,
  'student-large': 4e-3,
  teacher: TEACHER_LEARNING_RATE,
});

/** The student stage's learning rate where the topology gives none (see STUDENT_PEAK_LEARNING_RATES). */
export function defaultStudentLearningRate(preset: PresetName, steps: number): number {
  return steps > 0 ? STUDENT_PEAK_LEARNING_RATES[preset] : DEFAULT_STUDENT_OPTIONS.learningRate;
}

export const DEFAULT_LOCAL_ROOT = 'data';
export const DEFAULT_S3_REGION = 'us-east-1';
export const DEFAULT_MEMORY_CAPACITY = 256;
export const DEFAULT_KAFKA_CLIENT_ID = 'distillery';
export const DEFAULT_PARTITIONS = 1;
/** Substituted like a file value, so runs land next to the student's checkpoints of the same run id. */
export const DEFAULT_RUN_DIR = 'runs/${DISTILLERY_RUN_ID:-latest}';

/** 9464: the port the Prometheus exporters of OpenTelemetry use by default, free of Kafka's and S3's. */
export const DEFAULT_OBSERVABILITY: Readonly<ObservabilityConfig> = Object.freeze({ host: '0.0.0.0', port: 9464 });
/** Overrides `observability.port` (one topology ConfigMap, a port per container). */
export const METRICS_PORT_ENV = 'DISTILLERY_METRICS_PORT';

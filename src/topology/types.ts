// The compiled topology: every option resolved and validated. Stages and runners take their settings from here.
import type { AnchorConfig } from '../boxes/anchor_config.ts';
import type { TopicRole } from '../messages/topics.ts';
import type { DetectorConfig, PresetName } from '../model/detector_config.ts';
import type { ObjectiveConfig } from '../train/objective.ts';
import type { BackendName } from '../backend/backend.ts';
import type { SaslMechanism } from '../transport/kafka_security.ts';

export type StoreConfig =
  | { kind: 'local'; root: string }
  | { kind: 's3'; bucket: string; endpoint?: string; region: string; forcePathStyle: boolean };

export type TransportConfig =
  | { kind: 'memory'; capacity: number }
  | {
      kind: 'kafka';
      brokers: string[];
      clientId: string;
      /** A consumer silent this long is dropped from its group and its partitions move (default 30 s). */
      sessionTimeoutMs?: number;
      /** How often consumers heartbeat; well under the session timeout (default 3 s). */
      heartbeatIntervalMs?: number;
      /** TLS to the brokers (CA from KAFKA_SSL_CA_FILE or NODE_EXTRA_CA_CERTS); the compiler sets it, default false. */
      ssl?: boolean;
      /** SASL mechanism; username and password from KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD. */
      saslMechanism?: SaslMechanism;
    };

/** The HTTP server every stage process runs for /metrics, /healthz and /readyz (docs/observability.md). */
export interface ObservabilityConfig {
  /** Bind address (default 0.0.0.0, so a pod's probes and Prometheus reach it). */
  host: string;
  /** TCP port (default 9464); 0 runs no server. DISTILLERY_METRICS_PORT and `run --metrics-port` override it. */
  port: number;
}

export interface TopicConfig {
  name: string;
  partitions: number;
}

/** Detection post-processing and labeling thresholds shared by the teacher stage and evaluation. */
export interface ThresholdConfig {
  /** Candidates below this score are dropped before NMS (0.05). */
  candidate: number;
  topKPerLevel: number;
  nmsIou: number;
  maxDetections: number;
  /** τ: teacher detections at or above this score become hard labels; the filter keeps images with ≥ 1. */
  hardLabel: number;
  /** Soft labels: anchors whose max q is below ε are sent as q = 0 (0 = dense). */
  softEpsilon: number;
}

export interface IngestStageOptions {
  /** Store prefix listed for images (e.g. `corpus/unlabeled/images/`). */
  prefix: string;
  split: 'labeled' | 'unlabeled' | 'test';
  /** COCO annotation file (store key) giving ground truth, image ids and sizes; required for labeled/test splits. */
  annotations?: string;
  /** Bucket name recorded in ImageRefs (the local store's directory name when embedded). */
  bucket: string;
  pageSize: number;
  /** Keep listing for new objects every `watchIntervalMs` instead of stopping at the end. */
  watch: boolean;
  watchIntervalMs: number;
  /** Stop after this many images (0 = all). */
  limit: number;
  /** Store prefix of the stage's resume point (`<cursorPrefix>/<stage>.json`); runs that share it share the position. */
  cursorPrefix: string;
}

export interface TeacherStageOptions {
  /** Store prefix of the teacher checkpoint (model.json + shards). */
  checkpoint: string;
  batchSize: number;
  /** Parallel object fetches + decodes. */
  fetchConcurrency: number;
  /** Images with more pixels than this are rejected before decoding (decompression bombs). */
  maxImagePixels: number;
  /** Objects larger than this many bytes are rejected (by listed size before fetching, and as fetched). */
  maxObjectBytes: number;
  /** Max wait to fill a batch before running a partial one. */
  maxBatchWaitMs: number;
  /**
   * SAD's at-least-one-detection filter: unlabeled images without a detection ≥ τ become rejections. False sends
   * them on as samples with no hard labels (all background, soft labels only) — the unfiltered ablation.
   */
  filter: boolean;
  /**
   * Run the teacher's forward pass and NMS in a worker thread of their own (its own TensorFlow context), so they
   * overlap the stage thread's fetching, encoding, producing — and, in the embedded runner, the student's training.
   */
  inferenceThread: boolean;
}

export interface StudentStageOptions {
  /** Total optimizer steps (0 = run until stopped, continuous mode). */
  steps: number;
  batchSize: number;
  /** Share of each batch drawn from labeled samples (the rest unlabeled), e.g. 0.5 for 1:1. */
  labeledFraction: number;
  /** Peak learning rate (after warm-up; then cosine to 0 with a step budget). Absent from the topology: defaultStudentLearningRate. */
  learningRate: number;
  warmupSteps: number;
  /** Gradient clipping by global norm (0 = off). */
  clipNorm: number;
  checkpointEvery: number;
  /** Store prefix under which `step-<n>/` checkpoints and `latest.json` are written. */
  checkpointPrefix: string;
  /** Rolling COCO evaluation on the test set every this many steps (0 = off). */
  evalEvery: number;
  /** COCO annotation key of the held-out set and the prefix its images live under. */
  evalAnnotations: string;
  /** Images of the test set used per evaluation (0 = all). */
  evalImages: number;
  /** Use only labeled samples (the baseline student). */
  labeledOnly: boolean;
  /** Samples kept in memory to draw batches from (a replay buffer; oldest dropped). */
  bufferSize: number;
  /**
   * With fewer samples buffered than a batch, how long (ms) the student waits for another before it trains on a short
   * batch of what it holds: the tail of a finite stream, or the few samples a restarted student finds past its
   * checkpoint, are trained on and committed instead of waiting for more that may never come.
   */
  maxBatchWaitMs: number;
  seed: number;
  /** Augmentation of each drawn sample: 'flip' mirrors image, hard boxes and soft-label map with probability ½. */
  augment: 'none' | 'flip';
  /** Store prefix of a saved model (model.json) or checkpoint to start from instead of random weights; a checkpoint under checkpointPrefix wins. */
  initFrom?: string;
  /** Run the optimizer steps in a worker thread of their own, so training overlaps the event loop's work (false: inline). */
  trainingThread: boolean;
  /**
   * Training threads stepping together, data-parallel (needs trainingThread): each takes every n-th sample of the
   * batch, their gradients are averaged and every replica applies the same update. 1 = one thread, the plain step.
   * On wasm the replicas share the cores (each gets cores ÷ replicas threads unless DISTILLERY_WASM_THREADS is set).
   */
  trainingReplicas: number;
  /**
   * Compute backend of the training threads (needs trainingThread; absent: the stage's own backend). The student's ops
   * are small, and on wasm with one thread per replica they step faster than on tensorflow on CPU, while the teacher's
   * inference and the evaluations keep the stage's backend (docs/benchmarks.md). 'auto': wasm where the stage runs
   * tensorflow on CPU, else the stage's backend.
   */
  trainingBackend?: BackendName | 'auto';
  /** Peak learning rate of a student started from `initFrom` (absent: learningRate); the main job raises it (docs/results.md). */
  initLearningRate?: number;
  /** Warm-up steps of a student started from `initFrom` (absent: warmupSteps). */
  initWarmupSteps?: number;
}

interface StageBase {
  name: string;
  parallelism: number;
}

export type StageConfig =
  | (StageBase & { kind: 'ingest'; output: TopicRole; options: IngestStageOptions })
  | (StageBase & { kind: 'teacher'; input: TopicRole; options: TeacherStageOptions })
  | (StageBase & { kind: 'student'; input: TopicRole; options: StudentStageOptions });

export type StageKind = StageConfig['kind'];

export interface CompiledTopology {
  name: string;
  description: string;
  /** File the topology came from (for error messages and describe()). */
  source: string;
  backend: BackendName;
  /** Why `backend`: config.backend, DISTILLERY_BACKEND, or the default and why it is the default. */
  backendReason?: string;
  store: StoreConfig;
  transport: TransportConfig;
  /** Where run artifacts (report, metrics) go, relative to the working directory. */
  runDir: string;
  /**
   * Prepended to every topic name (already part of `topics[role].name`) and consumer group id (see
   * consumerGroupOf), so two pipelines can share a Kafka cluster. '' or absent: none.
   */
  namePrefix?: string;
  observability: ObservabilityConfig;
  topics: Record<TopicRole, TopicConfig>;
  anchors: AnchorConfig;
  teacher: DetectorConfig;
  student: DetectorConfig;
  /** The preset the student's architecture starts from (absent: student); picks its default learning rate. */
  studentPreset?: PresetName;
  thresholds: ThresholdConfig;
  loss: ObjectiveConfig;
  stages: StageConfig[];
}

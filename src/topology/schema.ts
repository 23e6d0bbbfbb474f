// Zod schemas of the raw topology document's sections (defaults filled, values coerced, unknown keys refused).
import { z } from 'zod';
import { BACKEND_NAMES } from '../backend/backend.ts';
import { DEFAULT_TOPICS, type TopicRole } from '../messages/topics.ts';
import {
  DEFAULT_INGEST_OPTIONS,
  DEFAULT_KAFKA_CLIENT_ID,
  DEFAULT_LOCAL_ROOT,
  DEFAULT_LOSS,
  DEFAULT_MEMORY_CAPACITY,
  DEFAULT_OBSERVABILITY,
  DEFAULT_PARTITIONS,
  DEFAULT_S3_REGION,
  DEFAULT_STUDENT_OPTIONS,
  DEFAULT_TEACHER_OPTIONS,
  DEFAULT_THRESHOLDS,
} from './defaults.ts';
import { parseDuration } from './duration.ts';
import { SASL_MECHANISMS } from '../transport/kafka_security.ts';
import {
  boolean,
  decimal,
  duration,
  field,
  integer,
  mapping,
  matching,
  nonNegativeInt,
  nonNegativeNumber,
  numberList,
  oneOf,
  positiveInt,
  positiveNumber,
  stringList,
  text,
  unitInterval,
} from './fields.ts';

export const TOPIC_ROLES = Object.keys(DEFAULT_TOPICS) as TopicRole[];
export const STAGE_KINDS = ['ingest', 'teacher', 'student'] as const;

// Names end up in consumer group ids, metric labels and `--set stages.<name>.…` paths: no dots or spaces.
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const stageName = () => matching("a name of letters, digits, '-' and '_'", NAME_PATTERN);

export const documentSchema = mapping({
  name: stageName().optional(),
  description: field('a string', (v) => (typeof v === 'string' ? v : undefined)).default(''),
  config: z.unknown().optional(),
  topics: z.unknown().optional(),
  model: z.unknown().optional(),
  thresholds: z.unknown().optional(),
  loss: z.unknown().optional(),
  observability: z.unknown().optional(),
  stages: field('a non-empty list of stages', (v) => (Array.isArray(v) && v.length > 0 ? (v as unknown[]) : undefined)),
});

export const configSchema = mapping({
  backend: oneOf(BACKEND_NAMES).optional(),
  store: z.unknown().optional(),
  transport: z.unknown().optional(),
  runDir: text().optional(),
  // Prepended to every topic name and consumer group, so pipelines sharing one Kafka cluster never meet.
  namePrefix: matching("a prefix of letters, digits, '.', '_' and '-' (at most 100), e.g. 'team-a.'", /^[A-Za-z0-9._-]{0,100}$/).optional(),
});

export const metricsPort = () => integer('a TCP port in [0, 65535] (0 = no metrics server)', (n) => n >= 0 && n <= 65535);

export const observabilitySchema = mapping({
  host: text('a bind address, e.g. 0.0.0.0 or 127.0.0.1').default(DEFAULT_OBSERVABILITY.host),
  port: metricsPort().default(DEFAULT_OBSERVABILITY.port),
});

export const localStoreSchema = mapping({
  kind: z.literal('local'),
  root: text().default(DEFAULT_LOCAL_ROOT),
});

// S3's bucket naming rules (lower case, 3–63 characters); catching a typo here beats a 400 from the server.
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const s3StoreSchema = mapping({
  kind: z.literal('s3'),
  bucket: matching('an S3 bucket name (3–63 lower-case letters, digits, dots, hyphens)', BUCKET_PATTERN),
  endpoint: matching('an http(s) URL', /^https?:\/\/[^\s/]+/).optional(),
  region: text().default(DEFAULT_S3_REGION),
  // Left unset: true with a custom endpoint (MinIO, versitygw, moto serve path-style), false on AWS.
  forcePathStyle: boolean().optional(),
});

const positiveDuration = () =>
  field("a positive duration such as '500ms', '30s', '5m' or a number of milliseconds", (v) => {
    const ms = parseDuration(v);
    return ms !== undefined && ms > 0 ? ms : undefined;
  });

export const memoryTransportSchema = mapping({
  kind: z.literal('memory'),
  capacity: positiveInt().default(DEFAULT_MEMORY_CAPACITY),
});

export const kafkaTransportSchema = mapping({
  kind: z.literal('kafka'),
  brokers: stringList('a list of host:port brokers (or a comma-separated string)', 'host:port', (s) => /^[^\s:,]+:\d{1,5}$/.test(s)),
  clientId: text().default(DEFAULT_KAFKA_CLIENT_ID),
  // Consumer liveness: a member silent this long loses its partitions (kafkajs default 30 s).
  sessionTimeoutMs: positiveDuration().optional(),
  heartbeatIntervalMs: positiveDuration().optional(),
  // Security without secrets: credentials and CA files come from the environment (src/transport/kafka_security.ts).
  ssl: boolean().optional(),
  saslMechanism: oneOf(SASL_MECHANISMS).optional(),
});

// Kafka's legal topic characters and length.
export const topicSchema = mapping({
  name: matching("a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", /^[A-Za-z0-9._-]{1,249}$/).optional(),
  partitions: positiveInt().default(DEFAULT_PARTITIONS),
});

export const topicsSchema = mapping(Object.fromEntries(TOPIC_ROLES.map((role) => [role, z.unknown().optional()])) as Record<TopicRole, z.ZodOptional<z.ZodUnknown>>);

// The detector builds levels 2…7 (strides 4…128).
const levelList = () => numberList('a list of pyramid levels between 2 and 7, e.g. [3, 4, 5]', (n) => Number.isInteger(n) && n >= 2 && n <= 7);
const ratioList = () => numberList('a list of positive aspect ratios, e.g. [0.5, 1, 2]', (n) => n > 0);
const scalesPerOctave = () => integer('an integer in [1, 8]', (n) => n >= 1 && n <= 8);
const numClasses = () => integer('an integer in [1, 1000]', (n) => n >= 1 && n <= 1000);

export const modelSchema = mapping({
  numClasses: numClasses().optional(),
  inputSize: positiveInt().optional(),
  anchors: z.unknown().optional(),
  teacher: z.unknown().optional(),
  student: z.unknown().optional(),
});

export const anchorsSchema = mapping({
  levels: levelList().optional(),
  sizeFactor: positiveNumber().optional(),
  ratios: ratioList().optional(),
  scalesPerOctave: scalesPerOctave().optional(),
});

/** `{preset, ...DetectorOptions}`; the shared fields are allowed only to repeat the model block's values. */
export const detectorSpecSchema = mapping({
  preset: oneOf(['teacher', 'student', 'student-large'] as const).optional(),
  name: text().optional(),
  numClasses: numClasses().optional(),
  inputSize: positiveInt().optional(),
  stemChannels: positiveInt().optional(),
  stageChannels: numberList('a list of 4 positive integers', (n) => Number.isInteger(n) && n > 0, 4).optional(),
  blocksPerStage: integer('an integer in [1, 8]', (n) => n >= 1 && n <= 8).optional(),
  fpnChannels: positiveInt().optional(),
  headDepth: integer('an integer in [0, 8]', (n) => n >= 0 && n <= 8).optional(),
  levels: levelList().optional(),
  anchorSizeFactor: positiveNumber().optional(),
  anchorRatios: ratioList().optional(),
  anchorScalesPerOctave: scalesPerOctave().optional(),
  priorProbability: decimal('a number in (0, 1)', (n) => n > 0 && n < 1).optional(),
});

export const thresholdsSchema = mapping({
  candidate: decimal('a number in [0, 1)', (n) => n >= 0 && n < 1).default(DEFAULT_THRESHOLDS.candidate),
  topKPerLevel: positiveInt().default(DEFAULT_THRESHOLDS.topKPerLevel),
  nmsIou: decimal('a number in (0, 1]', (n) => n > 0 && n <= 1).default(DEFAULT_THRESHOLDS.nmsIou),
  maxDetections: positiveInt().default(DEFAULT_THRESHOLDS.maxDetections),
  hardLabel: unitInterval().default(DEFAULT_THRESHOLDS.hardLabel),
  softEpsilon: decimal('a number in [0, 1)', (n) => n >= 0 && n < 1).default(DEFAULT_THRESHOLDS.softEpsilon),
});

export const lossSchema = mapping({
  distillation: oneOf(['adl', 'kld', 'fdl', 'none'] as const).default(DEFAULT_LOSS.distillation),
  lambda: nonNegativeNumber().default(DEFAULT_LOSS.lambda),
  focalAlpha: unitInterval().default(DEFAULT_LOSS.focalAlpha),
  focalGamma: nonNegativeNumber().default(DEFAULT_LOSS.focalGamma),
  adlBeta: nonNegativeNumber().default(DEFAULT_LOSS.adlBeta),
  adlGamma: nonNegativeNumber().default(DEFAULT_LOSS.adlGamma),
  adlTheta: positiveNumber().default(DEFAULT_LOSS.adlTheta),
  smoothL1Beta: nonNegativeNumber().default(DEFAULT_LOSS.smoothL1Beta),
});

const role = () => oneOf(TOPIC_ROLES);

const stageBase = {
  name: stageName().optional(),
  kind: oneOf(STAGE_KINDS),
  parallelism: positiveInt().default(1),
  options: z.unknown().optional(),
};

export const stageSchemas = {
  ingest: mapping({ ...stageBase, output: role().default('images') }),
  teacher: mapping({ ...stageBase, input: role().default('images') }),
  student: mapping({ ...stageBase, input: role().default('samples') }),
} as const;

/** The role each kind must read or write: a topic's role fixes its message type. */
export const STAGE_ROLES = {
  ingest: { key: 'output', role: 'images', carries: 'publishes ImageRefs' },
  teacher: { key: 'input', role: 'images', carries: 'consumes ImageRefs' },
  student: { key: 'input', role: 'samples', carries: 'consumes Samples' },
} as const satisfies Record<(typeof STAGE_KINDS)[number], { key: string; role: TopicRole; carries: string }>;

export const ingestOptionsSchema = mapping({
  prefix: text('a store prefix, e.g. corpus/unlabeled/images/'),
  split: oneOf(['labeled', 'unlabeled', 'test'] as const),
  annotations: text('a COCO annotation file key').optional(),
  bucket: text().optional(),
  pageSize: integer('an integer in [1, 1000]', (n) => n >= 1 && n <= 1000).default(DEFAULT_INGEST_OPTIONS.pageSize),
  watch: boolean().default(DEFAULT_INGEST_OPTIONS.watch),
  watchIntervalMs: positiveDuration().default(DEFAULT_INGEST_OPTIONS.watchIntervalMs),
  limit: nonNegativeInt().default(DEFAULT_INGEST_OPTIONS.limit),
  cursorPrefix: text('a store prefix, e.g. state/ingest').default(DEFAULT_INGEST_OPTIONS.cursorPrefix),
});

export const teacherOptionsSchema = mapping({
  checkpoint: text('the store prefix of the teacher checkpoint (model.json + shards)'),
  batchSize: positiveInt().default(DEFAULT_TEACHER_OPTIONS.batchSize),
  fetchConcurrency: positiveInt().default(DEFAULT_TEACHER_OPTIONS.fetchConcurrency),
  maxImagePixels: positiveInt().default(DEFAULT_TEACHER_OPTIONS.maxImagePixels),
  maxObjectBytes: positiveInt().default(DEFAULT_TEACHER_OPTIONS.maxObjectBytes),
  maxBatchWaitMs: duration().default(DEFAULT_TEACHER_OPTIONS.maxBatchWaitMs),
  filter: boolean().default(DEFAULT_TEACHER_OPTIONS.filter),
  inferenceThread: boolean().default(DEFAULT_TEACHER_OPTIONS.inferenceThread),
});

export const studentOptionsSchema = mapping({
  steps: nonNegativeInt().default(DEFAULT_STUDENT_OPTIONS.steps),
  batchSize: positiveInt().default(DEFAULT_STUDENT_OPTIONS.batchSize),
  labeledFraction: unitInterval().default(DEFAULT_STUDENT_OPTIONS.labeledFraction),
  // Absent: by the student's preset and step budget (defaultStudentLearningRate), which the compiler fills in.
  learningRate: positiveNumber().optional(),
  warmupSteps: nonNegativeInt().default(DEFAULT_STUDENT_OPTIONS.warmupSteps),
  clipNorm: nonNegativeNumber().default(DEFAULT_STUDENT_OPTIONS.clipNorm),
  checkpointEvery: positiveInt().default(DEFAULT_STUDENT_OPTIONS.checkpointEvery),
  checkpointPrefix: text('a store prefix for checkpoints, e.g. runs/latest/student'),
  evalEvery: nonNegativeInt().default(DEFAULT_STUDENT_OPTIONS.evalEvery),
  evalAnnotations: text('a COCO annotation file key').optional(),
  evalImages: nonNegativeInt().default(DEFAULT_STUDENT_OPTIONS.evalImages),
  labeledOnly: boolean().default(DEFAULT_STUDENT_OPTIONS.labeledOnly),
  bufferSize: positiveInt().default(DEFAULT_STUDENT_OPTIONS.bufferSize),
  maxBatchWaitMs: duration().default(DEFAULT_STUDENT_OPTIONS.maxBatchWaitMs),
  seed: integer('an integer in [0, 2^32)', (n) => n >= 0 && n < 2 ** 32).default(DEFAULT_STUDENT_OPTIONS.seed),
  augment: oneOf(['none', 'flip'] as const).default(DEFAULT_STUDENT_OPTIONS.augment),
  initFrom: text('a store prefix of a saved model or checkpoint to start from').optional(),
  trainingThread: boolean().default(DEFAULT_STUDENT_OPTIONS.trainingThread),
  trainingReplicas: positiveInt().default(DEFAULT_STUDENT_OPTIONS.trainingReplicas),
  trainingBackend: oneOf([...BACKEND_NAMES, 'auto'] as const).optional(),
  initLearningRate: positiveNumber().optional(),
  initWarmupSteps: nonNegativeInt().optional(),
});

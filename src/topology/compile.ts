// Topology file → CompiledTopology: parse, apply --set overrides, substitute ${ENV}, validate, fill defaults, cross-check.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { resolveAnchorConfig, type AnchorConfig } from '../boxes/anchor_config.ts';
import { BACKEND_ENV, BACKEND_NAMES, defaultBackend, type BackendChoice, type BackendName } from '../backend/backend.ts';
import { DEFAULT_TOPICS, type TopicRole } from '../messages/topics.ts';
import { resolveDetectorConfig, type DetectorConfig, type DetectorOptions, type PresetName } from '../model/detector_config.ts';
import { DEFAULT_RUN_DIR, METRICS_PORT_ENV, defaultStudentLearningRate } from './defaults.ts';
import { isRawMap, parseTopologyYaml, type RawValue } from './document.ts';
import { substituteEnv, substituteString, type Env } from './env.ts';
import { IssueList, TopologyError, type FieldPath } from './errors.ts';
import { parseAt } from './fields.ts';
import { applyOverrides } from './overrides.ts';
import {
  STAGE_KINDS,
  STAGE_ROLES,
  TOPIC_ROLES,
  anchorsSchema,
  configSchema,
  detectorSpecSchema,
  documentSchema,
  ingestOptionsSchema,
  kafkaTransportSchema,
  localStoreSchema,
  lossSchema,
  memoryTransportSchema,
  metricsPort,
  modelSchema,
  observabilitySchema,
  s3StoreSchema,
  stageSchemas,
  studentOptionsSchema,
  teacherOptionsSchema,
  thresholdsSchema,
  topicSchema,
  topicsSchema,
} from './schema.ts';
import type { CompiledTopology, ObservabilityConfig, StageConfig, StoreConfig, TopicConfig, TransportConfig } from './types.ts';

export interface CompileOptions {
  /** Variables for `${VAR}` substitution (default: process.env). `DISTILLERY_BACKEND` is read from here too. */
  env?: Env;
  /** `path=value` overrides applied before substitution and validation, e.g. `stages.student.options.steps=50`. */
  overrides?: readonly string[];
}

/** Reads and compiles a topology file; every error names the file (or `--set`) and the field. */
export async function loadTopology(file: string, opts: CompileOptions = {}): Promise<CompiledTopology> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new TopologyError(file, [{ where: '', message: `cannot read topology: ${reason}` }], { cause: err });
  }
  return compileTopology(text, file, opts);
}

/** Compiles topology YAML text. `sourceName` is used in error messages and as the default topology name. */
export function compileTopology(text: string, sourceName: string, opts: CompileOptions = {}): CompiledTopology {
  const env = opts.env ?? process.env;
  let raw = parseTopologyYaml(text, sourceName);
  if (opts.overrides !== undefined && opts.overrides.length > 0) raw = applyOverrides(raw, opts.overrides);
  const issues = new IssueList();
  if (!isRawMap(raw)) {
    issues.add([], 'expected a mapping with name, config, topics, model, thresholds, loss and stages');
    issues.throwIfAny(sourceName);
  }
  const doc = substituteEnv(raw, env, issues);
  // Validating values that failed substitution would only repeat the same problem in other words.
  issues.throwIfAny(sourceName);
  const compiled = compileDocument(doc, sourceName, env, issues);
  issues.throwIfAny(sourceName);
  if (compiled === undefined) throw new TopologyError(sourceName, [{ where: '', message: 'invalid topology' }]);
  return compiled;
}

function compileDocument(doc: RawValue, source: string, env: Env, issues: IssueList): CompiledTopology | undefined {
  const top = parseAt(documentSchema, doc, [], issues);
  if (top === undefined) return undefined;
  const config = parseAt(configSchema, top.config ?? {}, ['config'], issues);
  const backend = config === undefined ? undefined : compileBackend(config.backend, env, issues);
  const store = config === undefined ? undefined : compileStore(config.store, issues);
  const transport = config === undefined ? undefined : compileTransport(config.transport, issues);
  const namePrefix = config?.namePrefix ?? '';
  const topics = compileTopics(top.topics, namePrefix, issues);
  const model = compileModel(top.model, issues);
  const thresholds = parseAt(thresholdsSchema, top.thresholds ?? {}, ['thresholds'], issues);
  const loss = parseAt(lossSchema, top.loss ?? {}, ['loss'], issues);
  const stages = compileStages(top.stages, store, model?.studentPreset ?? 'student', issues);
  const observability = compileObservability(top.observability, env, issues);
  if (
    config === undefined ||
    backend === undefined ||
    store === undefined ||
    transport === undefined ||
    topics === undefined ||
    model === undefined ||
    thresholds === undefined ||
    loss === undefined ||
    stages === undefined ||
    observability === undefined
  ) {
    return undefined;
  }
  return {
    name: top.name ?? path.basename(source).replace(/\.ya?ml$/i, ''),
    description: top.description,
    source,
    backend: backend.name,
    backendReason: backend.reason,
    store,
    transport,
    runDir: config.runDir ?? substituteString(DEFAULT_RUN_DIR, env).value,
    namePrefix,
    observability,
    topics,
    anchors: model.anchors,
    teacher: model.teacher,
    student: model.student,
    studentPreset: model.studentPreset,
    thresholds,
    loss,
    stages,
  };
}

// An explicit `config.backend` wins over DISTILLERY_BACKEND (write `${DISTILLERY_BACKEND:-wasm}` to prefer the env);
// with neither, the default: tensorflow where tfjs-node is installed, else wasm (src/backend/backend.ts).
function compileBackend(fromFile: BackendName | undefined, env: Env, issues: IssueList): BackendChoice | undefined {
  if (fromFile !== undefined) return { name: fromFile, source: 'argument', reason: 'config.backend of the topology' };
  const fromEnv = env[BACKEND_ENV];
  if (fromEnv === undefined || fromEnv === '') return { ...defaultBackend(), source: 'default' };
  if ((BACKEND_NAMES as readonly string[]).includes(fromEnv)) return { name: fromEnv as BackendName, source: 'env', reason: `${BACKEND_ENV}=${fromEnv}` };
  issues.add(['config', 'backend'], `${BACKEND_ENV}=${JSON.stringify(fromEnv)} is not a backend; expected one of ${BACKEND_NAMES.join(', ')}`);
  return undefined;
}

// DISTILLERY_METRICS_PORT wins over the file: one topology ConfigMap serves every stage's container.
function compileObservability(raw: unknown, env: Env, issues: IssueList): ObservabilityConfig | undefined {
  const parsed = parseAt(observabilitySchema, raw ?? {}, ['observability'], issues);
  const fromEnv = env[METRICS_PORT_ENV];
  if (parsed === undefined || fromEnv === undefined || fromEnv === '') return parsed;
  const port = metricsPort().safeParse(fromEnv);
  if (!port.success) {
    issues.add(['observability', 'port'], `${METRICS_PORT_ENV}=${JSON.stringify(fromEnv)} is not a TCP port in [0, 65535]`);
    return undefined;
  }
  return { ...parsed, port: port.data };
}

/** Picks a variant's schema by `kind` (default `fallback`) and validates; unknown kinds list the valid ones. */
function parseVariant<K extends string, T>(
  value: unknown,
  path: FieldPath,
  fallback: K,
  schemas: Record<K, z.ZodType<T> & { shape: Record<string, unknown> }>,
  issues: IssueList,
): T | undefined {
  const raw = value ?? {};
  if (!isRawMap(raw)) {
    issues.add(path, `expected a mapping, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  const kinds = Object.keys(schemas) as K[];
  if (raw.kind === undefined) {
    // `store: {bucket: b}` without `kind: s3` would otherwise read as "bucket is not a key of a local store".
    const foreign = Object.keys(raw).filter((key) => !(key in schemas[fallback].shape));
    const other = kinds.find((k) => k !== fallback && foreign.length > 0 && foreign.every((key) => key in schemas[k].shape));
    if (other !== undefined) {
      issues.add([...path, 'kind'], `not set, so ${fallback} is assumed, but ${foreign.join(', ')} ${foreign.length === 1 ? 'belongs' : 'belong'} to kind ${other}; write kind: ${other}`);
      return undefined;
    }
  }
  const kind = raw.kind ?? fallback;
  if (typeof kind !== 'string' || !(kinds as string[]).includes(kind)) {
    issues.add([...path, 'kind'], `expected one of ${kinds.join(', ')}, got ${JSON.stringify(kind)}`);
    return undefined;
  }
  return parseAt(schemas[kind as K], { ...raw, kind }, path, issues);
}

function compileStore(value: unknown, issues: IssueList): StoreConfig | undefined {
  const store = parseVariant<'local' | 's3', z.output<typeof localStoreSchema> | z.output<typeof s3StoreSchema>>(
    value,
    ['config', 'store'],
    'local',
    { local: localStoreSchema, s3: s3StoreSchema },
    issues,
  );
  if (store === undefined || store.kind === 'local') return store;
  const { endpoint, forcePathStyle, ...rest } = store;
  return { ...rest, ...(endpoint !== undefined ? { endpoint } : {}), forcePathStyle: forcePathStyle ?? endpoint !== undefined };
}

function compileTransport(value: unknown, issues: IssueList): TransportConfig | undefined {
  return parseVariant<'memory' | 'kafka', TransportConfig>(value, ['config', 'transport'], 'memory', { memory: memoryTransportSchema, kafka: kafkaTransportSchema }, issues);
}

function compileTopics(value: unknown, namePrefix: string, issues: IssueList): Record<TopicRole, TopicConfig> | undefined {
  const roles = parseAt(topicsSchema, value ?? {}, ['topics'], issues);
  if (roles === undefined) return undefined;
  const topics: Partial<Record<TopicRole, TopicConfig>> = {};
  const byName = new Map<string, TopicRole>();
  for (const role of TOPIC_ROLES) {
    const topic = parseAt(topicSchema, roles[role] ?? {}, ['topics', role], issues);
    if (topic === undefined) continue;
    const name = `${namePrefix}${topic.name ?? DEFAULT_TOPICS[role]}`;
    // Two roles on one topic would mix message types on it.
    const other = byName.get(name);
    if (other !== undefined) issues.add(['topics', role, 'name'], `topic "${name}" is already used by role ${other}; each role needs its own topic`);
    byName.set(name, role);
    topics[role] = { name, partitions: topic.partitions };
  }
  return Object.keys(topics).length === TOPIC_ROLES.length ? (topics as Record<TopicRole, TopicConfig>) : undefined;
}

interface CompiledModel {
  anchors: AnchorConfig;
  teacher: DetectorConfig;
  student: DetectorConfig;
  studentPreset: PresetName;
}

/** Fields teacher and student must share so soft labels align anchor for anchor; set once in the model block. */
const SHARED_FIELDS = ['numClasses', 'inputSize', 'levels', 'anchorSizeFactor', 'anchorRatios', 'anchorScalesPerOctave'] as const;
const SHARED_SOURCE: Record<(typeof SHARED_FIELDS)[number], string> = {
  numClasses: 'model.numClasses',
  inputSize: 'model.inputSize',
  levels: 'model.anchors.levels',
  anchorSizeFactor: 'model.anchors.sizeFactor',
  anchorRatios: 'model.anchors.ratios',
  anchorScalesPerOctave: 'model.anchors.scalesPerOctave',
};

function compileModel(value: unknown, issues: IssueList): CompiledModel | undefined {
  const model = parseAt(modelSchema, value ?? {}, ['model'], issues);
  if (model === undefined) return undefined;
  const anchorOptions = parseAt(anchorsSchema, model.anchors ?? {}, ['model', 'anchors'], issues);
  if (anchorOptions === undefined) return undefined;
  let anchors: AnchorConfig;
  try {
    anchors = resolveAnchorConfig(anchorOptions);
  } catch (err) {
    // "invalid anchor config: levels must be …" → model.anchors.levels
    const message = (err as Error).message.replace(/^invalid anchor config: /, '');
    const key = /^(levels|sizeFactor|ratios|scalesPerOctave)\b:? ?/.exec(message);
    issues.add(key ? ['model', 'anchors', key[1]] : ['model', 'anchors'], key ? message.slice(key[0].length) || message : message);
    return undefined;
  }
  const base = { numClasses: model.numClasses ?? 4, inputSize: model.inputSize ?? 128 };
  const maxStride = 2 ** Math.max(5, ...anchors.levels);
  if (base.inputSize % maxStride !== 0) {
    issues.add(['model', 'inputSize'], `must be a multiple of the largest stride ${maxStride} (levels up to P${Math.log2(maxStride)}), got ${base.inputSize}`);
    return undefined;
  }
  const shared: Pick<DetectorConfig, (typeof SHARED_FIELDS)[number]> = {
    ...base,
    levels: anchors.levels,
    anchorSizeFactor: anchors.sizeFactor,
    anchorRatios: anchors.ratios,
    anchorScalesPerOctave: anchors.scalesPerOctave,
  };
  const teacher = compileDetector('teacher', model.teacher, shared, issues);
  const student = compileDetector('student', model.student, shared, issues);
  return teacher && student ? { anchors, teacher: teacher.config, student: student.config, studentPreset: student.preset } : undefined;
}

function compileDetector(
  role: 'teacher' | 'student',
  value: unknown,
  shared: Pick<DetectorConfig, (typeof SHARED_FIELDS)[number]>,
  issues: IssueList,
): { config: DetectorConfig; preset: PresetName } | undefined {
  const path = ['model', role];
  const spec = parseAt(detectorSpecSchema, value ?? {}, path, issues);
  if (spec === undefined) return undefined;
  const { preset, name, stageChannels, ...rest } = spec;
  let consistent = true;
  for (const key of SHARED_FIELDS) {
    const own = rest[key];
    if (own !== undefined && JSON.stringify(own) !== JSON.stringify(shared[key])) {
      issues.add([...path, key], `${JSON.stringify(own)} differs from ${SHARED_SOURCE[key]} (${JSON.stringify(shared[key])}); teacher and student share it, set it there`);
      consistent = false;
    }
  }
  if (!consistent) return undefined;
  // Unnamed, a model is named after its preset, so tables and model cards say which architecture it is.
  const options: DetectorOptions = { ...rest, ...shared, name: name ?? preset ?? role };
  if (stageChannels !== undefined) options.stageChannels = stageChannels as DetectorConfig['stageChannels'];
  try {
    return { config: resolveDetectorConfig(options, preset ?? role), preset: preset ?? role };
  } catch (err) {
    issues.add(path, (err as Error).message);
    return undefined;
  }
}

function compileStages(list: unknown[], store: StoreConfig | undefined, studentPreset: PresetName, issues: IssueList): StageConfig[] | undefined {
  const stages: StageConfig[] = [];
  const firstByName = new Map<string, number>();
  const prefixes = new Map<string, number>();
  let ok = true;
  list.forEach((value, i) => {
    const stage = compileStage(value, i, store, studentPreset, issues);
    if (stage === undefined) {
      ok = false;
      return;
    }
    const first = firstByName.get(stage.name);
    if (first !== undefined) {
      issues.add(['stages', i, 'name'], `duplicate stage name "${stage.name}" (also stages[${first}]); stage names must be unique`);
      ok = false;
    } else {
      firstByName.set(stage.name, i);
    }
    if (stage.kind === 'student') {
      // Two trainers writing one prefix would overwrite each other's checkpoints and latest.json.
      const other = prefixes.get(stage.options.checkpointPrefix);
      if (other !== undefined) {
        issues.add(['stages', i, 'options', 'checkpointPrefix'], `"${stage.options.checkpointPrefix}" is also used by stages[${other}]; each student needs its own`);
        ok = false;
      }
      prefixes.set(stage.options.checkpointPrefix, i);
    }
    stages.push(stage);
  });
  return ok ? stages : undefined;
}

function compileStage(value: unknown, i: number, store: StoreConfig | undefined, studentPreset: PresetName, issues: IssueList): StageConfig | undefined {
  const path: FieldPath = ['stages', i];
  if (!isRawMap(value)) {
    issues.add(path, `expected a mapping with name, kind, parallelism and options, got ${JSON.stringify(value)}`);
    return undefined;
  }
  const kind = value.kind;
  if (typeof kind !== 'string' || !(STAGE_KINDS as readonly string[]).includes(kind)) {
    const got = kind === undefined ? 'nothing' : JSON.stringify(kind);
    issues.add([...path, 'kind'], `expected one of ${STAGE_KINDS.join(', ')}, got ${got}`);
    return undefined;
  }
  if (kind === 'teacher' && value.output !== undefined) {
    issues.add([...path, 'output'], 'a teacher always writes to the samples, rejected and dlq roles; rename their topics under `topics:`');
    return undefined;
  }
  const before = issues.items.length;
  const optionsPath = [...path, 'options'];
  const rawOptions = value.options ?? {};
  switch (kind) {
    case 'ingest': {
      const base = parseAt(stageSchemas.ingest, value, path, issues);
      const options = parseAt(ingestOptionsSchema, rawOptions, optionsPath, issues);
      if (base === undefined || options === undefined) return undefined;
      checkRole('ingest', base.output, path, issues);
      if (options.split !== 'unlabeled' && options.annotations === undefined) {
        issues.add([...optionsPath, 'annotations'], `required for a ${options.split} split (the COCO file giving its ground truth)`);
      }
      if (base.parallelism !== 1) {
        issues.add([...path, 'parallelism'], `an ingest stage lists its prefix in order and must run alone (1), got ${base.parallelism}; add another ingest stage for another prefix`);
      }
      const { annotations, bucket, ...rest } = options;
      const stage: StageConfig = {
        name: base.name ?? kind,
        kind,
        parallelism: base.parallelism,
        output: base.output,
        options: { ...rest, ...(annotations !== undefined ? { annotations } : {}), bucket: bucket ?? defaultBucket(store) },
      };
      return issues.items.length === before ? stage : undefined;
    }
    case 'teacher': {
      const base = parseAt(stageSchemas.teacher, value, path, issues);
      const options = parseAt(teacherOptionsSchema, rawOptions, optionsPath, issues);
      if (base === undefined || options === undefined) return undefined;
      checkRole('teacher', base.input, path, issues);
      const stage: StageConfig = { name: base.name ?? kind, kind, parallelism: base.parallelism, input: base.input, options };
      return issues.items.length === before ? stage : undefined;
    }
    case 'student': {
      const base = parseAt(stageSchemas.student, value, path, issues);
      const options = parseAt(studentOptionsSchema, rawOptions, optionsPath, issues);
      if (base === undefined || options === undefined) return undefined;
      checkRole('student', base.input, path, issues);
      if (options.evalEvery > 0 && options.evalAnnotations === undefined) {
        issues.add([...optionsPath, 'evalAnnotations'], `required when evalEvery > 0 (got evalEvery ${options.evalEvery}); set evalEvery: 0 to train without evaluation`);
      }
      if (options.bufferSize < options.batchSize) {
        issues.add([...optionsPath, 'bufferSize'], `must hold at least one batch (batchSize ${options.batchSize}), got ${options.bufferSize}`);
      }
      if (base.parallelism !== 1) {
        issues.add([...path, 'parallelism'], `a student trains one model and must run alone (1), got ${base.parallelism}`);
      }
      const stage: StageConfig = {
        name: base.name ?? kind,
        kind,
        parallelism: base.parallelism,
        input: base.input,
        options: {
          ...options,
          learningRate: options.learningRate ?? defaultStudentLearningRate(studentPreset, options.steps),
          evalAnnotations: options.evalAnnotations ?? '',
        },
      };
      return issues.items.length === before ? stage : undefined;
    }
  }
  return undefined;
}

// A topic's role fixes its message type, so each kind can only be wired to one role.
function checkRole(kind: keyof typeof STAGE_ROLES, role: TopicRole, path: FieldPath, issues: IssueList): void {
  const expected = STAGE_ROLES[kind];
  if (role !== expected.role) {
    const article = kind === 'ingest' ? 'an' : 'a';
    issues.add([...path, expected.key], `${article} ${kind} stage ${expected.carries}, which travel on the ${expected.role} topic; got role ${role}`);
  }
}

// ImageRefs record a bucket: the S3 bucket, or the local store's directory name (what a bucket is to it).
function defaultBucket(store: StoreConfig | undefined): string {
  if (store === undefined) return '';
  if (store.kind === 's3') return store.bucket;
  return path.basename(path.resolve(store.root));
}

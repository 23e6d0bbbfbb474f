// Tests topology compilation: defaults, ${ENV}, coercion, every error class (naming file and field), overrides,
// model consistency, and that the shipped topologies compile.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultBackend } from '../../src/backend/backend.ts';
import { DEFAULT_TOPICS } from '../../src/messages/topics.ts';
import { STUDENT_PRESET, TEACHER_PRESET } from '../../src/model/detector_config.ts';
import { DEFAULT_OBJECTIVE } from '../../src/train/objective.ts';
import { compileTopology, loadTopology, type CompileOptions } from '../../src/topology/compile.ts';
import {
  DEFAULT_INGEST_OPTIONS,
  DEFAULT_OBSERVABILITY,
  DEFAULT_STUDENT_OPTIONS,
  DEFAULT_TEACHER_OPTIONS,
  DEFAULT_THRESHOLDS,
  STUDENT_PEAK_LEARNING_RATES,
} from '../../src/topology/defaults.ts';
import { TopologyError } from '../../src/topology/errors.ts';
import type { CompiledTopology, StageConfig } from '../../src/topology/types.ts';

const FILE = 'topologies/x.yaml';

const MINIMAL = `
stages:
  - kind: teacher
    options: { checkpoint: models/teacher }
`;

// A small valid topology with one stage of each kind; tests append or replace lines.
const FULL = `
name: full
stages:
  - name: ingest
    kind: ingest
    options: { prefix: corpus/labeled/images/, split: labeled, annotations: corpus/labeled/annotations.json }
  - name: teacher
    kind: teacher
    options: { checkpoint: models/teacher }
  - name: student
    kind: student
    options: { checkpointPrefix: runs/x/student, evalAnnotations: corpus/test/annotations.json }
`;

function compile(text: string, opts: CompileOptions = {}): CompiledTopology {
  return compileTopology(text, FILE, { env: {}, ...opts });
}

function stage<K extends StageConfig['kind']>(t: CompiledTopology, kind: K): Extract<StageConfig, { kind: K }> {
  const found = t.stages.find((s): s is Extract<StageConfig, { kind: K }> => s.kind === kind);
  assert.ok(found, `no ${kind} stage`);
  return found;
}

/** Compiles and returns the error lines; fails when it compiles. */
function errorLines(text: string, opts: CompileOptions = {}): string[] {
  try {
    compile(text, opts);
  } catch (err) {
    assert.ok(err instanceof TopologyError, `expected a TopologyError, got ${String(err)}`);
    return err.message.split('\n').filter((line) => line.startsWith(FILE) || line.startsWith('--set'));
  }
  assert.fail('expected the topology to be refused');
}

function assertError(text: string, expected: string | RegExp, opts: CompileOptions = {}): void {
  const lines = errorLines(text, opts);
  const hit = lines.some((line) => (typeof expected === 'string' ? line === expected : expected.test(line)));
  assert.ok(hit, `no error line matches ${String(expected)}; got:\n${lines.join('\n')}`);
}

describe('compileTopology defaults', () => {
  it('fills every field of a one-stage topology', () => {
    const t = compile(MINIMAL);
    assert.equal(t.name, 'x');
    assert.equal(t.description, '');
    assert.equal(t.source, FILE);
    // tensorflow where tfjs-node is installed, else wasm.
    assert.equal(t.backend, defaultBackend().name);
    assert.match(t.backendReason ?? '', /^default: /);
    assert.deepEqual(t.store, { kind: 'local', root: 'data' });
    assert.deepEqual(t.transport, { kind: 'memory', capacity: 256 });
    assert.equal(t.runDir, 'runs/latest');
    for (const [role, name] of Object.entries(DEFAULT_TOPICS)) {
      assert.deepEqual(t.topics[role as keyof typeof DEFAULT_TOPICS], { name, partitions: 1 });
    }
    assert.deepEqual(t.thresholds, { candidate: 0.05, topKPerLevel: 1000, nmsIou: 0.5, maxDetections: 100, hardLabel: 0.5, softEpsilon: 0 });
    assert.deepEqual(t.thresholds, DEFAULT_THRESHOLDS);
    assert.deepEqual(t.loss, DEFAULT_OBJECTIVE);
    assert.deepEqual(t.teacher, TEACHER_PRESET);
    assert.deepEqual(t.student, STUDENT_PRESET);
    assert.deepEqual(t.anchors, { levels: [3, 4, 5], sizeFactor: 4, ratios: [0.5, 1, 2], scalesPerOctave: 3 });
    assert.deepEqual(t.stages, [
      {
        name: 'teacher',
        kind: 'teacher',
        parallelism: 1,
        input: 'images',
        options: { checkpoint: 'models/teacher', batchSize: 8, fetchConcurrency: 8, maxImagePixels: 40e6, maxObjectBytes: 64 * 1024 * 1024, maxBatchWaitMs: 200, filter: true, inferenceThread: true },
      },
    ]);
  });

  it('fills ingest and student defaults', () => {
    const t = compile(FULL);
    const ingest = stage(t, 'ingest');
    assert.equal(ingest.output, 'images');
    assert.deepEqual(ingest.options, {
      prefix: 'corpus/labeled/images/',
      split: 'labeled',
      annotations: 'corpus/labeled/annotations.json',
      // The local store's directory name stands in for the bucket.
      bucket: 'data',
      pageSize: 1000,
      watch: false,
      watchIntervalMs: 30_000,
      limit: 0,
      cursorPrefix: 'state/ingest',
    });
    const student = stage(t, 'student');
    assert.equal(student.input, 'samples');
    assert.deepEqual(student.options, {
      steps: 0,
      batchSize: 8,
      labeledFraction: 0.5,
      learningRate: 1e-3,
      warmupSteps: 100,
      clipNorm: 10,
      checkpointEvery: 200,
      checkpointPrefix: 'runs/x/student',
      evalEvery: 200,
      evalAnnotations: 'corpus/test/annotations.json',
      evalImages: 0,
      labeledOnly: false,
      bufferSize: 2000,
      maxBatchWaitMs: 5000,
      seed: 0,
      augment: 'flip',
      trainingThread: true,
      trainingReplicas: 1,
    });
    // The exported defaults are the ones applied.
    assert.deepEqual({ ...DEFAULT_STUDENT_OPTIONS, checkpointPrefix: 'runs/x/student', evalAnnotations: 'corpus/test/annotations.json' }, student.options);
    assert.deepEqual({ ...DEFAULT_TEACHER_OPTIONS, checkpoint: 'models/teacher' }, stage(t, 'teacher').options);
    assert.equal(ingest.options.pageSize, DEFAULT_INGEST_OPTIONS.pageSize);
  });

  it('takes the backend from DISTILLERY_BACKEND unless the file sets one', () => {
    const fromEnv = compile(MINIMAL, { env: { DISTILLERY_BACKEND: 'cpu' } });
    assert.deepEqual([fromEnv.backend, fromEnv.backendReason], ['cpu', 'DISTILLERY_BACKEND=cpu']);
    const fromFile = compile(`config: {backend: wasm}\n${MINIMAL}`, { env: { DISTILLERY_BACKEND: 'cpu' } });
    assert.deepEqual([fromFile.backend, fromFile.backendReason], ['wasm', 'config.backend of the topology']);
    assert.equal(compile(`config: {backend: tensorflow}\n${MINIMAL}`, { env: { DISTILLERY_BACKEND: 'cpu' } }).backend, 'tensorflow');
    assertError(MINIMAL, `${FILE}: config.backend: DISTILLERY_BACKEND="gpu" is not a backend; expected one of tensorflow, wasm, cpu`, { env: { DISTILLERY_BACKEND: 'gpu' } });
  });

  it('serves metrics on 0.0.0.0:9464 by default; DISTILLERY_METRICS_PORT wins over the file, 0 turns it off', () => {
    assert.deepEqual(compile(MINIMAL).observability, DEFAULT_OBSERVABILITY);
    assert.deepEqual(compile(`observability: {host: 127.0.0.1, port: 9100}\n${MINIMAL}`).observability, { host: '127.0.0.1', port: 9100 });
    assert.equal(compile(`observability: {port: 9100}\n${MINIMAL}`, { env: { DISTILLERY_METRICS_PORT: '0' } }).observability.port, 0);
    assert.equal(compile(MINIMAL, { overrides: ['observability.port=9200'] }).observability.port, 9200);
    assertError(`observability: {port: 70000}\n${MINIMAL}`, `${FILE}: observability.port: expected a TCP port in [0, 65535] (0 = no metrics server), got 70000`);
    assertError(MINIMAL, `${FILE}: observability.port: DISTILLERY_METRICS_PORT="http" is not a TCP port in [0, 65535]`, { env: { DISTILLERY_METRICS_PORT: 'http' } });
  });

  it('derives the ingest bucket from an S3 store and path-style from a custom endpoint', () => {
    const s3 = compile(`config:\n  store: {kind: s3, bucket: my-bucket, endpoint: 'http://127.0.0.1:7070'}\n${FULL}`);
    assert.deepEqual(s3.store, { kind: 's3', bucket: 'my-bucket', endpoint: 'http://127.0.0.1:7070', region: 'us-east-1', forcePathStyle: true });
    assert.equal(stage(s3, 'ingest').options.bucket, 'my-bucket');
    const aws = compile(`config:\n  store: {kind: s3, bucket: my-bucket}\n${MINIMAL}`);
    assert.deepEqual(aws.store, { kind: 's3', bucket: 'my-bucket', region: 'us-east-1', forcePathStyle: false });
  });

  it('reads durations, number strings and comma-separated lists', () => {
    const t = compile(`
config:
  transport: {kind: kafka, brokers: "a:9092, b:9093", sessionTimeoutMs: 10s, heartbeatIntervalMs: 500ms}
model:
  anchors: {ratios: "0.5,1,2", levels: [3, 4]}
stages:
  - kind: teacher
    options: {checkpoint: m, maxBatchWaitMs: 1.5s, batchSize: "16", maxImagePixels: 40_000_000}
  - kind: ingest
    options: {prefix: p/, split: unlabeled, watch: "true", watchIntervalMs: 5m}
`);
    assert.deepEqual(t.transport, { kind: 'kafka', brokers: ['a:9092', 'b:9093'], clientId: 'distillery', sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500 });
    assert.deepEqual(t.anchors.ratios, [0.5, 1, 2]);
    assert.deepEqual(t.student.levels, [3, 4]);
    assert.deepEqual(stage(t, 'teacher').options, { checkpoint: 'm', batchSize: 16, fetchConcurrency: 8, maxImagePixels: 40e6, maxObjectBytes: 64 * 1024 * 1024, maxBatchWaitMs: 1500, filter: true, inferenceThread: true });
    const ingest = stage(t, 'ingest').options;
    assert.equal(ingest.watch, true);
    assert.equal(ingest.watchIntervalMs, 300_000);
    assert.equal('annotations' in ingest, false);
  });
});

describe('compileTopology ${ENV}', () => {
  const TEXT = `
name: \${NAME:-envy}
config:
  transport: {kind: kafka, brokers: '\${KAFKA_BROKERS:-127.0.0.1:9092}'}
  store: {kind: s3, bucket: '\${S3_BUCKET:-distillery}', endpoint: '\${S3_ENDPOINT:-}'}
topics:
  images: {partitions: '\${PARTS:-2}'}
stages:
  - kind: teacher
    options: {checkpoint: '\${TEACHER}', batchSize: '\${BATCH:-4}'}
`;

  it('uses defaults when variables are unset, coercing numbers', () => {
    const t = compile(TEXT, { env: { TEACHER: 'models/t' } });
    assert.equal(t.name, 'envy');
    assert.deepEqual(t.transport, { kind: 'kafka', brokers: ['127.0.0.1:9092'], clientId: 'distillery' });
    assert.deepEqual(t.store, { kind: 's3', bucket: 'distillery', region: 'us-east-1', forcePathStyle: false });
    assert.equal(t.topics.images.partitions, 2);
    assert.equal(stage(t, 'teacher').options.checkpoint, 'models/t');
    assert.equal(stage(t, 'teacher').options.batchSize, 4);
  });

  it('uses the variables when set', () => {
    const env = { TEACHER: 'models/t', NAME: 'prod', KAFKA_BROKERS: 'k1:9092,k2:9092', S3_BUCKET: 'b-1', S3_ENDPOINT: 'http://s3:9000', PARTS: '6', BATCH: '32' };
    const t = compile(TEXT, { env });
    assert.equal(t.name, 'prod');
    assert.deepEqual(t.transport, { kind: 'kafka', brokers: ['k1:9092', 'k2:9092'], clientId: 'distillery' });
    assert.deepEqual(t.store, { kind: 's3', bucket: 'b-1', endpoint: 'http://s3:9000', region: 'us-east-1', forcePathStyle: true });
    assert.equal(t.topics.images.partitions, 6);
    assert.equal(stage(t, 'teacher').options.batchSize, 32);
  });

  it('names the missing variable and the field', () => {
    assertError(TEXT, `${FILE}: stages[0].options.checkpoint: environment variable TEACHER is not set (write \${TEACHER:-default} to give it a default)`);
  });

  it('validates substituted values like literal ones', () => {
    assertError(TEXT, `${FILE}: topics.images.partitions: expected a positive integer, got "two"`, { env: { TEACHER: 'm', PARTS: 'two' } });
  });

  it('reports a required field emptied by substitution as missing', () => {
    assertError(`stages:\n  - kind: teacher\n    options: {checkpoint: '\${CKPT:-}'}\n`, /stages\[0\]\.options\.checkpoint: required/);
  });

  it('substitutes the default runDir with DISTILLERY_RUN_ID', () => {
    assert.equal(compile(MINIMAL, { env: { DISTILLERY_RUN_ID: 'r42' } }).runDir, 'runs/r42');
  });
});

describe('compileTopology errors name the file and the field', () => {
  it('bad values', () => {
    const text = FULL.replace('{ checkpoint: models/teacher }', '{ checkpoint: models/teacher, batchSize: eight }');
    assertError(text, `${FILE}: stages[1].options.batchSize: expected a positive integer, got "eight"`);
    assertError(`thresholds: {nmsIou: 0}\n${MINIMAL}`, `${FILE}: thresholds.nmsIou: expected a number in (0, 1], got 0`);
    assertError(`loss: {distillation: adll}\n${MINIMAL}`, `${FILE}: loss.distillation: expected one of adl, kld, fdl, none, got "adll"`);
    assertError(`config: {transport: {kind: kafka, brokers: [a:1, b]}}\n${MINIMAL}`, `${FILE}: config.transport.brokers[1]: expected host:port, got "b"`);
    assertError(`config: {store: {kind: s3, bucket: My_Bucket}}\n${MINIMAL}`, /config\.store\.bucket: expected an S3 bucket name/);
    assertError(MINIMAL.replace('models/teacher }', 'm, maxBatchWaitMs: soon }'), /stages\[0\]\.options\.maxBatchWaitMs: expected a duration .* got "soon"/);
    assertError(`config: {store: {kind: gcs}}\n${MINIMAL}`, `${FILE}: config.store.kind: expected one of local, s3, got "gcs"`);
    assertError(`topics: {images: {name: "bad topic"}}\n${MINIMAL}`, /topics\.images\.name: expected a Kafka topic name/);
    assertError(`config: {store: {bucket: my-bucket}}\n${MINIMAL}`, `${FILE}: config.store.kind: not set, so local is assumed, but bucket belongs to kind s3; write kind: s3`);
    assertError(`config: {transport: {brokers: [a:1], clientId: c}}\n${MINIMAL}`, /config\.transport\.kind: not set, so memory is assumed, but brokers, clientId belong to kind kafka/);
  });

  it('unknown keys, with a suggestion for typos', () => {
    assertError(MINIMAL.replace('models/teacher }', 'm, batchsize: 4 }'), `${FILE}: stages[0].options.batchsize: unknown key (did you mean "batchSize"?)`);
    assertError(`thresholds: {hardLable: 0.3}\n${MINIMAL}`, `${FILE}: thresholds.hardLable: unknown key (did you mean "hardLabel"?)`);
    assertError(`colour: blue\n${MINIMAL}`, /^topologies\/x\.yaml: colour: unknown key \(expected one of: name, description, config, topics, model, thresholds, loss, observability, stages\)$/);
    assertError(`topics: {images2: {}}\n${MINIMAL}`, /topics\.images2: unknown key \(did you mean "images"\?\)/);
  });

  it('YAML syntax errors with line and column', () => {
    assertError('name: x\nstages: [\n', /^topologies\/x\.yaml:\d+:\d+: /);
  });

  it('duplicate stage names', () => {
    const text = `${MINIMAL}  - kind: teacher\n    options: { checkpoint: other }\n`;
    assertError(text, `${FILE}: stages[1].name: duplicate stage name "teacher" (also stages[0]); stage names must be unique`);
  });

  it('undefined or mis-wired topic roles', () => {
    assertError(MINIMAL.replace('kind: teacher', 'kind: teacher\n    input: pictures'), `${FILE}: stages[0].input: expected one of images, samples, rejected, dlq, got "pictures"`);
    assertError(MINIMAL.replace('kind: teacher', 'kind: teacher\n    input: samples'), /stages\[0\]\.input: a teacher stage consumes ImageRefs, which travel on the images topic; got role samples/);
    assertError(MINIMAL.replace('kind: teacher', 'kind: teacher\n    output: samples'), /stages\[0\]\.output: a teacher always writes to the samples, rejected and dlq roles/);
    assertError(FULL.replace('name: ingest\n    kind: ingest', 'name: ingest\n    kind: ingest\n    output: dlq'), /stages\[0\]\.output: an ingest stage publishes ImageRefs, which travel on the images topic; got role dlq/);
  });

  it("each kind's required options", () => {
    assertError(`stages:\n  - kind: teacher\n`, /^topologies\/x\.yaml: stages\[0\]\.options\.checkpoint: required/);
    assertError(`stages:\n  - kind: ingest\n    options: {split: unlabeled}\n`, /stages\[0\]\.options\.prefix: required/);
    assertError(`stages:\n  - kind: ingest\n    options: {prefix: p/}\n`, /stages\[0\]\.options\.split: required \(one of labeled, unlabeled, test\)/);
    for (const split of ['labeled', 'test']) {
      assertError(`stages:\n  - kind: ingest\n    options: {prefix: p/, split: ${split}}\n`, `${FILE}: stages[0].options.annotations: required for a ${split} split (the COCO file giving its ground truth)`);
    }
    assertError(`stages:\n  - kind: student\n    options: {evalEvery: 0}\n`, /stages\[0\]\.options\.checkpointPrefix: required/);
    assertError(`stages:\n  - kind: student\n    options: {checkpointPrefix: p}\n`, /stages\[0\]\.options\.evalAnnotations: required when evalEvery > 0/);
    // Without evaluation, no annotations are needed.
    const t = compile(`stages:\n  - kind: student\n    options: {checkpointPrefix: p, evalEvery: 0}\n`);
    assert.equal(stage(t, 'student').options.evalAnnotations, '');
  });

  it('stage kinds, stage lists and the top level', () => {
    assertError(`stages:\n  - kind: techer\n`, `${FILE}: stages[0].kind: expected one of ingest, teacher, student, got "techer"`);
    assertError(`stages: []\n`, /^topologies\/x\.yaml: stages: expected a non-empty list of stages/);
    assertError(`name: x\n`, /^topologies\/x\.yaml: stages: required/);
    assertError(`- a\n- b\n`, /^topologies\/x\.yaml: expected a mapping/);
    assertError(`stages:\n  - just-a-string\n`, /stages\[0\]: expected a mapping/);
    assertError(`name: has space\n${MINIMAL}`, /^topologies\/x\.yaml: name: expected a name of letters/);
  });

  it('parallelism rules and clashing resources', () => {
    assertError(MINIMAL.replace('kind: teacher', 'kind: teacher\n    parallelism: 0'), `${FILE}: stages[0].parallelism: expected a positive integer, got 0`);
    assertError(FULL.replace('name: student\n    kind: student', 'name: student\n    kind: student\n    parallelism: 2'), /stages\[2\]\.parallelism: a student trains one model and must run alone/);
    assertError(FULL.replace('name: ingest\n    kind: ingest', 'name: ingest\n    kind: ingest\n    parallelism: 2'), /stages\[0\]\.parallelism: an ingest stage lists its prefix in order/);
    const twoStudents = `${FULL}  - name: baseline\n    kind: student\n    options: { checkpointPrefix: runs/x/student, evalEvery: 0, labeledOnly: true }\n`;
    assertError(twoStudents, /stages\[3\]\.options\.checkpointPrefix: "runs\/x\/student" is also used by stages\[2\]/);
    assertError(`topics: {samples: {name: distillery.images}}\n${MINIMAL}`, /topics\.samples\.name: topic "distillery\.images" is already used by role images/);
    assertError(FULL.replace('evalAnnotations', 'bufferSize: 4, evalAnnotations'), /stages\[2\]\.options\.bufferSize: must hold at least one batch \(batchSize 8\), got 4/);
  });

  it('reports every problem at once', () => {
    const lines = errorLines(`loss: {lambda: -1}\nthresholds: {hardLabel: 2}\nstages:\n  - kind: teacher\n    options: {batchSize: 0}\n`);
    assert.deepEqual(lines, [
      `${FILE}: thresholds.hardLabel: expected a number in [0, 1], got 2`,
      `${FILE}: loss.lambda: expected a non-negative number, got -1`,
      `${FILE}: stages[0].options.checkpoint: required (the store prefix of the teacher checkpoint (model.json + shards))`,
      `${FILE}: stages[0].options.batchSize: expected a positive integer, got 0`,
    ]);
  });
});

describe('compileTopology model', () => {
  it('builds teacher and student from presets over the shared block', () => {
    const t = compile(`
model:
  numClasses: 7
  inputSize: 256
  anchors: {levels: [3, 4, 5, 6], ratios: [1, 2], scalesPerOctave: 2}
  teacher: {preset: teacher, fpnChannels: 96}
  student: {preset: student, headDepth: 2, stageChannels: [8, 16, 24, 32], name: tiny}
${MINIMAL}`);
    for (const d of [t.teacher, t.student]) {
      assert.equal(d.numClasses, 7);
      assert.equal(d.inputSize, 256);
      assert.deepEqual(d.levels, [3, 4, 5, 6]);
      assert.deepEqual(d.anchorRatios, [1, 2]);
      assert.equal(d.anchorScalesPerOctave, 2);
      assert.equal(d.anchorSizeFactor, 4);
    }
    assert.equal(t.teacher.fpnChannels, 96);
    assert.equal(t.teacher.stemChannels, TEACHER_PRESET.stemChannels);
    assert.equal(t.student.headDepth, 2);
    assert.deepEqual(t.student.stageChannels, [8, 16, 24, 32]);
    assert.equal(t.student.name, 'tiny');
    assert.deepEqual(t.anchors, { levels: [3, 4, 5, 6], sizeFactor: 4, ratios: [1, 2], scalesPerOctave: 2 });
  });

  it("gives a student with a step budget its preset's peak learning rate unless the topology sets one", () => {
    const lr = (student: string, options: string): number =>
      stage(compile(FULL.replace('name: full', `name: full\nmodel: {student: ${student}}`).replace('evalAnnotations: corpus/test/annotations.json', `evalAnnotations: corpus/test/annotations.json${options}`)), 'student').options.learningRate;
    assert.equal(lr('{preset: student}', ', steps: 2000'), STUDENT_PEAK_LEARNING_RATES.student);
    assert.equal(lr('{}', ', steps: 2000'), 8e-3, 'the default student');
    // student-large does not train reliably at the default student's peak (docs/results.md).
    assert.equal(lr('{preset: student-large}', ', steps: 2000'), 4e-3);
    assert.equal(lr('{preset: student-large, headDepth: 2}', ', steps: 10'), 4e-3, 'architecture fields over the preset keep its rate');
    // A continuous student (no decay) keeps the conservative default, whatever its preset.
    assert.equal(lr('{preset: student-large}', ''), DEFAULT_STUDENT_OPTIONS.learningRate);
    assert.equal(lr('{preset: student}', ', steps: 0'), 1e-3);
    // The topology's own rate wins, also when it comes from --set.
    assert.equal(lr('{preset: student-large}', ', steps: 2000, learningRate: 0.002'), 0.002);
    const set = compile(FULL, { overrides: ['model.student.preset=student-large', 'stages.student.options.steps=50'] });
    assert.equal(set.studentPreset, 'student-large');
    assert.equal(set.student.name, 'student-large', 'an unnamed model is named after its preset');
    assert.equal(set.teacher.name, 'teacher');
    assert.equal(compile(FULL, { overrides: ['model.student.preset=student-large', 'model.student.name=mine'] }).student.name, 'mine');
    assert.equal(stage(set, 'student').options.learningRate, 4e-3);
  });

  it('allows repeating a shared field with the same value, refuses a different one', () => {
    const same = compile(`model: {numClasses: 5, student: {numClasses: 5}, teacher: {levels: [3, 4, 5]}}\n${MINIMAL}`);
    assert.equal(same.student.numClasses, 5);
    assertError(
      `model: {numClasses: 5, student: {numClasses: 6}}\n${MINIMAL}`,
      `${FILE}: model.student.numClasses: 6 differs from model.numClasses (5); teacher and student share it, set it there`,
    );
    assertError(`model: {teacher: {anchorRatios: [1]}}\n${MINIMAL}`, /model\.teacher\.anchorRatios: \[1\] differs from model\.anchors\.ratios \(\[0\.5,1,2\]\)/);
    assertError(`model: {student: {inputSize: 256}}\n${MINIMAL}`, /model\.student\.inputSize: 256 differs from model\.inputSize \(128\)/);
  });

  it('checks the input size against the largest stride, and the anchor layout', () => {
    assertError(`model: {inputSize: 100}\n${MINIMAL}`, `${FILE}: model.inputSize: must be a multiple of the largest stride 32 (levels up to P5), got 100`);
    assertError(`model: {inputSize: 160, anchors: {levels: [3, 4, 5, 6]}}\n${MINIMAL}`, /model\.inputSize: must be a multiple of the largest stride 64/);
    assertError(`model: {anchors: {levels: [5, 4]}}\n${MINIMAL}`, /^topologies\/x\.yaml: model\.anchors\.levels: must be strictly increasing/);
    assertError(`model: {anchors: {levels: [3, 9]}}\n${MINIMAL}`, /model\.anchors\.levels: expected a list of pyramid levels between 2 and 7/);
    assertError(`model: {student: {preset: huge}}\n${MINIMAL}`, `${FILE}: model.student.preset: expected one of teacher, student, student-large, got "huge"`);
    assertError(`model: {student: {stageChannels: [1, 2]}}\n${MINIMAL}`, /model\.student\.stageChannels: expected a list of 4 positive integers/);
    assertError(`model: {student: {widthh: 3}}\n${MINIMAL}`, /model\.student\.widthh: unknown key/);
  });
});

describe('compileTopology overrides', () => {
  it('applies --set before substitution and validation', () => {
    const t = compile(FULL, {
      overrides: ['stages.student.options.steps=50', 'stages.teacher.parallelism=2', 'topics.images.partitions=${P:-3}', 'thresholds.hardLabel=0.6'],
    });
    assert.equal(stage(t, 'student').options.steps, 50);
    assert.equal(stage(t, 'teacher').parallelism, 2);
    assert.equal(t.topics.images.partitions, 3);
    assert.equal(t.thresholds.hardLabel, 0.6);
    const fineTune = compile(FULL, { overrides: ['stages.student.options.initLearningRate=0.0003', 'stages.student.options.initWarmupSteps=20'] });
    assert.deepEqual([stage(fineTune, 'student').options.initLearningRate, stage(fineTune, 'student').options.initWarmupSteps], [3e-4, 20]);
  });

  it('validates overridden values with the field path', () => {
    assertError(FULL, `${FILE}: stages[2].options.steps: expected a non-negative integer, got "many"`, { overrides: ['stages.student.options.steps=many'] });
    // The fine-tune schedule of a student started from a saved model: optional, validated like learningRate / warmupSteps.
    assertError(FULL, `${FILE}: stages[2].options.initLearningRate: expected a positive number, got 0`, { overrides: ['stages.student.options.initLearningRate=0'] });
    assertError(FULL, `${FILE}: stages[2].options.initWarmupSteps: expected a non-negative integer, got -1`, { overrides: ['stages.student.options.initWarmupSteps=-1'] });
  });

  it('names the bad override', () => {
    assertError(FULL, /^--set: stages\.pupil\.options\.steps=5: stages has no element named "pupil"/, { overrides: ['stages.pupil.options.steps=5'] });
  });
});

describe('shipped topologies', () => {
  it('embedded.yaml compiles to the one-machine job', async () => {
    const t = await loadTopology('topologies/embedded.yaml', { env: {} });
    assert.equal(t.name, 'embedded');
    assert.deepEqual(t.transport, { kind: 'memory', capacity: 256 });
    assert.deepEqual(t.store, { kind: 'local', root: 'data' });
    assert.equal(t.student.numClasses, 4);
    assert.equal(t.student.inputSize, 128);
    // The default student is the larger preset, at its own peak learning rate (docs/results.md).
    assert.equal(t.studentPreset, 'student-large');
    assert.equal(stage(t, 'student').options.learningRate, 4e-3);
    const ingests = t.stages.filter((s) => s.kind === 'ingest');
    assert.deepEqual(
      ingests.map((s) => [s.options.prefix, s.options.split, s.options.annotations]),
      [
        ['corpus/labeled/images/', 'labeled', 'corpus/labeled/annotations.json'],
        ['corpus/unlabeled/images/', 'unlabeled', undefined],
      ],
    );
    assert.equal(stage(t, 'teacher').options.checkpoint, 'models/teacher');
    assert.equal(stage(t, 'student').options.checkpointPrefix, 'runs/latest/student');
    assert.equal(stage(t, 'student').options.evalAnnotations, 'corpus/test/annotations.json');
    const run = await loadTopology('topologies/embedded.yaml', { env: { DISTILLERY_RUN_ID: 'abc' } });
    assert.equal(stage(run, 'student').options.checkpointPrefix, 'runs/abc/student');
    // Each run keeps its own ingest cursors: two runs on one store do not move each other's listing position.
    assert.deepEqual(
      run.stages.filter((s) => s.kind === 'ingest').map((s) => s.options.cursorPrefix),
      ['runs/abc/ingest', 'runs/abc/ingest'],
    );
  });

  it('distributed.yaml compiles with defaults and with the environment', async () => {
    const t = await loadTopology('topologies/distributed.yaml', { env: {} });
    assert.deepEqual(t.transport, { kind: 'kafka', brokers: ['127.0.0.1:9092'], clientId: 'distillery' });
    assert.deepEqual(t.store, { kind: 's3', bucket: 'distillery', region: 'us-east-1', forcePathStyle: true });
    assert.equal(t.topics.images.partitions, 2);
    assert.equal(t.topics.samples.partitions, 2);
    const env = { KAFKA_BROKERS: 'k:1,k:2', S3_BUCKET: 'other', S3_ENDPOINT: 'http://127.0.0.1:7070', AWS_REGION: 'eu-west-1' };
    const withEnv = await loadTopology('topologies/distributed.yaml', { env });
    assert.deepEqual(withEnv.transport, { kind: 'kafka', brokers: ['k:1', 'k:2'], clientId: 'distillery' });
    assert.deepEqual(withEnv.store, { kind: 's3', bucket: 'other', endpoint: 'http://127.0.0.1:7070', region: 'eu-west-1', forcePathStyle: true });
    assert.equal(stage(withEnv, 'ingest').options.bucket, 'other');
  });

  it('loadTopology names an unreadable file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'topology-'));
    try {
      const missing = path.join(dir, 'missing.yaml');
      await assert.rejects(loadTopology(missing), (err: unknown) => err instanceof TopologyError && err.message === `${missing}: cannot read topology: no such file`);
      const bad = path.join(dir, 'bad.yaml');
      await writeFile(bad, 'stages:\n  - kind: teacher\n    options: {checkpoint: m, batchSize: eight}\n');
      await assert.rejects(loadTopology(bad, { env: {} }), (err: unknown) => err instanceof TopologyError && err.message === `${bad}: stages[0].options.batchSize: expected a positive integer, got "eight"`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// `distillery train` (src/cli/train.ts) end to end on a tiny topology (local store and the real S3 server), plus how flags and topology resolve into a plan.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { initBackend } from '../../src/backend/backend.ts';
import { uploadDirectory } from '../../src/cli/store.ts';
import { runPseudoLabel } from '../../src/cli/pseudo_label.ts';
import { planTraining, TEACHER_LEARNING_RATE, trainCommand, type TrainCommandIo } from '../../src/cli/train.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { S3Store } from '../../src/io/s3_store.ts';
import { compileTopology } from '../../src/topology/index.ts';
import { readLatest } from '../../src/train/checkpoint.ts';
import { useTestBucket } from '../helpers/s3.ts';
import { makeScenes, renderJpeg, tempStore, writeSplit, type TempStore } from './fixtures.ts';

let tmp: TempStore;
let topologyFile: string;
const bucket = useTestBucket();

/** The tiny topology on the test bucket instead of a local directory. */
function s3TopologyYaml(bucketName: string): string {
  return topologyYaml('unused').replace(/^ {2}store: .*$/m, `  store: { kind: s3, bucket: ${bucketName}, endpoint: '\${S3_ENDPOINT}' }`);
}

function topologyYaml(root: string): string {
  return `
name: tiny
config:
  backend: cpu
  store: { kind: local, root: ${JSON.stringify(root)} }
model:
  numClasses: 2
  inputSize: 32
  anchors: { levels: [3, 4, 5], sizeFactor: 2, ratios: [0.5, 1, 2], scalesPerOctave: 3 }
  teacher: { preset: teacher, stemChannels: 4, stageChannels: [4, 8, 8, 8], blocksPerStage: 1, fpnChannels: 8, headDepth: 1 }
  student: { preset: student, stemChannels: 4, stageChannels: [4, 4, 4, 4], blocksPerStage: 1, fpnChannels: 4, headDepth: 0 }
stages:
  - name: ingest-labeled
    kind: ingest
    options: { prefix: corpus/labeled/images/, split: labeled, annotations: corpus/labeled/annotations.json }
  - name: teacher
    kind: teacher
    options: { checkpoint: models/teacher }
  - name: student
    kind: student
    options:
      steps: 4
      batchSize: 3
      learningRate: 0.01
      warmupSteps: 1
      checkpointEvery: 2
      checkpointPrefix: runs/t/student
      evalEvery: 0
      evalAnnotations: corpus/test/annotations.json
`;
}

before(async () => {
  await initBackend('cpu');
  tmp = await tempStore();
  await writeSplit(tmp.store, 'corpus/labeled', makeScenes(5));
  await writeSplit(tmp.store, 'corpus/test', makeScenes(3, 40));
  topologyFile = path.join(tmp.root, 'tiny.yaml');
  await writeFile(topologyFile, topologyYaml(tmp.root));
});

after(async () => {
  await tmp.cleanup();
});

function buffers(): { io: TrainCommandIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s), isTTY: false } }, out: () => out, err: () => err };
}

async function run(args: string[]): Promise<{ out: string; err: string }> {
  const b = buffers();
  const command = trainCommand(b.io).exitOverride();
  await command.parseAsync(args, { from: 'user' });
  return { out: b.out(), err: b.err() };
}

test('train teacher: trains, saves model.json at the teacher checkpoint, prints the COCO summary; --resume continues', async () => {
  const first = await run(['teacher', '--topology', topologyFile, '--steps', '3']);
  assert.match(first.out, /teacher: step 3\/3; 3 steps in/);
  assert.match(first.out, /model saved to .*models\/teacher\/model\.json/);
  assert.match(first.out, /Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= {3}all \| maxDets=100 \] = \d\.\d{3}/);
  assert.match(first.out, /COCO evaluation on corpus\/test\/annotations\.json \(3 images\)/);
  assert.match(first.err, /labeled split: 5 images/);
  assert.match(first.err, /step 3\/3 loss \d/);
  assert.ok(await tmp.store.head('models/teacher/model.json'));
  assert.equal((await readLatest(tmp.store, 'models/teacher/training'))?.step, 3);

  await assert.rejects(run(['teacher', '--topology', topologyFile, '--steps', '5']), /already holds a checkpoint at step 3/);
  const resumed = await run(['teacher', '--topology', topologyFile, '--steps', '5', '--resume']);
  assert.match(resumed.out, /step 5\/5, resumed from 3; 2 steps/);
  assert.match(resumed.err, /resuming at step 3/);
  assert.equal((await readLatest(tmp.store, 'models/teacher/training'))?.step, 5);
});

test('train teacher --init-from starts from a saved model\'s weights; --augment shift trains with the domain-shift look', async () => {
  // Another seed than the runs below, so a fresh run starts from other random weights than this model's.
  await run(['teacher', '--topology', topologyFile, '--steps', '1', '--seed', '5', '--out', 'init/teacher']);
  // One step at a vanishing learning rate: the saved model is the one it started from; without --init-from a fresh random one.
  const still = ['--steps', '1', '--lr', '1e-12', '--warmup', '0'];
  await run(['teacher', '--topology', topologyFile, ...still, '--init-from', 'init/teacher', '--out', 'init/copied']);
  await run(['teacher', '--topology', topologyFile, ...still, '--out', 'init/fresh']);
  const weights = async (prefix: string): Promise<Float32Array> => {
    const bytes = await tmp.store.get(`${prefix}/group1-shard1of1.bin`);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  };
  const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  const init = await weights('init/teacher');
  assert.ok(maxDiff(await weights('init/copied'), init) < 1e-6);
  assert.ok(maxDiff(await weights('init/fresh'), init) > 1e-2);
  const shifted = await run(['teacher', '--topology', topologyFile, '--steps', '2', '--init-from', 'init/teacher', '--augment', 'shift', '--out', 'init/shifted']);
  assert.match(shifted.out, /teacher: step 2\/2; 2 steps in/);
  const card = JSON.parse(new TextDecoder().decode(await tmp.store.get('init/shifted/model.json'))) as { userDefinedMetadata: { distillery: Record<string, unknown> } };
  assert.deepEqual([card.userDefinedMetadata.distillery.initFrom, card.userDefinedMetadata.distillery.augment, card.userDefinedMetadata.distillery.trainedSteps], ['init/teacher', 'shift', 2]);
  await assert.rejects(run(['teacher', '--topology', topologyFile, '--steps', '1', '--init-from', 'init/missing', '--out', 'init/x']), /init\/missing/);
});

test('train student needs --labeled-only and then trains the student preset next to the student checkpoints', async () => {
  await assert.rejects(run(['student', '--topology', topologyFile]), /pass --labeled-only/);
  const result = await run(['student', '--topology', topologyFile, '--labeled-only', '--steps', '2', '--test', 'corpus/labeled/annotations.json']);
  assert.match(result.out, /student \(labeled only\): step 2\/2/);
  assert.match(result.out, /COCO evaluation on corpus\/labeled\/annotations\.json \(5 images\)/);
  const saved = JSON.parse(new TextDecoder().decode(await tmp.store.get('runs/t/student-labeled-only/model.json'))) as {
    userDefinedMetadata: { distillery: { detector: { name: string; fpnChannels: number }; trainedSteps: number } };
  };
  assert.equal(saved.userDefinedMetadata.distillery.detector.name, 'student');
  assert.equal(saved.userDefinedMetadata.distillery.detector.fpnChannels, 4);
  assert.equal(saved.userDefinedMetadata.distillery.trainedSteps, 2);
});

test('plans take the topology\'s settings, flags win, and missing pieces are named', () => {
  const topology = compileTopology(topologyYaml(tmp.root), 'tiny.yaml', { env: {} });
  const plan = planTraining(topology, 'teacher', { topology: 'tiny.yaml' });
  assert.equal(plan.out, 'models/teacher');
  assert.equal(plan.checkpointPrefix, 'models/teacher/training');
  assert.deepEqual(plan.labeled, ['corpus/labeled/annotations.json']);
  assert.equal(plan.test, 'corpus/test/annotations.json');
  // The student stage's settings, except the peak learning rate: the teacher's own unless --lr says otherwise.
  assert.deepEqual([plan.steps, plan.batchSize, plan.learningRate, plan.warmupSteps, plan.checkpointEvery], [4, 3, TEACHER_LEARNING_RATE, 1, 2]);
  assert.equal(planTraining(topology, 'teacher', { topology: 'tiny.yaml', lr: 0.02 }).learningRate, 0.02);
  assert.equal(planTraining(topology, 'student', { topology: 'tiny.yaml', labeledOnly: true }).learningRate, 0.01);
  assert.equal(plan.detector.name, 'teacher');
  assert.equal(plan.backend, 'cpu');
  assert.ok(plan.store instanceof LocalStore && plan.store.root === path.resolve(tmp.root));
  assert.deepEqual(plan.postprocess, { scoreThreshold: 0.05, topKPerLevel: 1000, nmsIou: 0.5, maxDetections: 100 });
  const strict = compileTopology(topologyYaml(tmp.root), 'tiny.yaml', { env: {}, overrides: ['thresholds.candidate=0.2'] });
  assert.equal(planTraining(strict, 'teacher', { topology: 'tiny.yaml' }).postprocess.scoreThreshold, 0.2);

  const flagged = planTraining(topology, 'student', { topology: 'x', labeledOnly: true, steps: 9, out: 'elsewhere', store: '/tmp/other', seed: 3, resume: true });
  assert.deepEqual([flagged.steps, flagged.out, flagged.seed, flagged.resume, flagged.detector.name], [9, 'elsewhere', 3, true, 'student']);
  assert.deepEqual(plan.trainer, { thread: true, replicas: 1 }, "the student stage's training thread settings");
  const replicated = compileTopology(topologyYaml(tmp.root), 'tiny.yaml', { env: {}, overrides: ['stages.student.options.trainingReplicas=2'] });
  assert.deepEqual(planTraining(replicated, 'student', { topology: 'x', labeledOnly: true }).trainer, { thread: true, replicas: 2 });
  // The student's trainingBackend trains its baseline, unless --backend chose one; never the teacher.
  const onWasm = compileTopology(topologyYaml(tmp.root), 'tiny.yaml', { env: {}, overrides: ['stages.student.options.trainingBackend=auto'] });
  assert.deepEqual(planTraining(onWasm, 'student', { topology: 'x', labeledOnly: true }).trainer, { thread: true, replicas: 1, backend: 'auto' });
  assert.deepEqual(planTraining(onWasm, 'student', { topology: 'x', labeledOnly: true, backend: 'cpu' }).trainer, { thread: true, replicas: 1 });
  assert.deepEqual(planTraining(onWasm, 'teacher', { topology: 'x' }).trainer, { thread: true, replicas: 1 });
  assert.equal((flagged.store as LocalStore).root, '/tmp/other');

  const noLabeled = compileTopology(topologyYaml(tmp.root).replace(/ {2}- name: ingest-labeled\n.*\n.*\n/, ''), 'bare.yaml', { env: {} });
  assert.throws(() => planTraining(noLabeled, 'teacher', { topology: 'bare.yaml' }), /bare\.yaml: no labeled split .* pass --labeled <key>/);
  assert.deepEqual(planTraining(noLabeled, 'teacher', { topology: 'bare.yaml', labeled: ['k.json'] }).labeled, ['k.json']);
});

test('self-training: pseudo-label writes a teacher\'s detections next to the images; train takes it beside the labeled split', async () => {
  await run(['teacher', '--topology', topologyFile, '--steps', '2', '--lr', '0.01', '--out', 'self/teacher']);
  const unlabeled = makeScenes(4, 60);
  await writeSplit(tmp.store, 'corpus/unlabeled', unlabeled);
  await tmp.store.put('corpus/unlabeled/images/broken.jpg', (await renderJpeg(unlabeled[0])).subarray(0, 30));
  const b = buffers();
  // The tiny teacher scores about its prior (0.01): thresholds around it give both objects and regions.
  const flags = { topology: topologyFile, model: 'self/teacher', out: 'corpus/unlabeled/pseudo.json', threshold: 0.0105, ignoreFrom: 0.0095, batchSize: 2 };
  const summary = await runPseudoLabel(['corpus/unlabeled/images/'], flags, b.io);
  assert.equal(summary.images, 4);
  assert.equal(summary.errors, 1);
  assert.match(b.err(), /error: corpus\/unlabeled\/images\/broken\.jpg: /);
  assert.match(b.out(), new RegExp(`pseudo-label: 4 images, ${summary.withObjects} with objects .* ${summary.objects} objects, ${summary.ignoreRegions} ignore regions, 1 unreadable`));
  const file = JSON.parse(new TextDecoder().decode(await tmp.store.get('corpus/unlabeled/pseudo.json'))) as {
    images: Array<{ id: number; file_name: string }>;
    annotations: Array<{ image_id: number; category_id: number; iscrowd: number; score: number }>;
    categories: Array<{ id: number }>;
    info: { model: string; threshold: number };
  };
  assert.deepEqual(file.images.map((im) => im.file_name).sort(), unlabeled.map((im) => `images/${im.id}.jpg`).sort());
  assert.deepEqual(file.categories.map((c) => c.id).sort((x, y) => x - y), [3, 7]);
  assert.deepEqual([file.info.model, file.info.threshold], ['self/teacher', 0.0105]);
  assert.ok(summary.objects > 0 && summary.ignoreRegions > 0, `objects ${summary.objects}, regions ${summary.ignoreRegions}: pick thresholds around the tiny model's scores`);
  for (const a of file.annotations) {
    assert.ok(a.iscrowd === 0 ? a.score >= 0.0105 : a.score >= 0.0095 && a.score < 0.0105, JSON.stringify(a));
    assert.ok([3, 7].includes(a.category_id));
  }

  const trained = await run(['teacher', '--topology', topologyFile, '--steps', '2', '--init-from', 'self/teacher', '--out', 'self/adapted',
    '--labeled', 'corpus/labeled/annotations.json', '--labeled', 'corpus/unlabeled/pseudo.json']);
  assert.match(trained.err, /labeled split: 5 images/);
  assert.match(trained.err, /labeled split: 4 images/);
  assert.match(trained.out, /teacher: step 2\/2/);
  const card = JSON.parse(new TextDecoder().decode(await tmp.store.get('self/adapted/model.json'))) as { userDefinedMetadata: { distillery: { labeled: unknown } } };
  assert.deepEqual(card.userDefinedMetadata.distillery.labeled, ['corpus/labeled/annotations.json', 'corpus/unlabeled/pseudo.json']);

  // Images outside the annotation file's folder cannot be named relative to it; the thresholds must be ordered.
  await assert.rejects(runPseudoLabel(['corpus/labeled/images/'], flags, buffers().io), /must be objects of the store under the folder of --out/);
  await assert.rejects(runPseudoLabel(['corpus/unlabeled/images/'], { ...flags, ignoreFrom: 0.2 }, buffers().io), /--ignore-from 0.2 must be below the threshold 0.0105/);
});

test('plans open the topology\'s S3 store; --store <dir> still overrides it with a local one', () => {
  const topology = compileTopology(s3TopologyYaml('some-bucket'), 's3.yaml', { env: { S3_ENDPOINT: 'http://127.0.0.1:7070' } });
  const plan = planTraining(topology, 'teacher', { topology: 's3.yaml' });
  assert.ok(plan.store instanceof S3Store);
  assert.equal(plan.store.options.bucket, 'some-bucket');
  assert.equal(plan.store.describe(), 'http://127.0.0.1:7070/some-bucket');
  plan.store.close();
  const local = planTraining(topology, 'teacher', { topology: 's3.yaml', store: '/tmp/other' });
  assert.ok(local.store instanceof LocalStore && local.store.root === '/tmp/other');
});

test('train teacher on an S3 store: reads the uploaded split, checkpoints and saves model.json into the bucket', async () => {
  const store = bucket.store();
  await uploadDirectory(store, path.join(tmp.root, 'corpus'), 'corpus');
  const file = path.join(tmp.root, 's3.yaml');
  await writeFile(file, s3TopologyYaml(bucket.name));
  const result = await run(['teacher', '--topology', file, '--steps', '2', '--checkpoint-every', '1']);
  assert.match(result.out, /teacher: step 2\/2; 2 steps in/);
  assert.match(result.out, new RegExp(`model saved to http://.*/${bucket.name}/models/teacher/model\\.json`));
  assert.match(result.out, /COCO evaluation on corpus\/test\/annotations\.json \(3 images\)/);
  assert.ok(await store.head('models/teacher/model.json'));
  assert.equal((await readLatest(store, 'models/teacher/training'))?.step, 2);
});

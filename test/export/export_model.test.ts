// export → plain-tfjs graph model: same outputs and detections as the checkpoint, and a card that says where it came from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { runDetect } from '../../src/cli/detect.ts';
import { runExport } from '../../src/cli/export.ts';
import { generateCorpus } from '../../src/corpus/generate.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { BOX_OUTPUT, CLASS_OUTPUT, disposeLayersModel, forward, preprocessImages } from '../../src/model/detector.ts';
import type { ModelCard } from '../../src/model/model_card.ts';
import { loadDetector } from '../../src/model/store_io.ts';
import { ResumableAdam } from '../../src/train/adam.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';
import { emptyHistory } from '../../src/train/history.ts';
import { DEFAULT_OBJECTIVE } from '../../src/train/objective.ts';
import { TEST_THRESHOLDS } from '../stages/ingest/topology_fixture.ts';

await initBackend('cpu');

const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-export-'));
test.after(() => rm(dir, { recursive: true, force: true }));
const corpus = path.join(dir, 'corpus');
await generateCorpus(new LocalStore({ root: corpus }), { seed: 4, images: { labeled: 1, test: 5, unlabeled: 1 }, workers: 0 });
const images = path.join(corpus, 'test', 'images');
const annotations = path.join(corpus, 'test', 'annotations.json');
// The evaluation defaults: detect applies an exported card's thresholds, and the checkpoint's run used these.
const THRESHOLDS = { ...TEST_THRESHOLDS, topKPerLevel: 1000, maxDetections: 100 };

/** A checkpoint as the student stage writes it, with the bundled teacher's weights so the detections are real. */
async function writeCheckpoint(root: string): Promise<void> {
  const store = new LocalStore({ root });
  const detector = await loadDetector(new LocalStore({ root: path.resolve('models/teacher') }), '');
  const optimizer = new ResumableAdam({ learningRate: 1e-3 });
  try {
    await saveCheckpoint(store, 'student', detector, optimizer, {
      step: 120,
      offsets: { 'distillery.samples:0': '4410' },
      rng: { draw: 1 },
      history: emptyHistory(),
      extra: { teachers: ['sha256:abc'], teacherModels: [{ id: 'teacher@models/teacher', hash: 'sha256:abc' }], thresholds: THRESHOLDS, loss: { ...DEFAULT_OBJECTIVE, lambda: 0.5 } },
    });
  } finally {
    optimizer.dispose();
    disposeLayersModel(detector.model);
  }
}

/** Loads model.json + shards from disk with nothing but @tensorflow/tfjs (no distillery model code). */
async function loadWithPlainTfjs(modelDir: string): Promise<tf.GraphModel> {
  const json = JSON.parse(await readFile(path.join(modelDir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  return tf.loadGraphModel({
    load: () =>
      tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const buffers = await Promise.all(manifest.flatMap((g) => g.paths).map(async (p) => new Uint8Array(await readFile(path.join(modelDir, p)))));
        const joined = tf.io.concatenateArrayBuffers(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
        return [manifest.flatMap((g) => g.weights), joined];
      }),
  });
}

test('export writes a graph model that plain tfjs runs with the checkpoint\'s outputs and detections, and a complete card', async () => {
  const run = path.join(dir, 'run');
  await writeCheckpoint(run);
  const out = path.join(dir, 'exported');
  const before = tf.memory().numTensors;
  await runExport({ checkpoint: path.join(run, 'student'), out, test: annotations }, { stdout: { write: () => true }, stderr: { write: () => true } });
  assert.equal(tf.memory().numTensors, before, 'export leaves no tensors behind');

  const modelJson = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')) as { format: string };
  assert.equal(modelJson.format, 'graph-model');

  // Raw outputs: plain-tfjs graph model vs the checkpoint's layers model on the same preprocessed input.
  const graph = await loadWithPlainTfjs(out);
  const checkpoint = await loadDetector(new LocalStore({ root: run }), 'student/step-120');
  try {
    const [dc, db] = tf.tidy(() => {
      const x = preprocessImages(tf.randomUniform([2, 128, 128, 3], 0, 255, 'int32', 5) as tf.Tensor4D);
      const ref = forward(checkpoint, x);
      const [c, b] = graph.execute(x, [CLASS_OUTPUT, BOX_OUTPUT]) as tf.Tensor[];
      return [ref.classLogits.sub(c).abs().max(), ref.boxDeltas.sub(b).abs().max()];
    });
    const diffs = [(await dc.data())[0], (await db.data())[0]];
    tf.dispose([dc, db]);
    assert.ok(diffs[0] < 1e-4 && diffs[1] < 1e-4, `max |Δ| ${diffs.join(', ')}`);
  } finally {
    graph.dispose();
    disposeLayersModel(checkpoint.model);
  }

  // Detections: `detect` on the exported model equals `detect` on the checkpoint prefix.
  const capture = async (model: string): Promise<Array<{ image_id: number; category_id: number; bbox: number[]; score: number }>> => {
    let text = '';
    await runDetect([images], { model, annotations }, { stdout: { write: (t: string) => ((text += t), true) }, stderr: { write: () => true } });
    return JSON.parse(text) as Array<{ image_id: number; category_id: number; bbox: number[]; score: number }>;
  };
  const [fromExport, fromCheckpoint] = [await capture(out), await capture(path.join(run, 'student'))];
  assert.ok(fromCheckpoint.length > 0);
  assert.equal(fromExport.length, fromCheckpoint.length);
  fromCheckpoint.forEach((r, i) => {
    const e = fromExport[i];
    assert.equal(e.image_id, r.image_id);
    assert.equal(e.category_id, r.category_id);
    assert.ok(Math.abs(e.score - r.score) < 1e-4 && r.bbox.every((v, k) => Math.abs(v - e.bbox[k]) < 1e-3), `detection ${i}`);
  });

  const card = JSON.parse(await readFile(path.join(out, 'model-card.json'), 'utf8')) as ModelCard;
  assert.equal(card.format, 'graph-model');
  assert.equal(card.source.step, 120);
  assert.ok(card.source.checkpoint.endsWith('/run/student/step-120'), card.source.checkpoint);
  assert.deepEqual(card.teachers, [{ id: 'teacher@models/teacher', hash: 'sha256:abc' }]);
  assert.deepEqual(card.thresholds, THRESHOLDS);
  assert.equal(card.loss?.lambda, 0.5);
  assert.deepEqual(card.training, { steps: 120, offsets: { 'distillery.samples:0': '4410' } });
  assert.ok(card.evaluation !== null && card.evaluation.AP > 0.1 && card.evaluation.images === 5, `evaluated on the test split: ${JSON.stringify(card.evaluation)}`);
  assert.ok(card.parameters > 100_000 && card.flopsPerImage > 1e6);
  assert.deepEqual(card.anchors.ratios, [0.5, 1, 2]);
  assert.equal(card.input.size, 128);
  assert.deepEqual(card.classes.map((c) => c.name), ['circle', 'square', 'diamond', 'triangle']);
});

test('export refuses what is not a student checkpoint', async () => {
  const io = { stdout: { write: () => true }, stderr: { write: () => true } };
  await assert.rejects(runExport({ checkpoint: path.resolve('models/teacher'), out: path.join(dir, 'x') }, io), /without state\.json or model-card\.json/);
  await assert.rejects(runExport({ checkpoint: corpus, out: path.join(dir, 'y') }, io), /not a checkpoint/);
});

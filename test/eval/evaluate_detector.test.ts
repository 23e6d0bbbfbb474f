import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import type { Box } from '../../src/boxes/box.ts';
import { evaluateDetector, evaluateInputDetections, toOriginalDetections } from '../../src/eval/evaluate_detector.ts';
import { toInputBox } from '../../src/image/letterbox.ts';
import { buildDetector } from '../../src/model/detector.ts';
import { resolveDetectorConfig } from '../../src/model/detector_config.ts';
import type { Detection } from '../../src/postprocess/detections.ts';
import { loadCocoDataset, type DetectionDataset } from '../../src/train/dataset.ts';
import { makeScenes, tempStore, TINY_DETECTOR, writeSplit, type TempStore } from '../train/fixtures.ts';

let tmp: TempStore;
let dataset: DetectionDataset;
const scenes = makeScenes(6);

before(async () => {
  await initBackend('cpu');
  tmp = await tempStore();
  await writeSplit(tmp.store, 'test', scenes);
  dataset = await loadCocoDataset(tmp.store, 'test/annotations.json', { inputSize: 32 });
});

after(async () => {
  await tmp.cleanup();
});

/** Ground truth of every image as detections in model-input pixels (what a perfect detector would output). */
function perfect(shift = 0): Map<number, Detection[]> {
  const out = new Map<number, Detection[]>();
  for (const im of dataset.images) {
    out.set(
      im.id,
      im.boxes.map((b, i) => ({ box: [b[0] + shift, b[1], b[2] + shift, b[3]] as Box, score: 0.9 - 0.1 * i, classId: im.classIds[i] })),
    );
  }
  return out;
}

test('ground truth fed back as input-pixel detections scores AP = AR = 1 in original pixels', () => {
  const { metrics, detections } = evaluateInputDetections(dataset, perfect());
  assert.ok(Math.abs(metrics.AP - 1) < 1e-9, `AP ${metrics.AP}`);
  assert.ok(Math.abs(metrics.AR100 - 1) < 1e-9, `AR100 ${metrics.AR100}`);
  assert.equal(metrics.numImages, scenes.length);
  for (const c of metrics.perCategory) assert.ok(Math.abs(c.AP - 1) < 1e-9, `category ${c.categoryId}`);
  // Boxes come back in original pixels: the first box of each image equals its COCO bbox.
  for (const scene of scenes) {
    const [x, y, w, h] = scene.objects[0].bbox;
    const box = detections.get(scene.id)?.[0].box ?? [];
    [x, y, x + w, y + h].forEach((v, k) => assert.ok(Math.abs(v - box[k]) < 1e-3, `image ${scene.id}: ${box} vs ${[x, y, x + w, y + h]}`));
  }
});

test('shifted boxes score lower, wrong classes score zero, missing images count as misses', () => {
  const shifted = evaluateInputDetections(dataset, perfect(2)).metrics;
  assert.ok(shifted.AP < 0.9 && shifted.AP > 0, `shifted AP ${shifted.AP}`);
  const swapped = new Map([...perfect()].map(([id, dets]) => [id, dets.map((d) => ({ ...d, classId: 1 - d.classId }))]));
  assert.equal(evaluateInputDetections(dataset, swapped).metrics.AP, 0);
  // An image with no detections is still evaluated (its objects are misses) when it is in the map.
  const partial = perfect();
  partial.set(dataset.images[0].id, []);
  assert.ok(evaluateInputDetections(dataset, partial).metrics.AR100 < 1);
  assert.throws(() => evaluateInputDetections(dataset, new Map([[999, []]])), /image 999/);
});

test('detections inside the letterbox padding are dropped; the rest are clipped to the image', () => {
  const im = dataset.images.find((i) => i.transform.padY > 0);
  assert.ok(im, 'fixture has a landscape image');
  const inPadding: Detection = { box: [2, 0, 10, im.transform.padY - 0.5], score: 0.5, classId: 0 };
  const straddling: Detection = { box: [-4, im.transform.padY - 2, 12, 20], score: 0.6, classId: 1 };
  const out = toOriginalDetections([inPadding, straddling], im);
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].box.map((v) => Math.max(0, v)), out[0].box);
  assert.equal(out[0].box[1], 0);
  const back = toInputBox(out[0].box, im.transform);
  assert.ok(Math.abs(back[2] - 12) < 1e-6 && Math.abs(back[3] - 20) < 1e-6);
});

test('an untrained detector gives low but valid metrics, leaking no tensors', async () => {
  const detector = buildDetector(TINY_DETECTOR);
  const before = tf.memory().numTensors;
  // Below the prior probability 0.01, so the untrained head's candidates are kept.
  const result = await evaluateDetector(detector, dataset, { batchSize: 4, postprocess: { scoreThreshold: 0.001 } });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(result.numImages, scenes.length);
  assert.equal(result.detections.size, scenes.length);
  const total = [...result.detections.values()].reduce((a, d) => a + d.length, 0);
  assert.ok(total > 0, 'random boxes were produced');
  for (const name of ['AP', 'AP50', 'AR100'] as const) {
    assert.ok(Number.isFinite(result.metrics[name]) && result.metrics[name] >= 0 && result.metrics[name] < 0.5, `${name} = ${result.metrics[name]}`);
  }
  for (const [id, dets] of result.detections) {
    const scene = scenes.find((s) => s.id === id);
    assert.ok(scene);
    for (const d of dets) assert.ok(d.box[0] >= 0 && d.box[2] <= scene.width && d.box[1] >= 0 && d.box[3] <= scene.height, `box outside image ${id}`);
  }
  const limited = await evaluateDetector(detector, dataset, { maxImages: 2 });
  assert.equal(limited.numImages, 2);
  assert.equal(limited.metrics.numImages, 2);
  detector.model.dispose();
});

test('a detector of another input size or class count is refused', async () => {
  const wrongSize = buildDetector(resolveDetectorConfig({ ...TINY_DETECTOR, inputSize: 64 }));
  await assert.rejects(evaluateDetector(wrongSize, dataset), /letterboxed to 32 px but the detector takes 64 px/);
  wrongSize.model.dispose();
  const wrongClasses = buildDetector(resolveDetectorConfig({ ...TINY_DETECTOR, numClasses: 3 }));
  await assert.rejects(evaluateDetector(wrongClasses, dataset), /2 categories but the detector has 3 classes/);
  wrongClasses.model.dispose();
});

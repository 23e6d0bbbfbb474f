// Batch assembly: image tensor, anchor targets from hard labels, teacher probabilities = dequantized soft labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { anchorFlipOrder } from '../../../src/boxes/anchor_flip.ts';
import { generateAnchors } from '../../../src/boxes/anchors.ts';
import type { Box } from '../../../src/boxes/box.ts';
import { dequantizeSoftLabels, quantizeSoftLabels } from '../../../src/messages/soft_labels.ts';
import { detectorAnchorConfig } from '../../../src/model/detector_config.ts';
import { assembleBatch, disposeSampleBatch, type BatchSample } from '../../../src/stages/student/sample_batch.ts';
import { flipBox } from '../../../src/train/dataset.ts';
import { buildTargets, disposeTargets } from '../../../src/train/targets.ts';
import { useCpuBackend } from '../teacher/fixtures.ts';
import { ANCHORS, CLASSES, SIZE, syntheticPixels, syntheticProbs, tinyStudentConfig } from './fixtures.ts';

await useCpuBackend();

const config = tinyStudentConfig();
const anchors = generateAnchors(detectorAnchorConfig(config), SIZE, SIZE);

function batchSample(seed: number, pool: 'labeled' | 'unlabeled', boxes: Box[], epsilon = 0): BatchSample {
  return {
    pool,
    pixels: syntheticPixels(boxes[0] ?? [0, 0, 0, 0], seed),
    hard: { boxes, classIds: boxes.map((_, i) => (seed + i) % CLASSES) },
    soft: quantizeSoftLabels(syntheticProbs(seed), ANCHORS, CLASSES, { epsilon }),
  };
}

test('assembleBatch stacks images, builds targets from the hard labels and teacher probs from the soft labels', async () => {
  const samples = [
    batchSample(1, 'labeled', [[4, 6, 30, 28]]),
    batchSample(2, 'unlabeled', [[10, 10, 50, 40], [30, 2, 60, 20]], 0.3),
    batchSample(3, 'unlabeled', []),
  ];
  const before = tf.memory().numTensors;
  const batch = assembleBatch(samples, { anchors, numClasses: CLASSES, inputSize: SIZE, teacherProbs: true });
  try {
    assert.deepEqual(batch.images.shape, [3, SIZE, SIZE, 3]);
    assert.deepEqual(batch.teacherProbs?.shape, [3, ANCHORS, CLASSES]);
    assert.deepEqual(batch.targets.classTargets.shape, [3, ANCHORS, CLASSES]);
    assert.deepEqual([batch.labeled, batch.unlabeled], [1, 2]);

    const probs = (await batch.teacherProbs?.data()) as Float32Array;
    samples.forEach((s, i) => {
      assert.deepEqual(probs.subarray(i * ANCHORS * CLASSES, (i + 1) * ANCHORS * CLASSES), dequantizeSoftLabels(s.soft), `sample ${i}: teacher probs = dequantized soft labels`);
    });
    // Sparse soft labels (sample 1, ε = 0.3) read back as 0 for the dropped anchors.
    assert.ok(probs.subarray(ANCHORS * CLASSES, 2 * ANCHORS * CLASSES).some((q) => q === 0));

    const images = (await batch.images.data()) as Float32Array;
    const plane = SIZE * SIZE * 3;
    for (const i of [0, 2]) {
      for (const k of [0, 1, 777, plane - 1]) assert.ok(Math.abs(images[i * plane + k] - (samples[i].pixels[k] / 127.5 - 1)) < 1e-6);
    }

    const expected = buildTargets(anchors, samples.map((s) => s.hard), CLASSES);
    try {
      assert.equal(batch.targets.numPositive, expected.numPositive);
      assert.ok(expected.numPositive > 0);
      for (const key of ['classTargets', 'boxTargets', 'positive', 'valid'] as const) {
        assert.deepEqual(await batch.targets[key].data(), await expected[key].data(), key);
      }
    } finally {
      disposeTargets(expected);
    }
  } finally {
    disposeSampleBatch(batch);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('without distillation no teacher tensor is built; bad shapes are refused without leaking tensors', () => {
  const before = tf.memory().numTensors;
  const batch = assembleBatch([batchSample(1, 'labeled', [[4, 4, 20, 20]])], { anchors, numClasses: CLASSES, inputSize: SIZE, teacherProbs: false });
  assert.equal(batch.teacherProbs, undefined);
  disposeSampleBatch(batch);
  assert.equal(tf.memory().numTensors, before);

  const wrongSoft: BatchSample = { ...batchSample(1, 'labeled', []), soft: quantizeSoftLabels(new Float32Array(10 * CLASSES), 10, CLASSES) };
  assert.throws(() => assembleBatch([wrongSoft], { anchors, numClasses: CLASSES, inputSize: SIZE, teacherProbs: true }), /soft labels for 10 × 2, expected 756 × 2/);
  const wrongPixels: BatchSample = { ...batchSample(1, 'labeled', []), pixels: new Uint8Array(12) };
  assert.throws(() => assembleBatch([wrongPixels], { anchors, numClasses: CLASSES, inputSize: SIZE, teacherProbs: true }), /12 pixel bytes, expected 12288/);
  assert.throws(() => assembleBatch([], { anchors, numClasses: CLASSES, inputSize: SIZE, teacherProbs: true }), /no samples/);
  assert.equal(tf.memory().numTensors, before);
});

test('a flipped sample mirrors its pixels, its hard boxes and its soft-label map together; the others stay as they are', async () => {
  const order = anchorFlipOrder(anchors);
  assert.ok(order !== undefined);
  const box: Box = [4, 6, 30, 28];
  const samples = [batchSample(1, 'labeled', [box]), batchSample(2, 'unlabeled', [[10, 10, 50, 40]])];
  const before = tf.memory().numTensors;
  const batch = assembleBatch(samples, { anchors, numClasses: CLASSES, inputSize: SIZE, teacherProbs: true, flip: { flips: [true, false], anchorOrder: order } });
  const plane = SIZE * SIZE * 3;
  const per = ANCHORS * CLASSES;
  try {
    const images = (await batch.images.data()) as Float32Array;
    const probs = (await batch.teacherProbs?.data()) as Float32Array;
    // Pixels: column x of the flipped image is column SIZE − 1 − x of the sample; the box's red block moved with it.
    for (const [y, x] of [[10, 0], [10, 40], [20, 63], [63, 5]]) {
      for (let c = 0; c < 3; c++) {
        const want = samples[0].pixels[(y * SIZE + (SIZE - 1 - x)) * 3 + c] / 127.5 - 1;
        assert.ok(Math.abs(images[(y * SIZE + x) * 3 + c] - want) < 1e-6);
      }
    }
    const red = (x: number, y: number): boolean => images[(y * SIZE + x) * 3] > images[(y * SIZE + x) * 3 + 1] + 0.5;
    const flippedBox = flipBox(box, SIZE);
    assert.deepEqual(flippedBox, [34, 6, 60, 28]);
    assert.ok(red(flippedBox[0] + 1, 10) && red(flippedBox[2] - 1, 20) && !red(box[0] + 1, 10), 'boxes follow pixels');
    // Soft labels: anchor a's teacher probabilities now sit at its mirror anchor.
    const q = dequantizeSoftLabels(samples[0].soft);
    for (let a = 0; a < ANCHORS; a += 7) for (let c = 0; c < CLASSES; c++) assert.equal(probs[order[a] * CLASSES + c], q[a * CLASSES + c]);
    assert.deepEqual(probs.subarray(per, 2 * per), dequantizeSoftLabels(samples[1].soft), 'unflipped sample untouched');
    for (const k of [0, 999, plane - 1]) assert.ok(Math.abs(images[plane + k] - (samples[1].pixels[k] / 127.5 - 1)) < 1e-6);
    // Targets: the flipped sample's come from the mirrored box, and its positive anchors are the mirrors of the unflipped ones.
    const expected = buildTargets(anchors, [{ boxes: [flippedBox], classIds: samples[0].hard.classIds }, samples[1].hard], CLASSES);
    const unflipped = buildTargets(anchors, [samples[0].hard], CLASSES);
    try {
      for (const key of ['classTargets', 'boxTargets', 'positive', 'valid'] as const) assert.deepEqual(await batch.targets[key].data(), await expected[key].data(), key);
      const pos = (await batch.targets.positive.data()) as Float32Array;
      const pos0 = (await unflipped.positive.data()) as Float32Array;
      assert.ok(pos0.some((p) => p === 1));
      for (let a = 0; a < ANCHORS; a++) assert.equal(pos[order[a]], pos0[a], `anchor ${a}`);
    } finally {
      disposeTargets(expected);
      disposeTargets(unflipped);
    }
  } finally {
    disposeSampleBatch(batch);
  }
  assert.equal(tf.memory().numTensors, before);
  // Flipping without a mirror order is refused.
  assert.throws(
    () => assembleBatch(samples, { anchors, numClasses: CLASSES, inputSize: SIZE, teacherProbs: true, flip: { flips: [true, false], anchorOrder: undefined } }),
    /flipping needs the anchors' mirror order/,
  );
  assert.equal(tf.memory().numTensors, before);
});

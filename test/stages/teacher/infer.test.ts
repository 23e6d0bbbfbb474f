// Tests for batched teacher inference: probabilities = σ(logits) per image, detections, and no leaked tensors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { forward, preprocessImages } from '../../../src/model/detector.ts';
import { detectorAnchorConfig } from '../../../src/model/detector_config.ts';
import { inferTeacher } from '../../../src/stages/teacher/infer.ts';
import { loadTeacher } from '../../../src/stages/teacher/teacher_model.ts';
import { TEST_THRESHOLDS, tempStore } from '../ingest/topology_fixture.ts';
import { CONFIDENT_BIAS, saveTinyTeacher, useCpuBackend } from './fixtures.ts';

await useCpuBackend();

function randomImage(seed: number): Uint8Array {
  const img = new Uint8Array(64 * 64 * 3);
  for (let i = 0; i < img.length; i++) img[i] = (i * 31 + seed * 97) % 256;
  return img;
}

test('returns σ(class logits) for each image of the batch and detections above the candidate threshold', async () => {
  const { store, cleanup } = await tempStore();
  try {
    const config = await saveTinyTeacher(store, 'm', { class0Bias: CONFIDENT_BIAS });
    const teacher = await loadTeacher(store, 'm', { anchors: detectorAnchorConfig(config), teacher: config });
    const images = [randomImage(1), randomImage(2), randomImage(3)];
    const before = tf.memory().numTensors;
    const out = await inferTeacher(teacher, images, TEST_THRESHOLDS);
    const steps: string[] = [];
    const again = await inferTeacher(teacher, images, TEST_THRESHOLDS, (step, seconds) => steps.push(seconds >= 0 ? step : 'negative'));
    assert.deepEqual(steps, ['infer', 'nms'], 'the forward pass and post-processing timed once per batch');
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    assert.deepEqual(again.probs, out.probs);

    const A = teacher.anchors.numAnchors;
    assert.deepEqual([out.anchors, out.classes, out.probs.length], [A, 3, 3 * A * 3]);
    // Image 2 alone through the model gives the same probabilities as its slice of the batch.
    const single = tf.tidy(() => tf.sigmoid(forward(teacher.detector, preprocessImages(tf.tensor4d(images[1], [1, 64, 64, 3], 'int32'))).classLogits));
    const expected = (await single.data()) as Float32Array;
    single.dispose();
    const slice = out.probs.subarray(A * 3, 2 * A * 3);
    let maxDiff = 0;
    for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(expected[i] - slice[i]));
    assert.ok(maxDiff < 1e-5, `max |Δq| = ${maxDiff}`);

    assert.equal(out.detections.length, 3);
    for (const dets of out.detections) {
      assert.ok(dets.length > 0 && dets.length <= TEST_THRESHOLDS.maxDetections);
      for (const d of dets) {
        assert.equal(d.classId, 0, 'only class 0 was biased to fire');
        assert.ok(d.score > 0.9);
        assert.ok(d.box.every((v) => v >= 0 && v <= 64), 'boxes are clipped to the input');
      }
    }
    teacher.dispose();
  } finally {
    await cleanup();
  }
});

test('refuses images of the wrong size and empty batches', async () => {
  const { store, cleanup } = await tempStore();
  try {
    const config = await saveTinyTeacher(store, 'm');
    const teacher = await loadTeacher(store, 'm', { anchors: detectorAnchorConfig(config), teacher: config });
    const before = tf.memory().numTensors;
    await assert.rejects(inferTeacher(teacher, [new Uint8Array(10)], TEST_THRESHOLDS), /image 0 has 10 bytes, expected 64×64×3/);
    await assert.rejects(inferTeacher(teacher, [], TEST_THRESHOLDS), /no images/);
    assert.equal(tf.memory().numTensors, before);
    teacher.dispose();
  } finally {
    await cleanup();
  }
});

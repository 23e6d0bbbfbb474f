import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { generateAnchors } from '../../src/boxes/anchors.ts';
import { buildDetector, forward } from '../../src/model/detector.ts';
import { detectorAnchorConfig, resolveDetectorConfig } from '../../src/model/detector_config.ts';
import { DEFAULT_OBJECTIVE, detectorObjective } from '../../src/train/objective.ts';
import { trainStep } from '../../src/train/step.ts';
import { buildTargets, disposeTargets, type ImageBoxes } from '../../src/train/targets.ts';

const config = resolveDetectorConfig({ inputSize: 64, numClasses: 2, stemChannels: 8, stageChannels: [8, 16, 16, 16], fpnChannels: 16 });
const anchors = generateAnchors(detectorAnchorConfig(config), 64, 64);
const gt: ImageBoxes[] = [
  { boxes: [[8, 8, 40, 40]], classIds: [0] },
  { boxes: [[20, 4, 36, 60], [40, 40, 62, 62]], classIds: [1, 0] },
];

/** Two images with bright squares where the boxes are, so the net has something to fit. */
function makeImages(): tf.Tensor4D {
  const pixels = new Float32Array(2 * 64 * 64 * 3).fill(-0.5);
  gt.forEach((img, i) =>
    img.boxes.forEach(([x1, y1, x2, y2], j) => {
      for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) pixels[((i * 64 + y) * 64 + x) * 3 + img.classIds[j]] = 1;
    }),
  );
  return tf.tensor4d(pixels, [2, 64, 64, 3]);
}

test('targets: positives, ignore mask and shapes for a batch', () => {
  const targets = buildTargets(anchors, gt, 2);
  assert.deepEqual(targets.classTargets.shape, [2, anchors.numAnchors, 2]);
  assert.deepEqual(targets.valid.shape, [2, anchors.numAnchors]);
  assert.ok(targets.numPositive >= 3, `every box gets at least one anchor, got ${targets.numPositive}`);
  const pos = targets.positive.sum().arraySync() as number;
  assert.equal(pos, targets.numPositive);
  disposeTargets(targets);
});

test('the objective drops over steps, with distillation and without leaking tensors', async () => {
  // Seeded so the test is deterministic: from an unlucky random start 30 steps may not halve the loss.
  const detector = buildDetector(config, { seed: 7 });
  const optimizer = tf.train.adam(3e-3);
  const images = makeImages();
  const targets = buildTargets(anchors, gt, 2);
  // A "teacher" that agrees with the hard labels, softened.
  const teacher = tf.tidy(() => targets.classTargets.mul(0.8).add(0.02) as tf.Tensor3D);
  const losses: number[] = [];
  let baseline = -1;
  for (let step = 0; step < 30; step++) {
    const before = tf.memory().numTensors;
    const l = await trainStep(detector, optimizer, images, targets, teacher, DEFAULT_OBJECTIVE);
    if (step === 0) baseline = tf.memory().numTensors; // Adam creates its slots on the first step.
    else assert.equal(tf.memory().numTensors, before, `tensors leaked at step ${step}`);
    assert.ok(Math.abs(l.total - (l.focal + l.distillation + l.localization)) < 1e-4 * Math.max(1, l.total));
    losses.push(l.total);
  }
  assert.ok(baseline > 0);
  assert.ok(losses[29] < 0.5 * losses[0], `loss went ${losses[0].toFixed(3)} → ${losses[29].toFixed(3)}`);
  tf.dispose([images, teacher]);
  disposeTargets(targets);
  optimizer.dispose();
  detector.model.dispose();
});

test('a non-finite loss is refused before the weights change', async () => {
  const detector = buildDetector(config);
  const optimizer = tf.train.sgd(0.1);
  const images = makeImages();
  const targets = buildTargets(anchors, gt, 2);
  const teacher = tf.fill([2, anchors.numAnchors, 2], NaN) as tf.Tensor3D;
  const w0 = detector.model.getWeights()[0].clone();
  await assert.rejects(trainStep(detector, optimizer, images, targets, teacher, DEFAULT_OBJECTIVE), /training diverged/);
  const same = tf.tidy(() => tf.abs(detector.model.getWeights()[0].sub(w0)).max().arraySync() as number);
  assert.equal(same, 0);
  tf.dispose([images, teacher, w0]);
  disposeTargets(targets);
  detector.model.dispose();
});

test('distillation kinds: none needs no teacher, the others do', () => {
  const detector = buildDetector(config);
  const targets = buildTargets(anchors, gt, 2);
  const images = makeImages();
  tf.tidy(() => {
    const out = forward(detector, images);
    const none = detectorObjective(out, targets, undefined, { ...DEFAULT_OBJECTIVE, distillation: 'none' });
    assert.equal(none.distillation.arraySync(), 0);
    assert.throws(() => detectorObjective(out, targets, undefined, DEFAULT_OBJECTIVE), /needs teacher probabilities/);
    const q = tf.sigmoid(out.classLogits) as tf.Tensor3D;
    for (const kind of ['adl', 'kld', 'fdl'] as const) {
      const t = detectorObjective(out, targets, q, { ...DEFAULT_OBJECTIVE, distillation: kind });
      // The student equals the teacher: KL is 0, so every distillation term vanishes.
      assert.ok(Math.abs(t.distillation.arraySync() as number) < 1e-5, kind);
    }
  });
  tf.dispose(images);
  disposeTargets(targets);
  detector.model.dispose();
});

// Gradient clipping by global norm in trainStep (src/train/step.ts).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { generateAnchors } from '../../src/boxes/anchors.ts';
import { buildDetector, type Detector } from '../../src/model/detector.ts';
import { detectorAnchorConfig } from '../../src/model/detector_config.ts';
import { DEFAULT_OBJECTIVE } from '../../src/train/objective.ts';
import { trainStep } from '../../src/train/step.ts';
import { buildTargets, disposeTargets } from '../../src/train/targets.ts';
import { TINY_DETECTOR } from './fixtures.ts';

const objective = { ...DEFAULT_OBJECTIVE, distillation: 'none' as const };
const anchors = generateAnchors(detectorAnchorConfig(TINY_DETECTOR), 32, 32);

before(async () => {
  await initBackend('cpu');
});

async function weights(d: Detector): Promise<Float32Array[]> {
  return Promise.all(d.model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

/** Runs one SGD(lr = 1) step from the same initial weights and returns (update norm, reported grad norm). */
async function update(clipNorm: number | undefined, init: tf.Tensor[]): Promise<{ norm: number; gradNorm?: number; after: Float32Array[] }> {
  const detector = buildDetector(TINY_DETECTOR);
  detector.model.setWeights(init);
  const before = await weights(detector);
  const images = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
  const targets = buildTargets(anchors, [{ boxes: [[4, 4, 20, 20]], classIds: [0] }, { boxes: [[10, 6, 30, 28]], classIds: [1] }], 2);
  const sgd = tf.train.sgd(1);
  const count = tf.memory().numTensors;
  const losses = await trainStep(detector, sgd, images, targets, undefined, objective, clipNorm === undefined ? {} : { clipNorm });
  assert.equal(tf.memory().numTensors, count, 'no tensors leaked by the step');
  const after = await weights(detector);
  let sq = 0;
  after.forEach((w, i) => w.forEach((v, j) => (sq += (v - before[i][j]) ** 2)));
  tf.dispose([images]);
  disposeTargets(targets);
  sgd.dispose();
  detector.model.dispose();
  return { norm: Math.sqrt(sq), gradNorm: losses.gradNorm, after };
}

test('gradients above clipNorm are rescaled to it; below it they are left alone; off by default', async () => {
  const ref = buildDetector(TINY_DETECTOR);
  const init = ref.model.getWeights().map((w) => w.clone());
  ref.model.dispose();

  const plain = await update(undefined, init);
  assert.equal(plain.gradNorm, undefined);
  const loose = await update(1e6, init);
  assert.ok(loose.gradNorm !== undefined && Math.abs(loose.gradNorm - plain.norm) < 1e-3 * plain.norm, `reported ${loose.gradNorm} vs measured ${plain.norm}`);
  assert.deepEqual(loose.after, plain.after, 'a clipNorm above the norm changes nothing');

  const clip = plain.norm / 10;
  const clipped = await update(clip, init);
  assert.ok(Math.abs(clipped.norm - clip) < 1e-3 * clip, `update norm ${clipped.norm}, expected ${clip}`);
  tf.dispose(init);
});

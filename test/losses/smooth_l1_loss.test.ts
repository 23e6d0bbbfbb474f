// Smooth-L1 box loss: hand values, the β transition, positives-only sum and normalisation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { smoothL1Loss } from '../../src/losses/smooth_l1_loss.ts';
import { finiteDifference, refSmoothL1, seededNormal, seededRandom } from './float64_reference.ts';
import { assertAllClose, assertClose, describeOnBackends, gradientOf, scalarOf } from './tensor_checks.ts';

/** One positive anchor whose first delta is off by `d`, the rest exact. */
async function singleError(d: number, beta?: number): Promise<number> {
  const pred = tf.tensor3d([[[d, 0, 0, 0]]]);
  const target = tf.zeros([1, 1, 4]);
  const positive = tf.ones([1, 1]);
  const value = await scalarOf(() => smoothL1Loss(pred, target, positive, beta === undefined ? {} : { beta }));
  tf.dispose([pred, target, positive]);
  return value;
}

describeOnBackends('smoothL1Loss', () => {
  test('hand values on both sides of β = 0.11 (the default)', async () => {
    assertClose(await singleError(0.05), (0.5 * 0.05 * 0.05) / 0.11, 1e-6, 0, 'quadratic part');
    assertClose(await singleError(-0.05), (0.5 * 0.05 * 0.05) / 0.11, 1e-6, 0, 'symmetric');
    assertClose(await singleError(0.5), 0.5 - 0.055, 1e-6, 0, 'linear part');
    assertClose(await singleError(-2), 2 - 0.055, 1e-6, 0, 'linear part, negative');
    assert.equal(await singleError(0), 0);
  });

  test('is continuous with a continuous slope at |d| = β', async () => {
    const beta = 0.11;
    for (const d of [beta - 1e-4, beta, beta + 1e-4]) {
      assertClose(await singleError(d), d < beta ? (0.5 * d * d) / beta : d - 0.5 * beta, 1e-5, 0, `d=${d}`);
    }
    const pred = tf.tensor3d([[[beta - 1e-3, -(beta + 1e-3), 0.03, -0.7]]]);
    const target = tf.zeros([1, 1, 4]);
    const positive = tf.ones([1, 1]);
    const g = await gradientOf((p) => smoothL1Loss(p, target, positive), pred);
    // d/β inside the quadratic zone, sign(d) outside.
    assertAllClose(g, [(beta - 1e-3) / beta, -1, 0.03 / beta, -1], 1e-5, 1e-7, 'gradient');
    tf.dispose([pred, target, positive]);
  });

  test('another β moves the transition, β = 0 is plain L1', async () => {
    assertClose(await singleError(0.5, 1), 0.125, 1e-6, 0, 'β=1 quadratic');
    assertClose(await singleError(1.5, 1), 1, 1e-6, 0, 'β=1 linear');
    assertClose(await singleError(0.05, 0), 0.05, 1e-6, 0, 'β=0');
    const pred = tf.tensor3d([[[0.3, -0.2, 0, 0]]]);
    const target = tf.zeros([1, 1, 4]);
    const positive = tf.ones([1, 1]);
    const g = await gradientOf((p) => smoothL1Loss(p, target, positive, { beta: 0 }), pred);
    assert.deepEqual(g.slice(0, 2), [1, -1]);
    g.forEach((v) => assert.ok(Number.isFinite(v)));
    tf.dispose([pred, target, positive]);
  });

  test('sums over positive anchors only and divides by their number', async () => {
    // Two batches × three anchors; anchors (0,0), (0,2), (1,1) are positive.
    const pred = tf.tensor3d([
      [[0.5, 0, 0, 0], [9, 9, 9, 9], [0, 0.05, 0, 0]],
      [[-9, 9, -9, 9], [0, 0, 1, -1], [9, 9, 9, 9]],
    ]);
    const target = tf.zeros([2, 3, 4]);
    const positive = tf.tensor2d([[1, 0, 1], [0, 1, 0]]);
    const sum = 0.5 - 0.055 + (0.5 * 0.05 * 0.05) / 0.11 + 2 * (1 - 0.055);
    assertClose(await scalarOf(() => smoothL1Loss(pred, target, positive)), sum / 3, 1e-6, 0, 'loss');
    const g = await gradientOf((p) => smoothL1Loss(p, target, positive), pred);
    // Negative anchors get no gradient however wrong their deltas are.
    for (const anchor of [1, 3, 5]) {
      assert.ok(g.slice(anchor * 4, anchor * 4 + 4).every((v) => v === 0), `anchor ${anchor}`);
    }
    const asBool = tf.cast(positive, 'bool');
    assertClose(await scalarOf(() => smoothL1Loss(pred, target, asBool)), sum / 3, 1e-6, 0, 'bool positives');
    tf.dispose([pred, target, positive, asBool]);
  });

  test('is 0 (divided by 1) with no positive anchor', async () => {
    const pred = tf.ones([1, 5, 4]);
    const target = tf.zeros([1, 5, 4]);
    const positive = tf.zeros([1, 5]);
    assert.equal(await scalarOf(() => smoothL1Loss(pred, target, positive)), 0);
    tf.dispose([pred, target, positive]);
  });

  test('matches float64 on random [2, 50, 4] inputs, gradient by finite differences', async () => {
    const rand = seededRandom(77);
    const normal = seededNormal(rand);
    const n = 2 * 50 * 4;
    const predV = Array.from({ length: n }, () => Math.fround(0.3 * normal()));
    const targetV = Array.from({ length: n }, () => Math.fround(0.3 * normal()));
    const positiveV = Array.from({ length: 100 }, () => (rand() < 0.3 ? 1 : 0));
    const pred = tf.tensor3d(predV, [2, 50, 4]);
    const target = tf.tensor3d(targetV, [2, 50, 4]);
    const positive = tf.tensor2d(positiveV, [2, 50]);
    const expected = refSmoothL1(predV, targetV, positiveV, 0.11);
    assertClose(await scalarOf(() => smoothL1Loss(pred, target, positive)), expected, 1e-5, 0, 'value');
    const g = await gradientOf((p) => smoothL1Loss(p, target, positive), pred);
    predV.forEach((p, i) => {
      // Finite differences are only valid away from the kink at |d| = β.
      if (Math.abs(Math.abs(p - targetV[i]) - 0.11) < 5e-3) return;
      const fd = finiteDifference((x) => refSmoothL1(x, targetV, positiveV, 0.11), predV, i);
      assertClose(g[i], fd, 1e-4, 1e-7, `gradient ${i}`);
    });
    tf.dispose([pred, target, positive]);
  });

  test('rejects mismatched shapes and a negative β', () => {
    const pred = tf.zeros([2, 5, 4]);
    const wrongTarget = tf.zeros([2, 5, 3]);
    const wrongPositive = tf.zeros([2, 4]);
    const positive = tf.zeros([2, 5]);
    const before = tf.memory().numTensors;
    assert.throws(() => smoothL1Loss(pred, wrongTarget, positive), /target shape/);
    assert.throws(() => smoothL1Loss(pred, pred, wrongPositive), /positive shape/);
    assert.throws(() => smoothL1Loss(pred, pred, positive, { beta: -0.1 }), RangeError);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([pred, wrongTarget, wrongPositive, positive]);
  });
});

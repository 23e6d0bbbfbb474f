// klFromLogits / teacherEntropy against a float64 reference, including q ∈ {0, 1} and extreme logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { clampTeacherProbs, klFromLogits, teacherEntropy } from '../../src/losses/kl_divergence.ts';
import { adaptiveDistillationLoss } from '../../src/losses/adaptive_distillation_loss.ts';
import { focalDistillationLoss } from '../../src/losses/focal_distillation_loss.ts';
import { focalLoss } from '../../src/losses/focal_loss.ts';
import { klDistillationLoss } from '../../src/losses/kl_distillation_loss.ts';
import { logSigmoid, refEntropy, refKl, sigmoid } from './float64_reference.ts';
import { assertClose, describeOnBackends, evaluate, gradientOf, scalarOf } from './tensor_checks.ts';

const F32_MAX = 3.4028234663852886e38;
// Logits up to the ±30 a trained head produces, plus float32 extremes that must not produce NaN/∞.
const LOGITS = [-30, -17.5, -5, -1, -1e-3, 0, 1e-3, 0.7, 5, 13.8, 17.5, 30].map(Math.fround);
const EXTREME_LOGITS = [-1e30, -1e4, -100, -88.7, 88.7, 100, 1e4, 1e30].map(Math.fround);
// q on and beyond both clamps, float32 subnormals and the float32 neighbours of 1.
const PROBS = [
  0, 1.4e-45, 1.1754944e-38, 1e-7, 1e-6, 3e-6, 1e-3, 0.2, 0.5, 0.9, 0.999, 1 - 2 ** -23, 1 - 2 ** -24, 1,
].map(Math.fround);

/** q·|ln(q/p)| + (1−q)·|ln((1−q)/(1−p))| in float64: the size of the terms KL is the sum of. */
function klTermsMagnitude(x: number, qRaw: number): number {
  const q = Math.min(Math.max(qRaw, 1e-6), 1 - 1e-6);
  return q * Math.abs(Math.log(q) - logSigmoid(x)) + (1 - q) * Math.abs(Math.log(1 - q) - logSigmoid(-x));
}

function grid(logits: number[], probs: number[]): { x: number[]; q: number[] } {
  const x: number[] = [];
  const q: number[] = [];
  for (const xv of logits) {
    for (const qv of probs) {
      x.push(xv);
      q.push(qv);
    }
  }
  return { x, q };
}

describeOnBackends('klFromLogits', () => {
  test('matches float64 KL(q‖σ(x)) over logits in [−30, 30] and q over [0, 1]', async () => {
    const { x, q } = grid(LOGITS, PROBS);
    const xt = tf.tensor1d(x);
    const qt = tf.tensor1d(q);
    const kl = await evaluate(() => klFromLogits(xt, qt));
    kl.forEach((v, i) => {
      // The two weighted log-ratios cancel to first order where p ≈ q: allow a few ε of their size.
      const atol = 4e-6 * klTermsMagnitude(x[i], q[i]) + 1e-12;
      assertClose(v, refKl(x[i], q[i]), 1e-5, atol, `KL(x=${x[i]}, q=${q[i]})`);
    });
    tf.dispose([xt, qt]);
  });

  test('gradient is p − q, finite and accurate at the clamps and at |x| = 30', async () => {
    const { x, q } = grid(LOGITS, PROBS);
    const xt = tf.tensor1d(x);
    const qt = tf.tensor1d(q);
    const g = await gradientOf((l) => tf.sum(klFromLogits(l, qt)), xt);
    g.forEach((v, i) => {
      const qc = Math.min(Math.max(q[i], 1e-6), 1 - 1e-6);
      // p − q with the float64 clamp; the 1e-7 floor is float32 resolution of p − q near 1.
      assertClose(v, sigmoid(x[i]) - qc, 1e-4, 1e-7, `dKL/dx(x=${x[i]}, q=${q[i]})`);
    });
    tf.dispose([xt, qt]);
  });

  test('values and gradients of every distillation loss stay finite at float32-extreme logits', async () => {
    const { x, q } = grid(EXTREME_LOGITS, PROBS);
    const xt = tf.tensor1d(x);
    const qt = tf.tensor1d(q);
    const yt = tf.tensor1d(x.map((_, i) => i % 2));
    const klValues = await evaluate(() => klFromLogits(xt, qt));
    klValues.forEach((v, i) => assert.ok(Number.isFinite(v) && v >= 0, `KL(x=${x[i]}, q=${q[i]}) = ${v}`));
    const losses: Array<[string, (l: tf.Tensor) => tf.Tensor]> = [
      ['kl', (l) => tf.tidy(() => tf.sum(klFromLogits(l, qt)))],
      ['adl', (l) => adaptiveDistillationLoss(l, qt)],
      ['adl γ=0.5', (l) => adaptiveDistillationLoss(l, qt, { gamma: 0.5, beta: 0 })],
      ['kld', (l) => klDistillationLoss(l, qt)],
      ['fdl', (l) => focalDistillationLoss(l, qt, yt)],
      ['focal', (l) => focalLoss(l, yt)],
    ];
    for (const [name, loss] of losses) {
      assert.ok(Number.isFinite(await scalarOf(() => loss(xt))), `${name} value`);
      const g = await gradientOf(loss, xt);
      g.forEach((v, i) => assert.ok(Number.isFinite(v), `${name} gradient at x=${x[i]}, q=${q[i]}: ${v}`));
    }
    tf.dispose([xt, qt, yt]);
  });

  test('is finite per element, with a finite gradient, at logits of ±float32 max', async () => {
    const { x, q } = grid([-F32_MAX, F32_MAX], PROBS);
    const xt = tf.tensor1d(x);
    const qt = tf.tensor1d(q);
    const kl = await evaluate(() => klFromLogits(xt, qt));
    kl.forEach((v, i) => assert.ok(Number.isFinite(v), `KL(${x[i]}, ${q[i]}) = ${v}`));
    const g = await gradientOf((l) => tf.sum(klFromLogits(l, qt)), xt);
    g.forEach((v, i) => assert.ok(Number.isFinite(v), `dKL/dx(${x[i]}, ${q[i]}) = ${v}`));
    tf.dispose([xt, qt]);
  });

  test('is exactly 0 with zero gradient where the student equals the teacher', async () => {
    const q = [0.5, 0.25, 0.9].map(Math.fround);
    const x = q.map((v) => Math.fround(Math.log(v / (1 - v))));
    const xt = tf.tensor1d(x);
    const qt = tf.tensor1d(q);
    (await evaluate(() => klFromLogits(xt, qt))).forEach((v) => assert.ok(v >= 0 && v < 1e-12, `${v}`));
    (await gradientOf((l) => tf.sum(klFromLogits(l, qt)), xt)).forEach((v) => assert.ok(Math.abs(v) < 1e-7, `${v}`));
    tf.dispose([xt, qt]);
  });

  test('rejects mismatched shapes', () => {
    const before = tf.memory().numTensors;
    const x = tf.zeros([2, 3]);
    const q = tf.zeros([3, 2]);
    assert.throws(() => klFromLogits(x, q), /shape/);
    tf.dispose([x, q]);
    assert.equal(tf.memory().numTensors, before);
  });
});

describeOnBackends('teacherEntropy', () => {
  test('matches float64 T(q) with q clamped to [1e-6, 1 − 1e-6]', async () => {
    const qt = tf.tensor1d(PROBS);
    const t = await evaluate(() => teacherEntropy(qt));
    t.forEach((v, i) => assertClose(v, refEntropy(PROBS[i]), 1e-5, 1e-12, `T(${PROBS[i]})`));
    assert.ok(t.every((v) => v > 0));
    qt.dispose();
  });

  test('clampTeacherProbs bounds q to [1e-6, 1 − 1e-6]', async () => {
    const qt = tf.tensor1d([0, 0.5, 1]);
    const c = await evaluate(() => clampTeacherProbs(qt));
    assertClose(c[0], 1e-6, 1e-6, 0, 'lower clamp');
    assert.equal(c[1], 0.5);
    assertClose(c[2], 1 - 1e-6, 0, 6e-8, 'upper clamp (float32 resolution near 1)');
    qt.dispose();
  });
});

// ADL against the float64 reference (values and finite-difference gradients), masks, N, training use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  adaptiveDistillationLoss,
  adaptiveDistillationWeight,
} from '../../src/losses/adaptive_distillation_loss.ts';
import { randomInputs, refAdl, refEntropy, refKl, sigmoid } from './float64_reference.ts';
import {
  assertAllClose,
  assertClose,
  checkAgainstReference,
  describeOnBackends,
  evaluate,
  gradientOf,
  lossTensors,
  scalarOf,
} from './tensor_checks.ts';

const SETTINGS = [
  { beta: 1, gamma: 2, theta: 1.8 },
  { beta: 1.5, gamma: 2, theta: 1 },
  { beta: 0.5, gamma: 1, theta: 2.5 },
  { beta: 0, gamma: 0.5, theta: 1.8 },
  { beta: 2, gamma: 3, theta: 0.7 },
];

describeOnBackends('adaptiveDistillationLoss', () => {
  for (const [k, s] of SETTINGS.entries()) {
    test(`matches float64 on masked [2, 50, 3] inputs, β=${s.beta} γ=${s.gamma} θ=${s.theta}`, async () => {
      const inp = randomInputs(100 + k, 100, 3);
      await checkAgainstReference(
        'adl',
        inp,
        [2, 50, 3],
        (x, t) => adaptiveDistillationLoss(x, t.q, { ...s, mask: t.mask }),
        (r) => refAdl(r, s.beta, s.gamma, s.theta),
      );
    });
  }

  test('defaults are β = 1, γ = 2, θ = 1.8 and no mask', async () => {
    const inp = { ...randomInputs(7, 40, 4), mask: new Array<number>(40).fill(1) };
    const t = lossTensors(inp, [40, 4]);
    assertClose(await scalarOf(() => adaptiveDistillationLoss(t.x, t.q)), refAdl(inp, 1, 2, 1.8), 1e-5, 1e-7, 'adl');
    tf.dispose(Object.values(t));
  });

  test('with Σ q^θ < 1 the sum is divided by 1, not by N', async () => {
    const inp = {
      x: [2, -1, 0.5, 3].map(Math.fround),
      q: [0.01, 0.02, 0.1, 0.05].map(Math.fround),
      y: [0, 0, 0, 0],
      mask: [1, 1],
      classes: 2,
    };
    const t = lossTensors(inp, [1, 2, 2]);
    const value = await scalarOf(() => adaptiveDistillationLoss(t.x, t.q, { theta: 1, mask: t.mask }));
    assertClose(value, refAdl(inp, 1, 2, 1), 1e-5, 1e-8, 'adl with N < 1');
    const unnormalised = inp.x.reduce((acc, x, i) => {
      const kl = refKl(x, inp.q[i]);
      return acc + (1 - Math.exp(-(kl + refEntropy(inp.q[i])))) ** 2 * kl;
    }, 0);
    assertClose(value, unnormalised, 1e-5, 1e-8, 'plain sum');
    tf.dispose(Object.values(t));
  });

  test('ignored anchors change neither the value nor N, and get zero gradient', async () => {
    const inp = randomInputs(3, 60, 3);
    const t = lossTensors(inp, [2, 30, 3]);
    // Scramble every ignored anchor's logits and teacher probabilities.
    const ignored = tf.tile(tf.expandDims(tf.equal(t.mask, 0), -1), [1, 1, 3]);
    const x2 = tf.where(ignored, tf.fill([2, 30, 3], 25), t.x);
    const q2 = tf.where(ignored, tf.fill([2, 30, 3], 0.9), t.q);
    const loss = (x: tf.Tensor, q: tf.Tensor) => adaptiveDistillationLoss(x, q, { mask: t.mask });
    assertClose(await scalarOf(() => loss(x2, q2)), await scalarOf(() => loss(t.x, t.q)), 1e-6, 0, 'value');
    const g = await gradientOf((x) => loss(x, t.q), t.x);
    g.forEach((v, i) => {
      if (inp.mask[Math.floor(i / 3)] === 0) assert.equal(v, 0, `gradient at ignored element ${i}`);
    });
    assert.ok(g.some((v) => v !== 0));
    tf.dispose([t.x, t.q, t.y, t.mask, ignored, x2, q2]);
  });

  test('the ADW is not detached: its gradient is part of d ADL / dx', async () => {
    const inp = { ...randomInputs(11, 20, 3), mask: new Array<number>(20).fill(1) };
    const t = lossTensors(inp, [20, 3]);
    const g = await gradientOf((x) => adaptiveDistillationLoss(x, t.q), t.x);
    // With the ADW treated as a constant the gradient would be ADW·(p − q) / N.
    let n = 0;
    inp.q.forEach((q) => (n += q ** 1.8));
    const detached = inp.x.map((x, i) => {
      const q = Math.min(Math.max(inp.q[i], 1e-6), 1 - 1e-6);
      const adw = (1 - Math.exp(-(refKl(x, inp.q[i]) + refEntropy(inp.q[i])))) ** 2;
      return (adw * (sigmoid(x) - q)) / Math.max(1, n);
    });
    const largest = Math.max(...g.map((v, i) => Math.abs(v - detached[i])));
    assert.ok(largest > 1e-3, `gradient indistinguishable from the detached one (max diff ${largest})`);
    tf.dispose(Object.values(t));
  });

  test('works under optimizer.minimize and lowers the loss without leaking', async () => {
    const inp = randomInputs(5, 30, 2);
    const t = lossTensors(inp, [30, 2]);
    const logits = tf.variable(t.x);
    const optimizer = tf.train.sgd(1);
    const loss = () => adaptiveDistillationLoss(logits, t.q, { mask: t.mask });
    const first = await scalarOf(loss);
    const before = tf.memory().numTensors;
    for (let step = 0; step < 20; step++) {
      const cost = optimizer.minimize(loss, true);
      cost?.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'tensors leaked by minimize');
    const last = await scalarOf(loss);
    assert.ok(last < first * 0.9, `loss went from ${first} to ${last}`);
    optimizer.dispose();
    tf.dispose([logits, ...Object.values(t)]);
  });

  test('adaptiveDistillationWeight is (1 − exp(−(KL + βT)))^γ elementwise', async () => {
    const inp = randomInputs(9, 10, 3);
    const t = lossTensors(inp, [10, 3]);
    const w = await evaluate(() => adaptiveDistillationWeight(t.x, t.q, 1.5, 2));
    const expected = inp.x.map((x, i) => (1 - Math.exp(-(refKl(x, inp.q[i]) + 1.5 * refEntropy(inp.q[i])))) ** 2);
    assertAllClose(w, expected, 1e-5, 1e-9, 'adw');
    tf.dispose(Object.values(t));
  });

  test('rejects bad shapes and hyper-parameters', () => {
    const x = tf.zeros([2, 5, 3]);
    const wrongTeacher = tf.zeros([2, 5, 2]);
    const wrongMask = tf.ones([2, 5, 3]);
    const before = tf.memory().numTensors;
    assert.throws(() => adaptiveDistillationLoss(x, wrongTeacher), /teacherProbs shape/);
    assert.throws(() => adaptiveDistillationLoss(x, x, { mask: wrongMask }), /mask shape/);
    assert.throws(() => adaptiveDistillationLoss(x, x, { theta: 0 }), RangeError);
    assert.throws(() => adaptiveDistillationLoss(x, x, { gamma: -1 }), RangeError);
    assert.throws(() => adaptiveDistillationLoss(x, x, { beta: Number.NaN }), RangeError);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, wrongTeacher, wrongMask]);
  });
});

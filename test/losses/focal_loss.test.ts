// Focal loss against the float64 reference, the #positive-anchors normaliser, masks and stability.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { focalLoss, oneMinusPt } from '../../src/losses/focal_loss.ts';
import { randomInputs, refFocal, sigmoid } from './float64_reference.ts';
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
  { alpha: 0.25, gamma: 2 },
  { alpha: 0.5, gamma: 1 },
  { alpha: 0.75, gamma: 0 },
  { alpha: 0.1, gamma: 2.5 },
];

describeOnBackends('focalLoss', () => {
  for (const [k, s] of SETTINGS.entries()) {
    test(`matches float64 on masked [2, 50, 3] inputs, α=${s.alpha} γ=${s.gamma}`, async () => {
      const inp = randomInputs(200 + k, 100, 3);
      await checkAgainstReference(
        'focal',
        inp,
        [2, 50, 3],
        (x, t) => focalLoss(x, t.y, { ...s, mask: t.mask }),
        (r) => refFocal(r, s.alpha, s.gamma),
      );
    });
  }

  test('normalises by positive anchors, not positive (anchor, class) pairs, and skips ignored ones', async () => {
    // Anchor 0 has two positive classes, anchor 1 one, anchor 2 none, anchor 3 one but is ignored.
    const hard = tf.tensor([[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]]);
    const logits = tf.zeros([4, 3]);
    const mask = tf.tensor([1, 1, 1, 0]);
    // At x = 0 every element contributes α_t·0.5^γ·ln 2.
    const positives = 3;
    const negatives = 6;
    const sum = (positives * 0.25 + negatives * 0.75) * 0.25 * Math.LN2;
    assertClose(await scalarOf(() => focalLoss(logits, hard, { mask })), sum / 2, 1e-6, 0, 'two positive anchors');
    const sumAll = (4 * 0.25 + 8 * 0.75) * 0.25 * Math.LN2;
    assertClose(await scalarOf(() => focalLoss(logits, hard)), sumAll / 3, 1e-6, 0, 'three positive anchors');
    tf.dispose([hard, logits, mask]);
  });

  test('with no positive anchor the sum is divided by 1', async () => {
    const logits = tf.tensor([[2, -1], [0.5, 3]]);
    const hard = tf.zeros([2, 2]);
    const expected = [2, -1, 0.5, 3].reduce((acc, x) => acc - 0.75 * sigmoid(x) ** 2 * Math.log(1 - sigmoid(x)), 0);
    assertClose(await scalarOf(() => focalLoss(logits, hard)), expected, 1e-5, 0, 'focal');
    tf.dispose([logits, hard]);
  });

  test('a rank-1 input is one class per anchor: every y = 1 is a positive anchor', async () => {
    const inp = randomInputs(17, 12, 1);
    const t = lossTensors(inp, [12]);
    assert.ok(inp.y.filter((v) => v === 1).length >= 1);
    assertClose(await scalarOf(() => focalLoss(t.x, t.y, { mask: t.mask })), refFocal(inp, 0.25, 2), 1e-5, 0, 'focal');
    tf.dispose(Object.values(t));
  });

  test('int and bool hard labels give the same loss as float ones', async () => {
    const inp = randomInputs(19, 20, 3);
    const t = lossTensors(inp, [20, 3]);
    const asInt = tf.cast(t.y, 'int32');
    const asBool = tf.cast(t.y, 'bool');
    const expected = await scalarOf(() => focalLoss(t.x, t.y));
    assert.equal(await scalarOf(() => focalLoss(t.x, asInt)), expected);
    assert.equal(await scalarOf(() => focalLoss(t.x, asBool)), expected);
    tf.dispose([asInt, asBool, ...Object.values(t)]);
  });

  test('stays accurate for confident logits up to |x| = 30 and finite beyond', async () => {
    const xs = [-100, -30, -20, 20, 30, 100];
    const inp = {
      x: [...xs, ...xs],
      q: new Array<number>(12).fill(0),
      y: [...xs.map(() => 0), ...xs.map(() => 1)],
      mask: new Array<number>(12).fill(1),
      classes: 1,
    };
    const t = lossTensors(inp, [12]);
    for (const gamma of [0, 2]) {
      const value = await scalarOf(() => focalLoss(t.x, t.y, { gamma }));
      assertClose(value, refFocal(inp, 0.25, gamma), 1e-5, 0, `value γ=${gamma}`);
      const g = await gradientOf((x) => focalLoss(x, t.y, { gamma }), t.x);
      g.forEach((v, i) => assert.ok(Number.isFinite(v), `gradient ${i} at x=${inp.x[i]}: ${v}`));
    }
    tf.dispose(Object.values(t));
  });

  test('oneMinusPt keeps full precision for confident predictions', async () => {
    const x = tf.tensor1d([30, -30, 30, -30]);
    const y = tf.tensor1d([1, 0, 0, 1]);
    const values = await evaluate(() => oneMinusPt(x, y));
    assertAllClose(values, [sigmoid(-30), sigmoid(-30), sigmoid(30), sigmoid(30)], 1e-6, 0, '1 − p_t');
    tf.dispose([x, y]);
  });

  test('rejects bad shapes and hyper-parameters', () => {
    const x = tf.zeros([2, 5, 3]);
    const wrongHard = tf.zeros([2, 5]);
    const wrongMask = tf.ones([2, 3]);
    const before = tf.memory().numTensors;
    assert.throws(() => focalLoss(x, wrongHard), /hard shape/);
    assert.throws(() => focalLoss(x, x, { mask: wrongMask }), /mask shape/);
    assert.throws(() => focalLoss(x, x, { alpha: 1.5 }), RangeError);
    assert.throws(() => focalLoss(x, x, { gamma: -0.5 }), RangeError);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, wrongHard, wrongMask]);
  });
});

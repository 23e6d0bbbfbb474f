// Anchor-axis conventions: anchor shapes, positive-anchor counting, the element mask and powConst.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { anchorShape, countPositiveAnchors, elementMask, powConst } from '../../src/losses/anchor_axes.ts';
import { assertAllClose, describeOnBackends, evaluate, gradientOf, scalarOf } from './tensor_checks.ts';

describeOnBackends('anchor_axes', () => {
  test('anchorShape drops the class axis, except for rank 1 (one class per anchor)', () => {
    assert.deepEqual(anchorShape([2, 50, 3]), [2, 50]);
    assert.deepEqual(anchorShape([7, 3]), [7]);
    assert.deepEqual(anchorShape([12]), [12]);
    assert.deepEqual(anchorShape([]), []);
  });

  test('countPositiveAnchors counts anchors with any y = 1, once each, honouring the mask', async () => {
    const hard = tf.tensor3d([[[1, 1, 0], [0, 0, 0], [0, 0, 1]], [[0, 1, 0], [1, 0, 0], [0, 0, 0]]]);
    assert.equal(await scalarOf(() => countPositiveAnchors(hard)), 4);
    const mask = tf.tensor2d([[1, 1, 0], [1, 1, 1]]);
    assert.equal(await scalarOf(() => countPositiveAnchors(hard, mask)), 3);
    const flat = tf.tensor1d([1, 0, 1, 1]);
    assert.equal(await scalarOf(() => countPositiveAnchors(flat)), 3);
    const asBool = tf.cast(hard, 'bool');
    assert.equal(await scalarOf(() => countPositiveAnchors(asBool)), 4);
    assert.throws(() => countPositiveAnchors(hard, flat), /mask shape/);
    tf.dispose([hard, mask, flat, asBool]);
  });

  test('elementMask broadcasts the per-anchor mask over classes and defaults to ones', async () => {
    const mask = tf.tensor2d([[1, 0]], [1, 2], 'int32');
    const m = await evaluate(() => tf.tidy(() => tf.mul(elementMask('t', [1, 2, 3], mask), tf.ones([1, 2, 3]))));
    assert.deepEqual(m, [1, 1, 1, 0, 0, 0]);
    const ones = await evaluate(() => tf.tidy(() => tf.mul(elementMask('t', [4], undefined), tf.ones([4]))));
    assert.deepEqual(ones, [1, 1, 1, 1]);
    const wrong = tf.tensor1d([1, 0]);
    assert.throws(() => elementMask('t', [1, 2, 3], wrong), /t: mask shape/);
    tf.dispose([mask, wrong]);
  });

  test('powConst has finite gradients at base 0 for the exponents the losses use', async () => {
    const base = tf.tensor1d([0, 0.5, 1]);
    for (const exponent of [0, 1, 2, 2.5]) {
      const values = await evaluate(() => powConst(base, exponent));
      assertAllClose(values, [0, 0.5, 1].map((b) => b ** exponent), 1e-6, 0, `base^${exponent}`);
      const g = await gradientOf((b) => tf.tidy(() => tf.sum(powConst(b, exponent))), base);
      g.forEach((v, i) => assert.ok(Number.isFinite(v), `exponent ${exponent}, base ${i}: ${v}`));
    }
    base.dispose();
  });
});

// N = max(1, Σ mask·q^θ): raw (unclamped) teacher probabilities, the mask, the floor of 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { distillationNormaliser } from '../../src/losses/distillation_normaliser.ts';
import { assertClose, describeOnBackends, scalarOf } from './tensor_checks.ts';

describeOnBackends('distillationNormaliser', () => {
  test('sums q^θ over unmasked elements', async () => {
    const q = tf.tensor2d([[0.5, 1], [0.9, 0.3]]);
    const mask = tf.tensor2d([[1], [0]]);
    const all = tf.onesLike(q);
    const expected = 0.5 ** 1.8 + 1 + 0.9 ** 1.8 + 0.3 ** 1.8;
    assertClose(await scalarOf(() => distillationNormaliser(q, all, 1.8)), expected, 1e-6, 0, 'all');
    assertClose(await scalarOf(() => distillationNormaliser(q, mask, 2)), 1.25, 1e-6, 0, 'masked');
    tf.dispose([q, mask, all]);
  });

  test('is at least 1, and background q = 0 adds nothing (q is not clamped to 1e-6 here)', async () => {
    const zeros = tf.zeros([1000, 80]);
    const ones = tf.ones([1000, 80]);
    assert.equal(await scalarOf(() => distillationNormaliser(zeros, ones, 1)), 1);
    const q = tf.tidy(() => tf.reshape(tf.concat([tf.fill([3], 0.5), tf.zeros([80000 - 3])]), [1000, 80]));
    assertClose(await scalarOf(() => distillationNormaliser(q, ones, 1)), 1.5, 1e-6, 0, 'N');
    tf.dispose([zeros, ones, q]);
  });
});

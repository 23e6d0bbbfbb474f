// KLD baseline against the float64 reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { klDistillationLoss } from '../../src/losses/kl_distillation_loss.ts';
import { randomInputs, refKld } from './float64_reference.ts';
import { assertClose, checkAgainstReference, describeOnBackends, scalarOf } from './tensor_checks.ts';

describeOnBackends('klDistillationLoss', () => {
  for (const theta of [1.8, 1, 3]) {
    test(`matches float64 on masked [2, 50, 3] inputs, θ=${theta}`, async () => {
      await checkAgainstReference(
        'kld',
        randomInputs(300 + theta, 100, 3),
        [2, 50, 3],
        (x, t) => klDistillationLoss(x, t.q, { theta, mask: t.mask }),
        (r) => refKld(r, theta),
      );
    });
  }

  test('defaults to θ = 1.8 without a mask, for any rank', async () => {
    const inp = { ...randomInputs(31, 24, 2), mask: new Array<number>(24).fill(1) };
    const expected = refKld(inp, 1.8);
    for (const shape of [[48], [24, 2], [2, 12, 2], [2, 3, 4, 2]]) {
      const x = tf.tensor(inp.x, shape);
      const q = tf.tensor(inp.q, shape);
      assertClose(await scalarOf(() => klDistillationLoss(x, q)), expected, 1e-5, 0, `shape [${shape}]`);
      tf.dispose([x, q]);
    }
  });

  test('rejects a bad θ', () => {
    const x = tf.zeros([3, 2]);
    assert.throws(() => klDistillationLoss(x, x, { theta: -1 }), RangeError);
    x.dispose();
  });
});

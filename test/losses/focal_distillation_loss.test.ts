// FDL baseline against the float64 reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { focalDistillationLoss } from '../../src/losses/focal_distillation_loss.ts';
import { randomInputs, refFdl, refKld } from './float64_reference.ts';
import { assertClose, checkAgainstReference, describeOnBackends, lossTensors, scalarOf } from './tensor_checks.ts';

const SETTINGS = [
  { gamma: 2, theta: 1.8 },
  { gamma: 1, theta: 1 },
  { gamma: 0.5, theta: 2 },
];

describeOnBackends('focalDistillationLoss', () => {
  for (const [k, s] of SETTINGS.entries()) {
    test(`matches float64 on masked [2, 50, 3] inputs, γ=${s.gamma} θ=${s.theta}`, async () => {
      await checkAgainstReference(
        'fdl',
        randomInputs(400 + k, 100, 3),
        [2, 50, 3],
        (x, t) => focalDistillationLoss(x, t.q, t.y, { ...s, mask: t.mask }),
        (r) => refFdl(r, s.gamma, s.theta),
      );
    });
  }

  test('with γ = 0 it is the KLD baseline', async () => {
    const inp = { ...randomInputs(41, 30, 3), mask: new Array<number>(30).fill(1) };
    const t = lossTensors(inp, [30, 3]);
    const value = await scalarOf(() => focalDistillationLoss(t.x, t.q, t.y, { gamma: 0 }));
    assertClose(value, refKld(inp, 1.8), 1e-5, 0, 'fdl with γ = 0');
    tf.dispose(Object.values(t));
  });

  test('rejects a hard-label tensor of the wrong shape', () => {
    const x = tf.zeros([3, 2]);
    const y = tf.zeros([3]);
    assert.throws(() => focalDistillationLoss(x, x, y), /hard shape/);
    tf.dispose([x, y]);
  });
});

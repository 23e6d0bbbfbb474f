// Golden cases (float64 reference values and gradients) for every loss on cpu and wasm, and a training step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adaptiveDistillationLoss, focalLoss, smoothL1Loss } from '../../src/losses/index.ts';
import { randomInputs } from './float64_reference.ts';
import { goldenFixtureTest, goldenLossTests } from './golden_suite.ts';
import { describeOnBackends, lossTensors, scalarOf } from './tensor_checks.ts';

goldenFixtureTest();

describeOnBackends('golden losses', () => goldenLossTests());

describeOnBackends('student loss FL + ADL + L_loc', () => {
  test('trains under tf.variableGrads without leaking tensors', async () => {
    const inp = randomInputs(1234, 40, 3);
    const t = lossTensors(inp, [2, 20, 3]);
    const positive = tf.tidy(() => tf.cast(tf.greater(tf.max(t.y, -1), 0.5), 'float32'));
    const targetDeltas = tf.randomNormal([2, 20, 4], 0, 0.5, 'float32', 1);
    const logits = tf.variable(t.x);
    const deltas = tf.variable(tf.zeros([2, 20, 4]));
    const studentLoss = (): tf.Scalar =>
      tf.tidy(() =>
        tf.addN([
          focalLoss(logits, t.y, { mask: t.mask }),
          adaptiveDistillationLoss(logits, t.q, { mask: t.mask }),
          smoothL1Loss(deltas, targetDeltas, positive),
        ]) as tf.Scalar,
      );
    const first = await scalarOf(studentLoss);
    const optimizer = tf.train.adam(0.05);
    for (let step = 0; step < 15; step++) {
      const { value, grads } = tf.variableGrads(studentLoss);
      assert.deepEqual(Object.keys(grads).sort(), [logits.name, deltas.name].sort());
      optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      tf.dispose([value, ...Object.values(grads)]);
    }
    // Adam creates its slot variables on the first step, so the count is compared across a later one.
    const afterWarmup = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(studentLoss);
    optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, afterWarmup, 'tensors leaked by a training step');
    const last = await scalarOf(studentLoss);
    assert.ok(last < first * 0.8, `student loss went from ${first} to ${last}`);
    optimizer.dispose();
    tf.dispose([logits, deltas, positive, targetDeltas, ...Object.values(t)]);
  });
});

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { castConfig, identityConfig } from '../../../src/backend/wasm/identity.ts';
import { assertNoLeak, hygiene, randomValues, rng, runOn, setUpBackends } from './kernel_harness.ts';

before(setUpBackends);

test('ours are registered for wasm', () => {
  assert.equal(tf.getKernel(tf.Identity, 'wasm'), identityConfig);
  assert.equal(tf.getKernel(tf.Cast, 'wasm'), castConfig);
});

test('clone and same-dtype cast share the data, which outlives the original, without leaking', async () => {
  await tf.setBackend('wasm');
  const before = hygiene();
  const values = randomValues(rng(1), 24);
  const x = tf.tensor(values, [2, 3, 4]);
  const dataIds = tf.engine().backend.numDataIds();
  const copy = tf.clone(x);
  const cast = tf.cast(x, 'float32');
  // Shared: no new backend data for either.
  assert.equal(tf.engine().backend.numDataIds(), dataIds);
  x.dispose();
  assert.deepEqual(copy.shape, [2, 3, 4]);
  assert.deepEqual(await copy.data(), values);
  assert.deepEqual(await cast.data(), values);
  tf.dispose([copy, cast]);
  assertNoLeak(before, 'shared clone / cast');
});

test('casts between dtypes convert like cpu, including to bool (x ≠ 0, which wasm gets wrong)', async () => {
  const values = Float32Array.from([-2.7, -0.5, 0, 0.4, 1, 3.9, NaN, 256]);
  for (const dtype of ['int32', 'bool', 'float32'] as const) {
    const inputs = { x: { values, shape: [8] } };
    const ref = await runOn('cpu', tf.Cast, inputs, { dtype });
    const leakCheck = hygiene();
    const got = await runOn('wasm', tf.Cast, inputs, { dtype });
    assertNoLeak(leakCheck, `Cast to ${dtype}`);
    assert.deepEqual(got.values, ref.values, `cast to ${dtype}`);
  }
  const ints = { x: { values: Int32Array.from([-3, 0, 5, 256]), shape: [4] } };
  assert.deepEqual((await runOn('wasm', tf.Cast, ints, { dtype: 'float32' })).values, Float32Array.from([-3, 0, 5, 256]));
  assert.deepEqual((await runOn('wasm', tf.Cast, ints, { dtype: 'int32' })).values, Float32Array.from([-3, 0, 5, 256]));
  assert.deepEqual((await runOn('wasm', tf.Cast, ints, { dtype: 'bool' })).values, Float32Array.from([1, 0, 1, 1]));
});

test('gradients through saved tensors are unchanged: a variable updated after the step keeps its old value in clones', async () => {
  await tf.setBackend('wasm');
  const init = tf.tensor1d([1, 2, 3]);
  const v = tf.variable(init);
  init.dispose();
  const before = hygiene();
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(v, v)) as tf.Scalar, [v]);
  const next = tf.tensor1d([10, 20, 30]);
  v.assign(next);
  next.dispose();
  assert.deepEqual(Array.from(await grads[v.name].data()), [2, 4, 6]);
  assert.equal((await value.data())[0], 14);
  tf.dispose([value, ...Object.values(grads)]);
  assertNoLeak(before, 'variable step');
  v.dispose();
});

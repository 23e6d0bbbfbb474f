import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { splitVConfig } from '../../../src/backend/wasm/split_v.ts';
import { assertNoLeak, hygiene, type KernelInputs, randInt, randomValues, rng, runOnMany, setUpBackends, size } from './kernel_harness.ts';

before(setUpBackends);

async function check(inputs: KernelInputs, attrs: { numOrSizeSplits: number | number[]; axis: number }, what: string): Promise<void> {
  const ref = await runOnMany('cpu', tf.SplitV, inputs, attrs);
  const leakCheck = hygiene();
  const got = await runOnMany('wasm', tf.SplitV, inputs, attrs);
  assertNoLeak(leakCheck, `SplitV ${what}`);
  assert.equal(got.length, ref.length, what);
  for (const [i, r] of ref.entries()) {
    assert.deepEqual(got[i].shape, r.shape, `${what} piece ${i}`);
    assert.equal(got[i].dtype, r.dtype, `${what} piece ${i}`);
    assert.deepEqual(got[i].values, r.values, `${what} piece ${i}`);
  }
}

test('ours is registered for wasm', () => {
  assert.equal(tf.getKernel(tf.SplitV, 'wasm'), splitVConfig);
});

test('splits like cpu: the detector outputs, every axis, negative axis, -1 sizes, equal splits', async () => {
  const r = rng(3);
  const x = { values: randomValues(r, 2 * 30 * 4), shape: [2, 30, 4] };
  await check({ x }, { numOrSizeSplits: [16, 10, 4], axis: 1 }, 'levels');
  await check({ x }, { numOrSizeSplits: [1, -1], axis: 0 }, 'axis 0, -1');
  await check({ x }, { numOrSizeSplits: 2, axis: -1 }, 'last axis, equal');
  await check({ x }, { numOrSizeSplits: [0, 30], axis: 1 }, 'empty piece');
  await check({ x: { values: randomValues(r, 7), shape: [7] } }, { numOrSizeSplits: [3, 4], axis: 0 }, 'rank 1');
});

test('splits int32 and bool tensors like cpu', async () => {
  await check({ x: { values: Int32Array.from({ length: 24 }, (_, i) => i - 7), shape: [3, 8] } }, { numOrSizeSplits: [5, 3], axis: 1 }, 'int32');
  await check({ x: { values: Uint8Array.from({ length: 12 }, (_, i) => i % 3 === 0 ? 1 : 0), shape: [4, 3] } }, { numOrSizeSplits: [1, 3], axis: 0 }, 'bool');
});

test('matches cpu on 20 random shapes and splits', async () => {
  const r = rng(17);
  for (let i = 0; i < 20; i++) {
    const shape = Array.from({ length: randInt(r, 1, 4) }, () => randInt(r, 1, 6));
    const axis = randInt(r, 0, shape.length - 1);
    const sizes: number[] = [];
    for (let left = shape[axis]; left > 0; ) {
      const s = randInt(r, 1, left);
      sizes.push(s);
      left -= s;
    }
    await check({ x: { values: randomValues(r, size(shape)), shape } }, { numOrSizeSplits: sizes, axis }, `[${shape}] axis ${axis} [${sizes}]`);
  }
});

test('the gradient of concat on wasm equals cpu', async () => {
  const r = rng(4);
  const parts = [randomValues(r, 2 * 5 * 3), randomValues(r, 2 * 2 * 3)];
  const up = randomValues(r, 2 * 7 * 3);
  const gradOn = async (name: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
    await tf.setBackend(name);
    const leakCheck = hygiene();
    const a = tf.tensor3d(parts[0], [2, 5, 3]);
    const b = tf.tensor3d(parts[1], [2, 2, 3]);
    const u = tf.tensor3d(up, [2, 7, 3]);
    const grads = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.concat([p, q], 1), u)))([a, b]);
    const values = [(await grads[0].data()) as Float32Array, (await grads[1].data()) as Float32Array];
    tf.dispose([a, b, u, ...grads]);
    assertNoLeak(leakCheck, `concat gradient on ${name}`);
    return values;
  };
  assert.deepEqual(await gradOn('wasm'), await gradOn('cpu'));
});

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { sumConfig } from '../../../src/backend/wasm/sum.ts';
import { assertNoLeak, hygiene, randInt, randomValues, relativeError, rng, runOn, setUpBackends, size } from './kernel_harness.ts';

before(setUpBackends);

async function check(shape: number[], axis: number | number[], keepDims: boolean, seed: number, ints = false): Promise<void> {
  const r = rng(seed);
  const values = ints ? Int32Array.from({ length: size(shape) }, () => randInt(r, -9, 9)) : randomValues(r, size(shape));
  const inputs = { x: { values, shape } };
  const attrs = { axis, keepDims };
  const what = `Sum [${shape}] axis ${JSON.stringify(axis)} keepDims ${keepDims}${ints ? ' int32' : ''}`;
  const ref = await runOn('cpu', tf.Sum, inputs, attrs);
  const leakCheck = hygiene();
  const got = await runOn('wasm', tf.Sum, inputs, attrs);
  assertNoLeak(leakCheck, what);
  assert.deepEqual(got.shape, ref.shape, what);
  const err = relativeError(got.values, ref.values);
  assert.ok(err <= 1e-5, `${what}: relative error ${err}`);
}

test('ours is registered for wasm', () => {
  assert.equal(tf.getKernel(tf.Sum, 'wasm'), sumConfig);
});

test('bias gradients: sums over [0, 1, 2] of [batch, h, w, c] like cpu, with and without keepDims', async () => {
  await check([8, 64, 64, 16], [0, 1, 2], false, 1);
  await check([8, 16, 16, 36], [0, 1, 2], true, 2);
  await check([3, 5, 7, 2], [2, 0, 1], false, 3);
  await check([2, 3], 0, false, 4);
  await check([1, 1, 5], [0, 1], false, 5);
});

test('other reductions (trailing, middle, all, negative axes) and int32 match cpu (wasm own kernel)', async () => {
  await check([4, 6, 5], -1, false, 6);
  await check([4, 6, 5], [1], true, 7);
  await check([4, 6, 5], [0, 2], false, 8);
  await check([4, 6, 5], [0, 1, 2], false, 9);
  await check([4, 6], [0], false, 10, true);
});

test('matches cpu on 25 random leading-axes reductions', async () => {
  const r = rng(21);
  for (let i = 0; i < 25; i++) {
    const shape = Array.from({ length: randInt(r, 2, 4) }, () => randInt(r, 1, 9));
    const k = randInt(r, 1, shape.length - 1);
    await check(shape, Array.from({ length: k }, (_, a) => a), r() < 0.5, 100 + i);
  }
});

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { addConfig } from '../../../src/backend/wasm/add.ts';
import { assertNoLeak, hygiene, randInt, randomValues, rng, runOn, setUpBackends, size } from './kernel_harness.ts';

before(setUpBackends);

async function check(aShape: number[], bShape: number[], seed: number): Promise<void> {
  const r = rng(seed);
  const inputs = { a: { values: randomValues(r, size(aShape)), shape: aShape }, b: { values: randomValues(r, size(bShape)), shape: bShape } };
  const what = `Add [${aShape}] + [${bShape}]`;
  const ref = await runOn('cpu', tf.Add, inputs, {});
  const leakCheck = hygiene();
  const got = await runOn('wasm', tf.Add, inputs, {});
  assertNoLeak(leakCheck, what);
  assert.deepEqual(got.shape, ref.shape, what);
  // Each output is one float32 addition on both backends: bitwise equal.
  assert.deepEqual(got.values, ref.values, what);
}

test('ours is registered for wasm', () => {
  assert.equal(tf.getKernel(tf.Add, 'wasm'), addConfig);
});

test('a per-channel bias (either side) is added exactly like cpu', async () => {
  await check([8, 64, 64, 16], [16], 1);
  await check([36], [8, 16, 16, 36], 2);
  await check([3, 5, 7, 3], [3], 3);
  await check([6, 10], [10], 4);
  // m not divisible by 2: no tiling possible, falls back.
  await check([3, 5, 7], [7], 5);
});

test('other broadcasts, same shapes, scalars and int32 match cpu (wasm own kernel)', async () => {
  await check([4, 6], [4, 6], 6);
  await check([4, 6], [], 7);
  await check([4, 1], [1, 6], 8);
  await check([7], [7], 9);
  await check([2, 3, 4], [3, 1], 10);
  const ints = { a: { values: Int32Array.from([1, -2, 3, 4]), shape: [2, 2] }, b: { values: Int32Array.from([10, 20]), shape: [2] } };
  assert.deepEqual((await runOn('wasm', tf.Add, ints, {})).values, (await runOn('cpu', tf.Add, ints, {})).values);
});

test('matches cpu on 20 random bias shapes', async () => {
  const r = rng(31);
  for (let i = 0; i < 20; i++) {
    const shape = Array.from({ length: randInt(r, 2, 4) }, () => randInt(r, 1, 12));
    const bias = [shape[shape.length - 1]];
    await (r() < 0.5 ? check(shape, bias, 100 + i) : check(bias, shape, 100 + i));
  }
});

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { unsortedSegmentSumConfig } from '../../../src/backend/wasm/unsorted_segment_sum.ts';
import { assertNoLeak, hygiene, randInt, randomValues, relativeError, rng, runOn, setUpBackends, size } from './kernel_harness.ts';

before(setUpBackends);

async function check(xShape: number[], ids: Int32Array, idsShape: number[], numSegments: number, seed: number, dtype: 'float32' | 'int32' = 'float32'): Promise<void> {
  const r = rng(seed);
  const values = dtype === 'float32' ? randomValues(r, size(xShape)) : Int32Array.from({ length: size(xShape) }, () => randInt(r, -5, 5));
  const inputs = { x: { values, shape: xShape }, segmentIds: { values: ids, shape: idsShape } };
  // The cpu kernel mis-broadcasts multi-dimensional ids, so it gets the flattened equivalent.
  const flat = { x: { values, shape: [ids.length, ...xShape.slice(idsShape.length)] }, segmentIds: { values: ids, shape: [ids.length] } };
  const ref = await runOn('cpu', tf.UnsortedSegmentSum, flat, { numSegments });
  const leakCheck = hygiene();
  const got = await runOn('wasm', tf.UnsortedSegmentSum, inputs, { numSegments });
  assertNoLeak(leakCheck, 'UnsortedSegmentSum');
  assert.deepEqual(got.shape, ref.shape);
  assert.ok(relativeError(got.values, ref.values) <= 1e-6, `x [${xShape}] ids [${Array.from(ids)}] n ${numSegments}`);
}

test('ours is registered for wasm (which has none)', () => {
  assert.equal(tf.getKernel(tf.UnsortedSegmentSum, 'wasm'), unsortedSegmentSumConfig);
});

test('sums duplicates, leaves empty segments at 0, drops out-of-range ids like cpu', async () => {
  await check([6, 3], Int32Array.from([2, 0, 2, 2, 4, 0]), [6], 5, 1);
  await check([5, 2, 3], Int32Array.from([1, -1, 3, 7, 1]), [5], 4, 2);
  await check([4], Int32Array.from([0, 0, 0, 0]), [4], 1, 3);
  await check([2, 3, 4], Int32Array.from([0, 2, 1, 2, 0, 5]), [2, 3], 3, 4);
  await check([5, 3], Int32Array.from([4, 3, 2, 1, 0]), [5], 6, 5, 'int32');
});

test('matches cpu on random shapes and ids', async () => {
  const r = rng(9);
  for (let i = 0; i < 20; i++) {
    const n = randInt(r, 1, 30);
    const inner = Array.from({ length: randInt(r, 0, 2) }, () => randInt(r, 1, 5));
    const numSegments = randInt(r, 1, 12);
    const ids = Int32Array.from({ length: n }, () => randInt(r, -1, numSegments));
    await check([n, ...inner], ids, [n], numSegments, 100 + i);
  }
});

test('the gradient of tf.gather on wasm equals cpu', async () => {
  const r = rng(8);
  const table = randomValues(r, 7 * 4);
  const idx = Int32Array.from([3, 0, 3, 6, 1, 3]);
  const up = randomValues(r, 6 * 4);
  const gradOn = async (name: 'cpu' | 'wasm'): Promise<Float32Array> => {
    await tf.setBackend(name);
    const leakCheck = hygiene();
    const t = tf.tensor2d(table, [7, 4]);
    const i = tf.tensor1d(idx, 'int32');
    const u = tf.tensor2d(up, [6, 4]);
    const g = tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.gather(p, i), u)))(t);
    const v = (await g.data()) as Float32Array;
    tf.dispose([t, i, u, g]);
    assertNoLeak(leakCheck, `gather gradient on ${name}`);
    return v;
  };
  const ref = await gradOn('cpu');
  const got = await gradOn('wasm');
  assert.ok(relativeError(got, ref) <= 1e-6);
});

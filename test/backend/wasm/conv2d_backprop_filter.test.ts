import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { backpropFilterWith, conv2dBackpropFilterConfig, type FilterGradMethod } from '../../../src/backend/wasm/conv2d_backprop_filter.ts';
import type { KernelBackend } from '../../../src/backend/wasm/kernel_utils.ts';
import {
  assertNoLeak,
  type ConvCase,
  hygiene,
  outputShape,
  randomConvCase,
  randomValues,
  relativeError,
  rng,
  runOn,
  setUpBackends,
  size,
} from './kernel_harness.ts';

before(setUpBackends);

async function check(c: ConvCase, seed: number): Promise<void> {
  const r = rng(seed);
  const dyShape = outputShape(c);
  const inputs = { x: { values: randomValues(r, size(c.x)), shape: c.x }, dy: { values: randomValues(r, size(dyShape)), shape: dyShape } };
  const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter };
  const ref = await runOn('cpu', tf.Conv2DBackpropFilter, inputs, attrs);
  const leakCheck = hygiene();
  const got = await runOn('wasm', tf.Conv2DBackpropFilter, inputs, attrs);
  assertNoLeak(leakCheck, `Conv2DBackpropFilter ${JSON.stringify(c)}`);
  assert.deepEqual(got.shape, c.filter);
  const err = relativeError(got.values, ref.values);
  assert.ok(err <= 1e-4, `relative error ${err} for ${JSON.stringify(c)} (seed ${seed})`);
}

test('our kernel is the one registered for wasm', () => {
  assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm'), conv2dBackpropFilterConfig);
});

test('matches cpu on hand-picked shapes: stride 1/2, same/valid, batch > 1, non-square, odd', async () => {
  const cases: ConvCase[] = [
    { x: [2, 9, 7, 3], filter: [3, 3, 3, 5], strides: 1, pad: 'same' },
    { x: [2, 9, 7, 3], filter: [3, 3, 3, 5], strides: 2, pad: 'same' },
    { x: [3, 10, 12, 4], filter: [3, 3, 4, 6], strides: 2, pad: 'same' },
    { x: [2, 11, 8, 5], filter: [3, 3, 5, 2], strides: 2, pad: 'valid' },
    { x: [1, 8, 8, 16], filter: [1, 1, 16, 16], strides: 1, pad: 'valid' },
    { x: [2, 13, 6, 1], filter: [5, 2, 1, 1], strides: [2, 1], pad: 'same' },
    { x: [1, 7, 7, 2], filter: [3, 3, 2, 3], strides: 3, pad: 1 },
    { x: [1, 4, 4, 2], filter: [4, 4, 2, 3], strides: 2, pad: 'same' },
  ];
  for (const [i, c] of cases.entries()) await check(c, 100 + i);
});

test('matches cpu on 40 random geometries (channels 1..16, filters 1..5, strides 1..3)', async () => {
  const r = rng(7);
  for (let i = 0; i < 40; i++) await check(randomConvCase(r), 1000 + i);
});

/** Runs one method on wasm (whatever the selection rule would pick) and checks it against cpu. */
async function checkMethod(method: FilterGradMethod, c: ConvCase, seed: number): Promise<void> {
  const r = rng(seed);
  const dyShape = outputShape(c);
  const xValues = randomValues(r, size(c.x));
  const dyValues = randomValues(r, size(dyShape));
  const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter } as unknown as tf.Conv2DBackpropFilterAttrs;
  const ref = await runOn('cpu', tf.Conv2DBackpropFilter, { x: { values: xValues, shape: c.x }, dy: { values: dyValues, shape: dyShape } }, attrs);
  await tf.setBackend('wasm');
  const x = tf.tensor4d(xValues, c.x);
  const dy = tf.tensor(dyValues, dyShape);
  const leakCheck = hygiene();
  const backend = tf.backend() as unknown as KernelBackend;
  const out = backpropFilterWith(method, backend, { dataId: x.dataId, shape: x.shape, dtype: 'float32' }, { dataId: dy.dataId, shape: dy.shape, dtype: 'float32' }, attrs);
  const got = Float32Array.from(backend.typedArrayFromHeap(out));
  assert.deepEqual(out.shape, c.filter);
  backend.disposeData(out.dataId);
  assertNoLeak(leakCheck, `${method} ${JSON.stringify(c)}`);
  tf.dispose([x, dy]);
  const err = relativeError(got, ref.values);
  assert.ok(err <= 1e-4, `${method}: relative error ${err} for ${JSON.stringify(c)} (seed ${seed})`);
}

test('each method matches cpu on 25 random geometries, whichever the selection rule picks', async () => {
  for (const method of ['phase-gemm', 'swapped-conv'] as const) {
    const r = rng(method === 'phase-gemm' ? 23 : 29);
    for (let i = 0; i < 25; i++) await checkMethod(method, randomConvCase(r), 3000 + i);
  }
  // The detector's shapes: 1×1, 3×3 stride 1 / 2, small and large maps, the RGB stem.
  const detector: ConvCase[] = [
    { x: [2, 16, 16, 8], filter: [1, 1, 8, 8], strides: 1, pad: 'same' },
    { x: [2, 4, 4, 8], filter: [3, 3, 8, 8], strides: 1, pad: 'same' },
    { x: [2, 8, 8, 6], filter: [3, 3, 6, 8], strides: 2, pad: 'same' },
    { x: [2, 32, 32, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
  ];
  for (const [i, c] of detector.entries()) {
    for (const method of ['phase-gemm', 'swapped-conv'] as const) await checkMethod(method, c, 4000 + i);
  }
});

test('rejects NCHW and mismatched dy with a clear error, without leaking', async () => {
  await tf.setBackend('wasm');
  const x = tf.zeros([1, 5, 5, 2]);
  const dy = tf.zeros([1, 4, 4, 3]);
  const leakCheck = hygiene();
  assert.throws(
    () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] }),
    /supports only dataFormat 'NHWC'/,
  );
  assert.throws(
    () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] }),
    /dy shape \[1,4,4,3\] does not match the forward output \[1,5,5,3\]/,
  );
  assertNoLeak(leakCheck, 'failed Conv2DBackpropFilter');
  tf.dispose([x, dy]);
});

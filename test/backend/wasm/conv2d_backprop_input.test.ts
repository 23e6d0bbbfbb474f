import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropInputConfig } from '../../../src/backend/wasm/conv2d_backprop_input.ts';
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
  const inputs = { dy: { values: randomValues(r, size(dyShape)), shape: dyShape }, filter: { values: randomValues(r, size(c.filter)), shape: c.filter } };
  const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
  const ref = await runOn('cpu', tf.Conv2DBackpropInput, inputs, attrs);
  const leakCheck = hygiene();
  const got = await runOn('wasm', tf.Conv2DBackpropInput, inputs, attrs);
  assertNoLeak(leakCheck, `Conv2DBackpropInput ${JSON.stringify(c)}`);
  assert.deepEqual(got.shape, c.x);
  const err = relativeError(got.values, ref.values);
  assert.ok(err <= 1e-4, `relative error ${err} for ${JSON.stringify(c)} (seed ${seed})`);
}

test("ours replaces wasm's own Conv2DBackpropInput", () => {
  assert.equal(tf.getKernel(tf.Conv2DBackpropInput, 'wasm'), conv2dBackpropInputConfig);
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
    { x: [1, 6, 6, 2], filter: [3, 3, 2, 2], strides: 1, pad: [[0, 0], [4, 0], [0, 3], [0, 0]] },
    // Row phases the filter never reaches (1 tap, stride 2 / 3) are zero.
    { x: [2, 7, 8, 3], filter: [1, 1, 3, 4], strides: 2, pad: 'valid' },
    { x: [2, 9, 5, 2], filter: [2, 1, 2, 3], strides: [3, 1], pad: 'same' },
    // The detector's: 3×3 stride 2 'same' on even maps, batch 8.
    { x: [8, 8, 8, 6], filter: [3, 3, 6, 8], strides: 2, pad: 'same' },
  ];
  for (const [i, c] of cases.entries()) await check(c, 200 + i);
});

test('matches cpu on 40 random geometries (channels 1..16, filters 1..5, strides 1..3)', async () => {
  const r = rng(11);
  for (let i = 0; i < 40; i++) await check(randomConvCase(r), 2000 + i);
});

test('tf.conv2dTranspose (which runs this kernel) matches cpu', async () => {
  const r = rng(5);
  const x = { values: randomValues(r, 2 * 5 * 6 * 4), shape: [2, 5, 6, 4] };
  const f = { values: randomValues(r, 3 * 3 * 3 * 4), shape: [3, 3, 3, 4] };
  const run = async (name: 'cpu' | 'wasm'): Promise<Float32Array> => {
    await tf.setBackend(name);
    const leakCheck = hygiene();
    const y = tf.tidy(() => tf.conv2dTranspose(tf.tensor4d(x.values, x.shape as never), tf.tensor4d(f.values, f.shape as never), [2, 10, 11, 3], 2, 'same'));
    const v = (await y.data()) as Float32Array;
    y.dispose();
    assertNoLeak(leakCheck, `conv2dTranspose on ${name}`);
    return v;
  };
  const ref = await run('cpu');
  const got = await run('wasm');
  assert.ok(relativeError(got, ref) <= 1e-4);
});

test('rejects NCHW with a clear error, without leaking', async () => {
  await tf.setBackend('wasm');
  const dy = tf.zeros([1, 5, 5, 3]);
  const filter = tf.zeros([3, 3, 2, 3]);
  const leakCheck = hygiene();
  assert.throws(
    () => tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, { strides: 1, pad: 'same', dataFormat: 'NCHW', inputShape: [1, 5, 5, 2] }),
    /supports only dataFormat 'NHWC'/,
  );
  assertNoLeak(leakCheck, 'failed Conv2DBackpropInput');
  tf.dispose([dy, filter]);
});

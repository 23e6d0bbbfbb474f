import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { depthwiseConv2dBackpropFilterConfig } from '../../../src/backend/wasm/depthwise_conv2d_backprop_filter.ts';
import {
  assertNoLeak,
  type DepthwiseCase,
  depthwiseOutputShape,
  hygiene,
  randomDepthwiseCase,
  randomValues,
  relativeError,
  rng,
  runOn,
  setUpBackends,
  size,
} from './kernel_harness.ts';

before(setUpBackends);

async function check(c: DepthwiseCase, seed: number): Promise<void> {
  const r = rng(seed);
  const dyShape = depthwiseOutputShape(c);
  const inputs = { x: { values: randomValues(r, size(c.x)), shape: c.x }, dy: { values: randomValues(r, size(dyShape)), shape: dyShape } };
  const attrs = { strides: c.strides, dilations: c.dilations, pad: c.pad, filterShape: c.filter };
  const ref = await runOn('cpu', tf.DepthwiseConv2dNativeBackpropFilter, inputs, attrs);
  const leakCheck = hygiene();
  const got = await runOn('wasm', tf.DepthwiseConv2dNativeBackpropFilter, inputs, attrs);
  assertNoLeak(leakCheck, `DepthwiseConv2dNativeBackpropFilter ${JSON.stringify(c)}`);
  assert.deepEqual(got.shape, c.filter);
  const err = relativeError(got.values, ref.values);
  assert.ok(err <= 1e-4, `relative error ${err} for ${JSON.stringify(c)} (seed ${seed})`);
}

test('ours is registered for wasm (which has none)', () => {
  assert.equal(tf.getKernel(tf.DepthwiseConv2dNativeBackpropFilter, 'wasm'), depthwiseConv2dBackpropFilterConfig);
});

test('matches cpu on hand-picked shapes: stride 1/2, non-square filters, multiplier 1/3, same/valid', async () => {
  const cases: DepthwiseCase[] = [
    { x: [2, 9, 7, 3], filter: [3, 3, 3, 1], strides: 1, dilations: 1, pad: 'same' },
    { x: [2, 9, 7, 3], filter: [3, 3, 3, 2], strides: 2, dilations: 1, pad: 'same' },
    { x: [3, 10, 12, 4], filter: [3, 3, 4, 3], strides: 2, dilations: 1, pad: 'valid' },
    { x: [1, 11, 9, 2], filter: [1, 3, 2, 1], strides: 1, dilations: 1, pad: 'same' },
    { x: [2, 8, 8, 16], filter: [5, 5, 16, 1], strides: 1, dilations: 1, pad: 'same' },
  ];
  for (const [i, c] of cases.entries()) await check(c, 300 + i);
});

test('matches cpu on 30 random geometries', async () => {
  const r = rng(21);
  for (let i = 0; i < 30; i++) await check(randomDepthwiseCase(r), 3000 + i);
});

test('dilation > 1 is refused with a clear error, without leaking', async () => {
  await tf.setBackend('wasm');
  const x = tf.zeros([1, 6, 6, 2]);
  const dy = tf.zeros([1, 6, 6, 2]);
  const filter = tf.zeros([3, 3, 2, 1]);
  const leakCheck = hygiene();
  assert.throws(() => tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, { strides: 1, dilations: 2, pad: 'same', filterShape: [3, 3, 2, 1] }), /supports only dilation 1, got \[2, 2\]/);
  assertNoLeak(leakCheck, 'refused DepthwiseConv2dNativeBackpropFilter');
  tf.dispose([x, dy, filter]);
});

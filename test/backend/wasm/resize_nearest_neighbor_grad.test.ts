import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resizeNearestNeighborGradConfig } from '../../../src/backend/wasm/resize_nearest_neighbor_grad.ts';
import { assertNoLeak, hygiene, randomValues, relativeError, rng, setUpBackends, size } from './kernel_harness.ts';

before(setUpBackends);

type Shape4 = [number, number, number, number];

/**
 * The exact gradient, Σ of dy over the output pixels each source pixel was copied to, with the
 * copy pattern read off the forward op on cpu (resizing an image of source indices). The cpu
 * backend's own ResizeNearestNeighborGrad is not a reference: it is wrong for batch > 1.
 */
async function reference(inShape: Shape4, outSize: [number, number], alignCorners: boolean, halfPixelCenters: boolean, dy: Float32Array): Promise<Float32Array> {
  await tf.setBackend('cpu');
  const n = size(inShape);
  const index = tf.tensor4d(Float32Array.from({ length: n }, (_, i) => i), inShape);
  const resized = tf.image.resizeNearestNeighbor(index, outSize, alignCorners, halfPixelCenters);
  const source = await resized.data();
  tf.dispose([index, resized]);
  const dx = new Float32Array(n);
  source.forEach((src, i) => (dx[src] += dy[i]));
  return dx;
}

/** The gradient of tf.image.resizeNearestNeighbor on wasm. */
async function wasmGrad(inShape: Shape4, outSize: [number, number], alignCorners: boolean, halfPixelCenters: boolean, dy: Float32Array): Promise<Float32Array> {
  await tf.setBackend('wasm');
  const leakCheck = hygiene();
  const x = tf.zeros(inShape) as tf.Tensor4D;
  const up = tf.tensor4d(dy, [inShape[0], ...outSize, inShape[3]]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(t as tf.Tensor4D, outSize, alignCorners, halfPixelCenters), up)))(x);
  const values = (await g.data()) as Float32Array;
  tf.dispose([x, up, g]);
  assertNoLeak(leakCheck, 'resize gradient on wasm');
  return values;
}

async function check(inShape: Shape4, outSize: [number, number], alignCorners: boolean, halfPixelCenters: boolean, seed: number): Promise<void> {
  const dy = randomValues(rng(seed), inShape[0] * outSize[0] * outSize[1] * inShape[3]);
  const ref = await reference(inShape, outSize, alignCorners, halfPixelCenters, dy);
  const got = await wasmGrad(inShape, outSize, alignCorners, halfPixelCenters, dy);
  const err = relativeError(got, ref);
  assert.ok(err <= 1e-6, `[${inShape}] → [${outSize}] alignCorners ${alignCorners} halfPixelCenters ${halfPixelCenters}: relative error ${err}`);
}

test('ours is registered for wasm', () => {
  assert.equal(tf.getKernel(tf.ResizeNearestNeighborGrad, 'wasm'), resizeNearestNeighborGradConfig);
});

test('whole-factor upsampling (the FPN ×2, ×3, non-square, batch > 1) sums dy over each copied block', async () => {
  await check([8, 8, 8, 32], [16, 16], false, false, 1);
  await check([2, 4, 4, 3], [8, 8], false, true, 2);
  await check([2, 3, 5, 2], [9, 5], false, false, 3);
  await check([1, 2, 3, 4], [6, 12], false, true, 4);
  await check([1, 1, 1, 1], [1, 1], false, false, 5);
});

test('fractional factors and aligned corners are left to wasm own kernel, which is also exact', async () => {
  await check([2, 4, 4, 3], [6, 7], false, false, 6);
  await check([2, 4, 4, 3], [8, 8], true, false, 7);
});

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { type KernelBackend, KernelScope, withScope } from '../../../src/backend/wasm/kernel_utils.ts';
import { assertNoLeak, hygiene, randInt, randomValues, rng, setUpBackends, size } from './kernel_harness.ts';

before(setUpBackends);

function info(t: tf.Tensor): tf.TensorInfo {
  return { dataId: t.dataId, shape: t.shape, dtype: t.dtype };
}

/** Runs `body` in a scope on wasm and returns a copy of the result's values and its shape. */
function onWasm(body: (s: KernelScope) => tf.TensorInfo): { values: Float32Array; shape: number[] } {
  const backend = tf.backend() as unknown as KernelBackend;
  const out = withScope(backend, body);
  const values = Float32Array.from(backend.typedArrayFromHeap(out));
  backend.disposeData(out.dataId);
  return { values, shape: out.shape };
}

test('padOrCrop zero-pads and crops NHWC maps like tf.pad / tf.slice, in every combination', async () => {
  await tf.setBackend('wasm');
  const r = rng(5);
  for (let i = 0; i < 60; i++) {
    const shape: [number, number, number, number] = [randInt(r, 1, 3), randInt(r, 1, 7), randInt(r, 1, 7), randInt(r, 1, 4)];
    const [top, bottom, left, right] = [0, 0, 0, 0].map(() => randInt(r, -2, 3));
    if (shape[1] + top + bottom <= 0 || shape[2] + left + right <= 0 || -top - bottom >= shape[1] || -left - right >= shape[2]) continue;
    const x = tf.tensor4d(randomValues(r, size(shape)), shape);
    const before = hygiene();
    const got = onWasm((s) => {
      const out = s.padOrCrop(info(x), top, bottom, left, right);
      // Nothing to do returns x itself, which the scope does not own.
      return out.dataId === x.dataId ? s.reshape(out, out.shape) : out;
    });
    assertNoLeak(before, 'padOrCrop');
    const expected = tf.tidy(() => {
      const padded = tf.pad(x, [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]]);
      const t0 = Math.max(0, -top);
      const l0 = Math.max(0, -left);
      return tf.slice(padded, [0, t0, l0, 0], [shape[0], padded.shape[1] - t0 - Math.max(0, -bottom), padded.shape[2] - l0 - Math.max(0, -right), shape[3]]);
    });
    assert.deepEqual(got.shape, expected.shape, `[${shape}] by (${top}, ${bottom}, ${left}, ${right})`);
    assert.deepEqual(got.values, await expected.data(), `[${shape}] by (${top}, ${bottom}, ${left}, ${right})`);
    tf.dispose([x, expected]);
  }
});

test('windows stacks row windows; spread scatters pixels onto a zero canvas', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor2d(Float32Array.from({ length: 4 * 6 }, (_, i) => i), [4, 6]);
  const before = hygiene();
  const got = onWasm((s) => s.windows(info(x), [{ row0: 1, rows: 2, col0: 3 }, { row0: 0, rows: 1, col0: 0 }], 3));
  assert.deepEqual(got.shape, [3, 3]);
  assert.deepEqual(Array.from(got.values), [9, 10, 11, 15, 16, 17, 0, 1, 2]);
  assert.throws(() => withScope(tf.backend() as unknown as KernelBackend, (s) => s.windows(info(x), [{ row0: 3, rows: 2, col0: 0 }], 3)), /out of range/);
  const img = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
  const canvas = onWasm((s) => s.spread(info(img), 2, 2, 1, 0, 4, 4));
  assert.deepEqual(Array.from(canvas.values), [0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0]);
  tf.dispose(img);
  assertNoLeak(before, 'windows / spread');
  x.dispose();
});

test('a scope frees its intermediates when the body throws, and runOriginal needs a saved kernel', async () => {
  await tf.setBackend('wasm');
  const x = tf.ones([2, 3]);
  const before = hygiene();
  assert.throws(
    () =>
      withScope(tf.backend() as unknown as KernelBackend, (s) => {
        s.transpose(info(x), [1, 0]);
        s.filled([4], 1);
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.throws(() => withScope(tf.backend() as unknown as KernelBackend, (s) => s.runOriginal('NoSuchKernel', { x: info(x) })), /was not saved/);
  assertNoLeak(before, 'failed scope');
  x.dispose();
});


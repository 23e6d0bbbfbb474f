// Add for the wasm backend with a fast path for adding a per-channel bias to [..., channels].
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, requireInput, runOriginal, wasmKernel, withScope } from './kernel_utils.ts';

/*
 * A conv layer with a ReLU runs unfused while gradients are recorded: conv, then Add(y, bias) with
 * bias [c]. XNNPACK broadcasts over an inner dimension of c values, which costs ~5× a same-shape
 * add for c = 16 (0.5 ms for [8, 64, 64, 16]). Seen as [m / k, k·c] plus the bias tiled k times,
 * the same sums run with a wide inner dimension. Other shapes and dtypes go to wasm's own kernel.
 */
const MIN_ROW = 512;

function add(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const a = requireInput('Add', args.inputs, 'a');
  const b = requireInput('Add', args.inputs, 'b');
  // Addition commutes (bitwise, in IEEE arithmetic), so either input may be the bias.
  const [x, bias] = b.shape.length === 1 ? [a, b] : [b, a];
  const c = bias.shape[0];
  const rank = x.shape.length;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || bias.shape.length !== 1 || rank < 2 || x.shape[rank - 1] !== c || c >= MIN_ROW) {
    return runOriginal(tf.Add, args);
  }
  const m = x.shape.slice(0, -1).reduce((p, q) => p * q, 1);
  let k = 1;
  while (k * c < MIN_ROW && m % (2 * k) === 0) k *= 2;
  if (k === 1) return runOriginal(tf.Add, args);
  return withScope(args.backend, (s) => {
    const values = s.backend.typedArrayFromHeap(bias);
    const tiled = new Float32Array(k * c);
    for (let i = 0; i < k; i++) tiled.set(values, i * c);
    const sum = s.runOriginal(tf.Add, { a: s.reshape(x, [m / k, k * c]), b: s.float32(tiled, [k * c]) });
    return s.reshape(sum, x.shape);
  });
}

export const addConfig: tf.KernelConfig = wasmKernel(tf.Add, add, true);

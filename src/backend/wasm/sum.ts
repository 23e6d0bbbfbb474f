// Sum for the wasm backend with a fast path for reductions over leading axes (bias gradients).
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, requireInput, runOriginal, wasmKernel, withScope } from './kernel_utils.ts';

/*
 * The gradient of a bias added to [batch, h, w, c] is a Sum over axes [0, 1, 2]. wasm's Sum first
 * transposes the reduced axes to the end (a full strided copy: 0.9 ms for [8, 64, 64, 16]).
 * Summing the leading M rows of x seen as [M, N] is instead one XNNPACK average pooling of the
 * image [1, M, 1, N] with an M × 1 window (0.18 ms), times M. (A GEMM ones[1, M] · x[M, N] would
 * have to pack x as fresh weights first, which costs more than wasm's Sum.) Other reductions and
 * dtypes go to wasm's own kernel.
 */
function leadingAxes(axes: number[]): number {
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  return sorted.every((a, i) => a === i) ? sorted.length : 0;
}

function sum(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const x = requireInput('Sum', args.inputs, 'x');
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const rank = x.shape.length;
  const k = leadingAxes(tf.util.parseAxisParam(axis, x.shape));
  if (x.dtype !== 'float32' || k === 0 || k === rank) return runOriginal(tf.Sum, args);
  const m = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  const n = x.shape.slice(k).reduce((a, b) => a * b, 1);
  if (m <= 1 || n === 0) return runOriginal(tf.Sum, args);
  const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
  return withScope(args.backend, (s) => {
    const image = s.reshape(x, [1, m, 1, n]);
    const mean = s.run(tf.AvgPool, { x: image }, { filterSize: [m, 1], strides: [1, 1], pad: 'valid' }); // [1, 1, 1, n]
    // n values: scaled in place on the heap (the pooled tensor is ours alone).
    const values = s.backend.typedArrayFromHeap(mean);
    for (let i = 0; i < n; i++) values[i] *= m;
    return s.reshape(mean, outShape);
  });
}

export const sumConfig: tf.KernelConfig = wasmKernel(tf.Sum, sum, true);

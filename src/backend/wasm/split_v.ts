// SplitV for the wasm backend (the gradient of concat) as one heap copy per contiguous run.
import * as tf from '@tensorflow/tfjs';
import { HeapCopier, type KernelArgs, requireInput, runOriginal, wasmKernel } from './kernel_utils.ts';

/*
 * wasm's SplitV runs its Slice once per piece, and Slice first copies the whole input out of the
 * wasm heap: 1.3 ms to split the detector's [8, 3024, 4] outputs. Splitting along axis a is, for
 * each index of the axes before a, one contiguous run per piece, copied straight between heap views.
 */
function splitV(args: KernelArgs): tf.TensorInfo[] {
  const x = requireInput('SplitV', args.inputs, 'x');
  const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
  const [ax] = tf.util.parseAxisParam(axis, x.shape);
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
  const outer = x.shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const rowLength = x.shape[ax] * inner;
  const outs = sizes.map((s) => {
    const shape = [...x.shape];
    shape[ax] = s;
    return args.backend.makeOutput(shape, x.dtype);
  });
  // Copiers are made after every allocation: growing the heap replaces its buffer.
  let begin = 0;
  for (const [i, s] of sizes.entries()) {
    const heap = new HeapCopier(args.backend, x, outs[i]);
    const run = s * inner;
    for (let o = 0; o < outer; o++) heap.copy(o * rowLength + begin * inner, o * run, run);
    begin += s;
  }
  return outs;
}

export const splitVConfig: tf.KernelConfig = wasmKernel(
  tf.SplitV,
  (args) => (requireInput('SplitV', args.inputs, 'x').dtype === 'string' ? runOriginal(tf.SplitV, args) : splitV(args)),
  true,
);

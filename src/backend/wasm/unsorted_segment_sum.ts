// UnsortedSegmentSum for the wasm backend (the gradient of gather), as one native ScatterNd.
import * as tf from '@tensorflow/tfjs';
import { type KernelBackend, type KernelScope, requireInput, withScope, wasmKernel } from './kernel_utils.ts';

/**
 * out[s, ...] = Σ_{i : ids[i] = s} x[i, ...] for s in [0, numSegments); ids outside that range are
 * dropped, as on the cpu backend. ScatterNd sums duplicate indices, so it is exactly this sum once
 * out-of-range ids are redirected to one spare row that is cut off afterwards.
 */
function segmentSum(s: KernelScope, x: tf.TensorInfo, ids: tf.TensorInfo, numSegments: number): tf.TensorInfo {
  if (ids.dtype !== 'int32') {
    throw new Error(`distillery: wasm UnsortedSegmentSum needs int32 segmentIds, got ${ids.dtype}`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`distillery: wasm UnsortedSegmentSum supports float32 and int32 x, got ${x.dtype}`);
  }
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`distillery: UnsortedSegmentSum numSegments must be a non-negative integer, got ${numSegments}`);
  }
  const idsRank = ids.shape.length;
  if (ids.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`distillery: UnsortedSegmentSum segmentIds shape [${ids.shape}] must be a prefix of x shape [${x.shape}]`);
  }
  const count = ids.shape.reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(idsRank);
  const outShape = [numSegments, ...inner];
  const raw = s.backend.typedArrayFromHeap(ids);
  let spare = false;
  const index = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const id = raw[i];
    if (id >= 0 && id < numSegments) {
      index[i] = id;
    } else {
      index[i] = numSegments;
      spare = true;
    }
  }
  const indices = s.int32(index, [count, 1]);
  const updates = s.reshape(x, [count, ...inner]);
  if (!spare) return s.run(tf.ScatterNd, { indices, updates }, { shape: outShape });
  const padded = s.run(tf.ScatterNd, { indices, updates }, { shape: [numSegments + 1, ...inner] });
  return s.run(tf.Slice, { x: padded }, { begin: outShape.map(() => 0), size: outShape });
}

export function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: KernelBackend; attrs: tf.UnsortedSegmentSumAttrs }): tf.TensorInfo {
  const x = requireInput('UnsortedSegmentSum', args.inputs, 'x');
  const ids = requireInput('UnsortedSegmentSum', args.inputs, 'segmentIds');
  return withScope(args.backend, (s) => segmentSum(s, x, ids, args.attrs.numSegments));
}

export const unsortedSegmentSumConfig: tf.KernelConfig = wasmKernel(tf.UnsortedSegmentSum, (args) => unsortedSegmentSum({ ...args, attrs: args.attrs as unknown as tf.UnsortedSegmentSumAttrs }));

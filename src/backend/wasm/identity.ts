// Identity and Cast for the wasm backend: same-dtype results share the input's data; casts to bool are x ≠ 0.
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, requireInput, runOriginal, wasmKernel, withScope } from './kernel_utils.ts';

/*
 * The engine clones (runs Identity on) every tensor a gradient function saves, ~190 per detector
 * training step, and wasm's Identity and Cast copy the whole tensor each time. Tensors are
 * immutable and the wasm backend ref-counts shared data (its Reshape already shares), so sharing
 * is safe; it is what the cpu backend does.
 */
function share(args: KernelArgs, x: tf.TensorInfo): tf.TensorInfo {
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export const identityConfig: tf.KernelConfig = wasmKernel(
  tf.Identity,
  (args) => {
    const x = requireInput('Identity', args.inputs, 'x');
    return x.dtype === 'string' ? runOriginal(tf.Identity, args) : share(args, x);
  },
  true,
);

/**
 * x ≠ 0, as the cpu backend casts to bool: wasm's own Cast stores the numbers into a byte array,
 * so 256 becomes false and −2 becomes 254.
 */
function toBool(args: KernelArgs, x: tf.TensorInfo): tf.TensorInfo {
  return withScope(args.backend, (s) => {
    const zero = x.dtype === 'int32' ? s.int32(Int32Array.of(0), []) : s.float32(Float32Array.of(0), []);
    return s.run(tf.NotEqual, { a: x, b: zero });
  });
}

export const castConfig: tf.KernelConfig = wasmKernel(
  tf.Cast,
  (args) => {
    const x = requireInput('Cast', args.inputs, 'x');
    const { dtype } = args.attrs as unknown as tf.CastAttrs;
    if (dtype === x.dtype && dtype !== 'string') return share(args, x);
    if (dtype === 'bool' && (x.dtype === 'float32' || x.dtype === 'int32')) return toBool(args, x);
    return runOriginal(tf.Cast, args);
  },
  true,
);

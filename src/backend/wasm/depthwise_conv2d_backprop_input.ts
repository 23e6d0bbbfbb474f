// DepthwiseConv2dNativeBackpropInput for the wasm backend (which has none): zero insertion + depthwise conv.
import * as tf from '@tensorflow/tfjs';
import { assertFloat32, assertUnitDilation, type KernelBackend, type KernelScope, requireInput, withScope, wasmKernel } from './kernel_utils.ts';

/**
 * dx[b,h,w,c] = Σ_{kh,kw,m} dy[b,oh,ow,c·M+m] · W[kh,kw,c,m] with h = oh·sh + kh·dh − padTop.
 * Placing dy[oh] at row oh·sh + (fh−1)·dh − padTop of a zero canvas of height inH + (fh−1)·dh
 * turns that into a valid, stride-1 depthwise conv with the spatially flipped filter dilated by dh
 * (and likewise for columns); a Sum over the multiplier M finishes. Depthwise convs are memory-bound,
 * so the zeros inserted for stride > 1 cost little.
 */
function backpropInput(s: KernelScope, dy: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.DepthwiseConv2dNativeBackpropInputAttrs): tf.TensorInfo {
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
    'channelsLast',
  );
  const { batchSize: batch, inHeight: inH, inWidth: inW, inChannels: inC, outHeight: outH, outWidth: outW, outChannels: outC } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const mult = outC / inC;
  if (dy.shape[0] !== batch || dy.shape[1] !== outH || dy.shape[2] !== outW || dy.shape[3] !== outC) {
    throw new Error(`distillery: DepthwiseConv2dNativeBackpropInput dy shape [${dy.shape}] does not match the forward output [${batch},${outH},${outW},${outC}]`);
  }
  const canvasH = inH + (fh - 1) * dh;
  const canvasW = inW + (fw - 1) * dw;
  const canvas = s.spread(dy, sh, sw, (fh - 1) * dh - info.padInfo.top, (fw - 1) * dw - info.padInfo.left, canvasH, canvasW);
  // Flipped filter as [fh, fw, inC·mult, 1]: tap (j, k) of channel c·M + m is W[fh−1−j, fw−1−k, c, m].
  const w = s.backend.typedArrayFromHeap(filter);
  const flipped = new Float32Array(fh * fw * outC);
  for (let j = 0; j < fh; j++) {
    for (let k = 0; k < fw; k++) {
      const src = ((fh - 1 - j) * fw + (fw - 1 - k)) * outC;
      flipped.set(w.subarray(src, src + outC), (j * fw + k) * outC);
    }
  }
  const f = s.float32(flipped, [fh, fw, outC, 1]);
  const conv = s.run(tf.DepthwiseConv2dNative, { x: canvas, filter: f }, {
    strides: [1, 1],
    dilations: [dh, dw],
    pad: 'valid',
    dataFormat: 'NHWC',
  }); // [batch, inH, inW, inC·mult]
  if (mult === 1) return conv;
  return s.run(tf.Sum, { x: s.reshape(conv, [batch, inH, inW, inC, mult]) }, { axis: 4, keepDims: false });
}

export function depthwiseConv2dBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: KernelBackend;
  attrs: tf.DepthwiseConv2dNativeBackpropInputAttrs;
}): tf.TensorInfo {
  const dy = requireInput('DepthwiseConv2dNativeBackpropInput', args.inputs, 'dy');
  const filter = requireInput('DepthwiseConv2dNativeBackpropInput', args.inputs, 'filter');
  // tfjs never asks for dilated depthwise gradients (its gradient asserts dilation 1) and the cpu
  // reference ignores dilation, so there is nothing to check a dilated version against.
  assertUnitDilation('DepthwiseConv2dNativeBackpropInput', args.attrs.dilations);
  assertFloat32('DepthwiseConv2dNativeBackpropInput', dy, filter);
  return withScope(args.backend, (s) => backpropInput(s, dy, filter, args.attrs));
}

export const depthwiseConv2dBackpropInputConfig: tf.KernelConfig = wasmKernel(tf.DepthwiseConv2dNativeBackpropInput, (args) => depthwiseConv2dBackpropInput({ ...args, attrs: args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs }));

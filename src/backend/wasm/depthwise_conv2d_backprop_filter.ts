// DepthwiseConv2dNativeBackpropFilter for the wasm backend (which has none), as one depthwise conv.
import * as tf from '@tensorflow/tfjs';
import { assertFloat32, assertUnitDilation, type KernelBackend, type KernelScope, requireInput, withScope, wasmKernel } from './kernel_utils.ts';

/**
 * dW[kh,kw,c,m] = Σ_{b,oh,ow} xpad[b, oh·sh + kh·dh, ow·sw + kw·dw, c] · dy[b, oh, ow, c·M + m].
 * For one image that is a depthwise conv of xpad (channels c) with dy as its [outH, outW, C, M]
 * filter, dilated by the stride and strided by the dilation, giving [fh, fw, C·M]. Folding the
 * batch into the channels (x as [1, H, W, batch·C], dy as [outH, outW, batch·C, M]) does all images
 * in one XNNPACK call; a Sum over the batch finishes.
 */
function backpropFilter(s: KernelScope, x: tf.TensorInfo, dy: tf.TensorInfo, attrs: tf.DepthwiseConv2dNativeBackpropFilterAttrs): tf.TensorInfo {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
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
    throw new Error(`distillery: DepthwiseConv2dNativeBackpropFilter dy shape [${dy.shape}] does not match the forward output [${batch},${outH},${outW},${outC}]`);
  }
  // Padded rows/cols the filter actually reads.
  const spanH = (outH - 1) * sh + (fh - 1) * dh + 1;
  const spanW = (outW - 1) * sw + (fw - 1) * dw + 1;
  const { top, left } = info.padInfo;
  const xp = s.padOrCrop(x, top, spanH - inH - top, left, spanW - inW - left); // [batch, spanH, spanW, inC]
  const xT = s.reshape(s.transpose(xp, [1, 2, 0, 3]), [1, spanH, spanW, batch * inC]);
  const dyT = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [outH, outW, batch * inC, mult]);
  const perImage = s.run(tf.DepthwiseConv2dNative, { x: xT, filter: dyT }, {
    strides: [dh, dw],
    dilations: [sh, sw],
    pad: 'valid',
    dataFormat: 'NHWC',
  }); // [1, fh, fw, batch·inC·mult]
  const byImage = s.reshape(perImage, [fh, fw, batch, outC]);
  const summed = batch === 1 ? byImage : s.run(tf.Sum, { x: byImage }, { axis: 2, keepDims: false });
  return s.reshape(summed, [fh, fw, inC, mult]);
}

export function depthwiseConv2dBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: KernelBackend;
  attrs: tf.DepthwiseConv2dNativeBackpropFilterAttrs;
}): tf.TensorInfo {
  const x = requireInput('DepthwiseConv2dNativeBackpropFilter', args.inputs, 'x');
  const dy = requireInput('DepthwiseConv2dNativeBackpropFilter', args.inputs, 'dy');
  // tfjs never asks for dilated depthwise gradients (its gradient asserts dilation 1) and the cpu
  // reference ignores dilation, so there is nothing to check a dilated version against.
  assertUnitDilation('DepthwiseConv2dNativeBackpropFilter', args.attrs.dilations);
  assertFloat32('DepthwiseConv2dNativeBackpropFilter', x, dy);
  return withScope(args.backend, (s) => backpropFilter(s, x, dy, args.attrs));
}

export const depthwiseConv2dBackpropFilterConfig: tf.KernelConfig = wasmKernel(tf.DepthwiseConv2dNativeBackpropFilter, (args) => depthwiseConv2dBackpropFilter({ ...args, attrs: args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs }));

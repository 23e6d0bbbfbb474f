// Conv2DBackpropFilter for the wasm backend (which has none): GEMMs over stride phases, or a swapped conv.
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { assertFloat32, assertNhwc, type KernelBackend, type KernelScope, requireInput, withScope, wasmKernel } from './kernel_utils.ts';

/**
 * dW[kh,kw,ci,co] = Σ_{b,oh,ow} xpad[b, oh·sh + kh, ow·sw + kw, ci] · dy[b, oh, ow, co], computed one
 * of two ways (both are XNNPACK work plus a few copies):
 *
 * 'phase-gemm': x is padded and laid out as phase blocks [sh·sw·inC·batch, hq·wq]: block
 * (row mod sh, col mod sw), one row per (channel, image), each an hq × wq image. Every tap (kh, kw)
 * then reads, in its phase block, a contiguous run of outH full rows (wq wide) starting at row
 * ⌊kh/sh⌋, column ⌊kw/sw⌋; the run's columns past outW spill into the next row but meet dy
 * zero-padded to wq columns, so they add nothing. Each tap is thus one row-window copy, and all taps
 * one GEMM [taps·inC, batch·outH·wq] × [.., outC] with dy as the (packed) weights side, the only
 * fast MatMul path in wasm. ~1.2–1.5× the forward conv on maps of 16×16 and more.
 *
 * 'swapped-conv': with batch and channels swapped the sum is itself a convolution: the images
 * x^T [inC, H, W, batch] convolved with the "filter" dy^T [outH, outW, batch, outC] at dilation
 * (sh, sw) give [inC, fh, fw, outC]. No copies on the host, but XNNPACK packs the large filter
 * and sees few output pixels; it wins on small maps, where the GEMM's junk columns and the
 * per-row copies of 'phase-gemm' weigh most, and more so with threads, as all its work but the
 * transposes is threaded.
 *
 * (A zero-copy variant of 'phase-gemm', one GEMM per tap over aliased windows of one buffer, was
 * ~15% faster on an idle machine but 2–4× slower while other processes kept the second core busy:
 * every threaded XNNPACK call then waits up to a scheduler slice for its worker, so fewer, larger
 * calls are the robust choice on a shared machine.)
 */
export type FilterGradMethod = 'phase-gemm' | 'swapped-conv';

/** Largest stacked window matrix (floats) built for one GEMM: 64 MB. */
const MAX_IM2COL_ELEMENTS = 16 * 1024 * 1024;

/**
 * Output maps with at most this many positions per image take 'swapped-conv' (measured
 * crossovers): it runs entirely in XNNPACK's threads, the others copy on the host.
 */
const SWAPPED_CONV_MAX_POSITIONS = { singleThread: 16, multiThread: 64 };

export function chooseFilterGradMethod(info: tf.backend_util.Conv2DInfo, threads = getThreadsCount()): FilterGradMethod {
  const maxPositions = threads > 1 ? SWAPPED_CONV_MAX_POSITIONS.multiThread : SWAPPED_CONV_MAX_POSITIONS.singleThread;
  return info.outHeight * info.outWidth <= maxPositions ? 'swapped-conv' : 'phase-gemm';
}

function convInfo(x: tf.TensorInfo, attrs: tf.Conv2DBackpropFilterAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

function checkDy(dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, outHeight, outWidth, outChannels } = info;
  if (dy.shape[0] !== batchSize || dy.shape[1] !== outHeight || dy.shape[2] !== outWidth || dy.shape[3] !== outChannels) {
    throw new Error(`distillery: Conv2DBackpropFilter dy shape [${dy.shape}] does not match the forward output [${batchSize},${outHeight},${outWidth},${outChannels}]`);
  }
}

function phaseGemm(s: KernelScope, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { batchSize: batch, inHeight: inH, inWidth: inW, inChannels: inC } = info;
  const { outHeight: outH, outWidth: outW, outChannels: outC, filterHeight: fh, filterWidth: fw } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  // One spare phase row so that the last tap's run (which starts mid-row) stays inside its block.
  const hq = outH + Math.floor((fh - 1) / sh) + 1;
  const wq = outW + Math.floor((fw - 1) / sw);
  const { top, left } = info.padInfo;
  const xp = s.padOrCrop(x, top, hq * sh - inH - top, left, wq * sw - inW - left); // [batch, hq·sh, wq·sw, inC]
  // Seen as [batch·hq, sh, wq, sw·inC], one 4-D transpose gives [sh, sw·inC, batch·hq, wq], i.e. the
  // phase blocks [sh, sw, inC, batch, hq, wq] (two transposes, or one 6-D one, cost more).
  const view = s.reshape(xp, [batch * hq, sh, wq, sw * inC]);
  const phases = s.transpose(view, [1, 3, 0, 2]);
  s.release(view);
  if (xp !== x) s.release(xp);
  const cb = inC * batch;
  const blocks = s.reshape(phases, [sh * sw * cb, hq * wq]);
  const run = outH * wq;
  const dyWide = s.reshape(s.padOrCrop(dy, 0, 0, 0, wq - outW), [1, batch * run, outC]);
  // Taps are stacked into one GEMM [taps·inC, batch·run] × [batch·run, outC] as far as the budget
  // allows: one XNNPACK dispatch instead of one per tap matters for small layers (thread wake-ups
  // cost more than their GEMMs); large layers go tap-group by tap-group to bound the copy.
  const tapCount = fh * fw;
  const perGemm = Math.max(1, Math.min(tapCount, Math.floor(MAX_IM2COL_ELEMENTS / (cb * run))));
  const parts: tf.TensorInfo[] = [];
  for (let t0 = 0; t0 < tapCount; t0 += perGemm) {
    const wins = [];
    for (let t = t0; t < Math.min(tapCount, t0 + perGemm); t++) {
      const kh = Math.floor(t / fw);
      const kw = t % fw;
      const phase = (kh % sh) * sw + (kw % sw);
      wins.push({ row0: phase * cb, rows: cb, col0: Math.floor(kh / sh) * wq + Math.floor(kw / sw) });
    }
    const cols = s.windows(blocks, wins, run); // [taps·inC·batch, run]
    const a = s.reshape(cols, [1, wins.length * inC, batch * run]);
    parts.push(s.run(tf.BatchMatMul, { a, b: dyWide }, { transposeA: false, transposeB: false })); // [1, taps·inC, outC]
    s.release(a, cols);
  }
  const stacked = parts.length === 1 ? parts[0] : s.run(tf.Concat, parts, { axis: 1 });
  return s.reshape(stacked, [fh, fw, inC, outC]);
}

function swappedConv(s: KernelScope, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { inHeight: inH, inWidth: inW, outHeight: outH, outWidth: outW, filterHeight: fh, filterWidth: fw } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  // Padding after x that makes the dilated "filter" fit exactly fh × fw times; negative when the
  // forward conv never reached the last rows, which then come out as extra taps to crop.
  const bottom = fh + (outH - 1) * sh - inH - top;
  const right = fw + (outW - 1) * sw - inW - left;
  const xT = s.transpose(x, [3, 1, 2, 0]); // [inC, H, W, batch]
  const dyT = s.transpose(dy, [1, 2, 0, 3]); // [outH, outW, batch, outC]
  const pad = [
    [0, 0],
    [top, Math.max(0, bottom)],
    [left, Math.max(0, right)],
    [0, 0],
  ];
  const taps = s.run(tf.Conv2D, { x: xT, filter: dyT }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [sh, sw] }); // [inC, fh+, fw+, outC]
  const cropped = s.padOrCrop(taps, 0, Math.min(0, bottom), 0, Math.min(0, right)); // [inC, fh, fw, outC]
  return s.transpose(cropped, [1, 2, 0, 3]);
}

/** Runs one method (exported for tests, which must cover both whatever the selection rule). */
export function backpropFilterWith(
  method: FilterGradMethod | 'auto',
  backend: KernelBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  attrs: tf.Conv2DBackpropFilterAttrs,
): tf.TensorInfo {
  assertNhwc('Conv2DBackpropFilter', attrs.dataFormat);
  assertFloat32('Conv2DBackpropFilter', x, dy);
  const info = convInfo(x, attrs);
  checkDy(dy, info);
  return withScope(backend, (s) => {
    const chosen = method === 'auto' ? chooseFilterGradMethod(info) : method;
    return chosen === 'swapped-conv' ? swappedConv(s, x, dy, info) : phaseGemm(s, x, dy, info);
  });
}

export function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: KernelBackend; attrs: tf.Conv2DBackpropFilterAttrs }): tf.TensorInfo {
  const x = requireInput('Conv2DBackpropFilter', args.inputs, 'x');
  const dy = requireInput('Conv2DBackpropFilter', args.inputs, 'dy');
  return backpropFilterWith('auto', args.backend, x, dy, args.attrs);
}

export const conv2dBackpropFilterConfig: tf.KernelConfig = wasmKernel(tf.Conv2DBackpropFilter, (args) => conv2dBackpropFilter({ ...args, attrs: args.attrs as unknown as tf.Conv2DBackpropFilterAttrs }));

// Helpers for writing wasm kernels as compositions of other registered wasm kernels, leak-free.
import * as tf from '@tensorflow/tfjs';

export const WASM = 'wasm';

/** A kernel's backend argument: what we need from the wasm backend without importing its class. */
export interface KernelBackend {
  disposeData(dataId: tf.DataId): boolean;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.backend_util.TypedArray;
}

export type Pair = [number, number];

/**
 * Tracks the intermediates a composite kernel allocates so that all of them are freed exactly once,
 * even when a sub-kernel throws. Sub-kernels are called directly (not through the engine), so the
 * engine neither counts nor disposes what they return: every TensorInfo that is not the kernel's
 * output must go through `dispose`.
 */
export class KernelScope {
  private readonly owned: tf.TensorInfo[] = [];

  constructor(readonly backend: KernelBackend) {}

  /** Runs the wasm kernel `name` and takes ownership of its output (Concat/Pack take an array of inputs). */
  run(name: string, inputs: tf.NamedTensorInfoMap | tf.TensorInfo[], attrs: object = {}): tf.TensorInfo {
    const kernel = tf.getKernel(name, WASM);
    if (kernel == null) {
      throw new Error(`distillery: wasm kernel '${name}' is not registered`);
    }
    const out = kernel.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend: this.backend, attrs: attrs as tf.NamedAttrMap });
    if (Array.isArray(out)) {
      throw new Error(`distillery: wasm kernel '${name}' returned several outputs, expected one`);
    }
    this.owned.push(out);
    return out;
  }

  /** A new int32 tensor holding `values`, owned by this scope. */
  int32(values: Int32Array, shape: number[] = [values.length]): tf.TensorInfo {
    const out = this.backend.makeOutput(shape, 'int32', undefined, values);
    this.owned.push(out);
    return out;
  }

  /** A new float32 tensor holding `values`, owned by this scope. */
  float32(values: Float32Array, shape: number[]): tf.TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32', undefined, values);
    this.owned.push(out);
    return out;
  }

  /**
   * Stacks windows of the 2-D float32 `x` into one new [Σ rows, cols] tensor: window k is rows
   * [row0, row0 + rows) × columns [col0, col0 + cols) of x. Copies run straight between heap views,
   * one contiguous run per row. (The wasm Slice kernel first copies all of x out of the heap, which
   * dominates when one input is windowed many times.)
   */
  windows(x: tf.TensorInfo, wins: ReadonlyArray<{ row0: number; rows: number; col0: number }>, cols: number): tf.TensorInfo {
    const [xRows, xCols] = x.shape;
    if (x.shape.length !== 2 || x.dtype !== 'float32') {
      throw new Error(`distillery: windows() needs a 2-D float32 tensor, got [${x.shape}] ${x.dtype}`);
    }
    for (const w of wins) {
      if (w.row0 < 0 || w.col0 < 0 || w.row0 + w.rows > xRows || w.col0 + cols > xCols) {
        throw new Error(`distillery: window (${w.row0}, ${w.rows}, ${w.col0}, ${cols}) out of range for [${x.shape}]`);
      }
    }
    const out = this.backend.makeOutput([wins.reduce((n, w) => n + w.rows, 0), cols], 'float32');
    this.owned.push(out);
    // Views are taken after the allocation because growing the heap replaces the buffer.
    const src = this.backend.typedArrayFromHeap(x);
    const dst = this.backend.typedArrayFromHeap(out);
    let at = 0;
    for (const w of wins) {
      for (let r = 0; r < w.rows; r++, at += cols) {
        const from = (w.row0 + r) * xCols + w.col0;
        dst.set(src.subarray(from, from + cols), at);
      }
    }
    return out;
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run(tf.Reshape, { x }, { shape });
  }

  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return this.run(tf.Transpose, { x }, { perm });
  }

  /**
   * Zero-pads (positive amounts) and/or crops (negative amounts) the two spatial dims of an NHWC
   * float32 tensor. Done as one contiguous copy per kept image row between heap views: the wasm
   * PadV2 kernel walks elements one by one (~3 ns each, 2.8 ms for a 1M-element pad) and Slice
   * first copies all of x out of the heap. Returns x itself (not owned) when there is nothing to do.
   */
  padOrCrop(x: tf.TensorInfo, top: number, bottom: number, left: number, right: number): tf.TensorInfo {
    if (top === 0 && bottom === 0 && left === 0 && right === 0) return x;
    const [n, h, w, c] = x.shape;
    const outH = h + top + bottom;
    const outW = w + left + right;
    if (x.shape.length !== 4 || x.dtype !== 'float32' || outH <= 0 || outW <= 0) {
      throw new Error(`distillery: cannot pad/crop [${x.shape}] ${x.dtype} by (${top}, ${bottom}, ${left}, ${right})`);
    }
    const out = this.backend.makeOutput([n, outH, outW, c], 'float32');
    this.owned.push(out);
    const src = this.backend.typedArrayFromHeap(x);
    const dst = this.backend.typedArrayFromHeap(out);
    if (top > 0 || bottom > 0 || left > 0 || right > 0) dst.fill(0);
    const rowFrom = Math.max(0, -top); // first input row kept
    const rowTo = Math.min(h, h + bottom); // one past the last
    const colFrom = Math.max(0, -left);
    const runLength = (Math.min(w, w + right) - colFrom) * c;
    if (runLength <= 0) return out;
    for (let b = 0; b < n; b++) {
      for (let ih = rowFrom; ih < rowTo; ih++) {
        const from = ((b * h + ih) * w + colFrom) * c;
        const to = ((b * outH + ih + top) * outW + colFrom + left) * c;
        dst.set(src.subarray(from, from + runLength), to);
      }
    }
    return out;
  }

  /**
   * Scatters the pixels of an NHWC float32 tensor onto a zero canvas [n, outH, outW, c] at
   * row oh·strideH + offH, column ow·strideW + offW (zero insertion plus padding/cropping); pixels
   * that land outside the canvas are dropped. One copy per pixel (per row when strideW is 1).
   */
  spread(x: tf.TensorInfo, strideH: number, strideW: number, offH: number, offW: number, outH: number, outW: number): tf.TensorInfo {
    const [n, h, w, c] = x.shape;
    if (x.shape.length !== 4 || x.dtype !== 'float32') {
      throw new Error(`distillery: spread() needs a 4-D float32 tensor, got [${x.shape}] ${x.dtype}`);
    }
    const out = this.backend.makeOutput([n, outH, outW, c], 'float32');
    this.owned.push(out);
    const src = this.backend.typedArrayFromHeap(x);
    const dst = this.backend.typedArrayFromHeap(out);
    dst.fill(0);
    // Columns ow with 0 ≤ ow·strideW + offW < outW.
    const owFrom = Math.max(0, Math.ceil(-offW / strideW));
    const owTo = Math.min(w, Math.floor((outW - 1 - offW) / strideW) + 1);
    if (owTo <= owFrom) return out;
    for (let b = 0; b < n; b++) {
      for (let ih = 0; ih < h; ih++) {
        const oh = ih * strideH + offH;
        if (oh < 0 || oh >= outH) continue;
        const srcRow = (b * h + ih) * w;
        const dstRow = (b * outH + oh) * outW;
        if (strideW === 1) {
          dst.set(src.subarray((srcRow + owFrom) * c, (srcRow + owTo) * c), (dstRow + owFrom + offW) * c);
          continue;
        }
        for (let iw = owFrom; iw < owTo; iw++) {
          dst.set(src.subarray((srcRow + iw) * c, (srcRow + iw + 1) * c), (dstRow + iw * strideW + offW) * c);
        }
      }
    }
    return out;
  }

  /** Frees owned intermediates early (e.g. inside a loop) to bound peak memory. */
  release(...xs: tf.TensorInfo[]): void {
    for (const x of xs) {
      const idx = this.owned.indexOf(x);
      if (idx < 0) throw new Error('distillery: release() of a tensor this scope does not own');
      this.owned.splice(idx, 1);
      this.backend.disposeData(x.dataId);
    }
  }

  /** Hands `result` to the caller and frees every other intermediate. */
  finish(result: tf.TensorInfo): tf.TensorInfo {
    const idx = this.owned.indexOf(result);
    if (idx < 0) {
      throw new Error('distillery: kernel result was not produced inside its scope');
    }
    this.owned.splice(idx, 1);
    this.dispose();
    return result;
  }

  /** Frees every intermediate still owned (reshape outputs share data and are ref-counted). */
  dispose(): void {
    for (const t of this.owned) {
      this.backend.disposeData(t.dataId);
    }
    this.owned.length = 0;
  }
}

/** Runs `body` with a fresh scope; intermediates are freed on success and on error. */
export function withScope(backend: KernelBackend, body: (scope: KernelScope) => tf.TensorInfo): tf.TensorInfo {
  const scope = new KernelScope(backend);
  try {
    return scope.finish(body(scope));
  } finally {
    scope.dispose();
  }
}

export function pair(v: number | Pair): Pair {
  return typeof v === 'number' ? [v, v] : v;
}

/** Throws the error tfjs users expect when a kernel is asked for something it does not implement. */
export function assertNhwc(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`distillery: wasm ${kernel} supports only dataFormat 'NHWC', got '${dataFormat}'`);
  }
}

export function assertUnitDilation(kernel: string, dilations: number | Pair | undefined): void {
  if (dilations == null) return;
  const [dh, dw] = pair(dilations);
  if (dh !== 1 || dw !== 1) {
    throw new Error(`distillery: wasm ${kernel} supports only dilation 1, got [${dh}, ${dw}]`);
  }
}

export function assertFloat32(kernel: string, ...xs: tf.TensorInfo[]): void {
  for (const x of xs) {
    if (x.dtype !== 'float32') {
      throw new Error(`distillery: wasm ${kernel} supports only float32 tensors, got ${x.dtype}`);
    }
  }
}

export function requireInput(kernel: string, inputs: tf.NamedTensorInfoMap, name: string): tf.TensorInfo {
  const t = inputs[name];
  if (t == null) throw new Error(`distillery: wasm ${kernel} is missing input '${name}'`);
  return t;
}

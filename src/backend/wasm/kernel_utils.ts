// Helpers for writing wasm kernels as compositions of other registered wasm kernels, leak-free.
import * as tf from '@tensorflow/tfjs';

export const WASM = 'wasm';

/** A kernel's backend argument: what we need from the wasm backend without importing its class. */
export interface KernelBackend {
  disposeData(dataId: tf.DataId): boolean;
  incRef(dataId: tf.DataId): void;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.backend_util.TypedArray;
}

export type Pair = [number, number];

/**
 * Registered wasm kernels by name, looked up once: tf.getKernel builds a string key per call, which
 * adds up over the ~100 sub-kernel calls in one training step's gradients. Cleared whenever our
 * kernels are (re)registered.
 */
const kernelCache = new Map<string, tf.KernelConfig>();

export function clearKernelCache(): void {
  kernelCache.clear();
}

function wasmKernelFor(name: string): tf.KernelConfig {
  let kernel = kernelCache.get(name);
  if (kernel == null) {
    kernel = tf.getKernel(name, WASM);
    if (kernel == null) throw new Error(`distillery: wasm kernel '${name}' is not registered`);
    kernelCache.set(name, kernel);
  }
  return kernel;
}

/** The arguments tfjs passes to a kernel function, with the backend typed as ours. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: KernelBackend;
  attrs: tf.NamedAttrMap;
}

/**
 * wasm's own kernels that ours replace, saved by `registerWasmTrainingKernels` so that a kernel
 * with fast paths for some inputs can hand every other case to the original.
 */
const originals = new Map<string, tf.KernelConfig>();

export function saveOriginalKernel(config: tf.KernelConfig): void {
  originals.set(config.kernelName, config);
}

/** Runs wasm's own kernel `name` (saved when ours was registered). */
export function runOriginal(name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const config = originals.get(name);
  if (config == null) {
    throw new Error(`distillery: wasm's own '${name}' kernel was not saved; register kernels with registerWasmTrainingKernels()`);
  }
  return config.kernelFunc({ inputs: args.inputs, backend: args.backend as unknown as tf.KernelBackend, attrs: args.attrs });
}

/**
 * The setup function of a kernel that falls back to wasm's own: the original binds its C function
 * in setup, which the backend runs only for the kernels registered when it initialises (ours then).
 */
export function originalSetup(name: string): tf.KernelSetupFunc {
  return (backend) => originals.get(name)?.setupFunc?.(backend);
}

/** A kernel config for wasm whose function receives our typed arguments. */
export function wasmKernel(kernelName: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[], fallsBack = false): tf.KernelConfig {
  return {
    kernelName,
    backendName: WASM,
    kernelFunc: (args) => kernelFunc({ inputs: args.inputs, backend: args.backend as unknown as KernelBackend, attrs: args.attrs ?? {} }),
    ...(fallsBack ? { setupFunc: originalSetup(kernelName) } : {}),
  };
}

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
    const kernel = wasmKernelFor(name);
    const out = kernel.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend: this.backend, attrs: attrs as tf.NamedAttrMap });
    if (Array.isArray(out)) {
      throw new Error(`distillery: wasm kernel '${name}' returned several outputs, expected one`);
    }
    this.owned.push(out);
    return out;
  }

  /** Runs wasm's own kernel `name` (the one ours replaced) and takes ownership of its output. */
  runOriginal(name: string, inputs: tf.NamedTensorInfoMap, attrs: object = {}): tf.TensorInfo {
    const out = runOriginal(name, { inputs, backend: this.backend, attrs: attrs as tf.NamedAttrMap });
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

  /** A new float32 tensor of `shape`, uninitialised, owned by this scope. */
  empty(shape: number[]): tf.TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.owned.push(out);
    return out;
  }

  /** A new float32 tensor of `shape` with every element `value`, owned by this scope. */
  filled(shape: number[], value: number): tf.TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.owned.push(out);
    this.backend.typedArrayFromHeap(out).fill(value);
    return out;
  }

  /**
   * Stacks windows of the 2-D float32 `x` into one new [Σ rows, cols] tensor: window k is rows
   * [row0, row0 + rows) × columns [col0, col0 + cols) of x. One heap-to-heap copy per row. (The
   * wasm Slice kernel first copies all of x out of the heap, which dominates when one input is
   * windowed many times.)
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
    const heap = new HeapCopier(this.backend, x, out);
    let at = 0;
    for (const w of wins) {
      for (let r = 0; r < w.rows; r++, at += cols) heap.copy((w.row0 + r) * xCols + w.col0, at, cols);
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
   * float32 tensor. Done as one heap-to-heap copy per kept image row plus zero fills of the
   * padding only: the wasm PadV2 kernel walks elements one by one (~3 ns each, 2.8 ms for a
   * 1M-element pad) and Slice first copies all of x out of the heap. Returns x itself (not owned)
   * when there is nothing to do.
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
    const heap = new HeapCopier(this.backend, x, out);
    const rowFrom = Math.max(0, -top); // first input row kept
    const rowTo = Math.min(h, h + bottom); // one past the last
    const colFrom = Math.max(0, -left);
    const runLength = Math.max(0, Math.min(w, w + right) - colFrom) * c;
    const outRow = outW * c;
    // Kept rows land at out rows [rowFrom + top, rowTo + top); each is `runLength` values at column
    // colFrom + left. Everything else in the output is padding and is zeroed, as contiguous spans.
    const firstOut = rowFrom + top;
    const lastOut = rowTo + top; // one past
    const before = Math.max(0, colFrom + left) * c;
    for (let b = 0; b < n; b++) {
      const image = b * outH * outRow;
      if (runLength === 0 || lastOut <= firstOut) {
        heap.zero(image, outH * outRow);
        continue;
      }
      heap.zero(image, firstOut * outRow + before); // rows above, and the left pad of the first kept row
      for (let ih = rowFrom; ih < rowTo; ih++) {
        const to = image + (ih + top) * outRow + before;
        heap.copy(((b * h + ih) * w + colFrom) * c, to, runLength);
        // The right pad of this row and the left pad of the next (or the rows below) are one span.
        const next = ih + 1 < rowTo ? image + (ih + 1 + top) * outRow + before : image + outH * outRow;
        heap.zero(to + runLength, next - to - runLength);
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
    const heap = new HeapCopier(this.backend, x, out);
    heap.zero(0, n * outH * outW * c);
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
          heap.copy((srcRow + owFrom) * c, (dstRow + owFrom + offW) * c, (owTo - owFrom) * c);
          continue;
        }
        for (let iw = owFrom; iw < owTo; iw++) heap.copy((srcRow + iw) * c, (dstRow + iw * strideW + offW) * c, c);
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

/**
 * Element copies and zero fills from one tensor to another, straight on the wasm heap. One byte
 * view of the whole heap and copyWithin (a memmove): TypedArray.set between two views of one buffer
 * goes through a temporary copy, and on the threaded build, whose heap is a SharedArrayBuffer, costs
 * ~3× as much for short runs. Create it after the last allocation: growing the heap replaces the
 * buffer. Offsets and lengths are in elements of the tensors' dtype.
 */
export class HeapCopier {
  private readonly heap: Uint8Array;
  private readonly from: number;
  private readonly to: number;
  private readonly bytes: number;

  constructor(backend: KernelBackend, src: tf.TensorInfo, dst: tf.TensorInfo) {
    const s = backend.typedArrayFromHeap(src);
    const d = backend.typedArrayFromHeap(dst);
    if (s.BYTES_PER_ELEMENT !== d.BYTES_PER_ELEMENT || s.buffer !== d.buffer) {
      throw new Error(`distillery: cannot copy ${src.dtype} to ${dst.dtype} on the heap`);
    }
    this.heap = new Uint8Array(s.buffer);
    this.bytes = s.BYTES_PER_ELEMENT;
    this.from = s.byteOffset;
    this.to = d.byteOffset;
  }

  /** dst[to, to + length) = src[from, from + length). */
  copy(from: number, to: number, length: number): void {
    if (length <= 0) return;
    const start = this.from + from * this.bytes;
    this.heap.copyWithin(this.to + to * this.bytes, start, start + length * this.bytes);
  }

  /** dst[to, to + length) = 0. */
  zero(to: number, length: number): void {
    if (length <= 0) return;
    const start = this.to + to * this.bytes;
    this.heap.fill(0, start, start + length * this.bytes);
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

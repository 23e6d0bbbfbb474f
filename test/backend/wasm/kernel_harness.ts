// Shared helpers for the wasm kernel tests: seeded inputs, cpu-vs-wasm runs, error and leak checks.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, muteCpuBanner } from '../../../src/backend/backend.ts';

/** Small deterministic PRNG (mulberry32) so every failure is reproducible from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** Uniform values in [-1, 1). */
export function randomValues(r: () => number, size: number): Float32Array {
  const v = new Float32Array(size);
  for (let i = 0; i < size; i++) v[i] = 2 * r() - 1;
  return v;
}

export async function setUpBackends(): Promise<void> {
  await initBackend('wasm');
  await tf.setBackend('cpu');
  muteCpuBanner();
  await tf.setBackend('wasm');
}

/** Kernel inputs: Int32Array values are int32, Uint8Array bool, Float32Array float32. */
export type KernelInputs = Record<string, { values: Float32Array | Int32Array | Uint8Array; shape: number[] }>;

function dtypeOf(values: Float32Array | Int32Array | Uint8Array): tf.DataType {
  return values instanceof Int32Array ? 'int32' : values instanceof Uint8Array ? 'bool' : 'float32';
}

/** Runs `kernel` on backend `name` with fresh copies of the inputs and returns every output's values. */
export async function runOnMany(
  name: 'cpu' | 'wasm',
  kernel: string,
  inputs: KernelInputs,
  attrs: object,
): Promise<{ values: Float32Array; shape: number[]; dtype: tf.DataType }[]> {
  const previous = tf.getBackend();
  await tf.setBackend(name);
  try {
    const tensors: tf.NamedTensorMap = {};
    for (const [k, { values, shape }] of Object.entries(inputs)) tensors[k] = tf.tensor(values, shape, dtypeOf(values));
    const result = tf.engine().runKernel(kernel, tensors, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(result) ? result : [result];
    const read = [];
    for (const out of outs) read.push({ values: Float32Array.from(await out.data()), shape: out.shape, dtype: out.dtype });
    tf.dispose([...outs, ...Object.values(tensors)]);
    return read;
  } finally {
    await tf.setBackend(previous);
  }
}

/** Runs `kernel` on backend `name` with fresh copies of the inputs and returns its output values. */
export async function runOn(name: 'cpu' | 'wasm', kernel: string, inputs: KernelInputs, attrs: object): Promise<{ values: Float32Array; shape: number[] }> {
  const [first] = await runOnMany(name, kernel, inputs, attrs);
  return { values: first.values, shape: first.shape };
}

/** maxAbsErr / max(1, maxAbs(ref)). */
export function relativeError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  assert.equal(got.length, ref.length, 'element counts differ');
  let err = 0;
  let mag = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(got[i] - ref[i]));
    mag = Math.max(mag, Math.abs(ref[i]));
  }
  return err / Math.max(1, mag);
}

export interface Hygiene {
  numTensors: number;
  numBytes: number;
  numDataIds: number;
}

export function hygiene(): Hygiene {
  const m = tf.memory();
  return { numTensors: m.numTensors, numBytes: m.numBytes, numDataIds: tf.engine().backend.numDataIds() };
}

/** Asserts that nothing allocated since `before` is still alive, on the engine and in the backend. */
export function assertNoLeak(before: Hygiene, what: string): void {
  assert.deepEqual(hygiene(), before, `${what} leaked tensors or backend data`);
}

/** A random conv geometry; `stride` is drawn from {1, 2} (occasionally 3 or mixed) unless given. */
export interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
}

export function randomConvCase(r: () => number): ConvCase {
  const fh = randInt(r, 1, 5);
  const fw = r() < 0.7 ? fh : randInt(r, 1, 5);
  const roll = r();
  const strides: ConvCase['strides'] = roll < 0.4 ? 1 : roll < 0.8 ? 2 : roll < 0.9 ? 3 : [2, 1];
  const padRoll = r();
  const pad: ConvCase['pad'] =
    padRoll < 0.45 ? 'same' : padRoll < 0.8 ? 'valid' : padRoll < 0.9 ? randInt(r, 0, 2) : [[0, 0], [randInt(r, 0, 2), randInt(r, 0, 3)], [randInt(r, 0, 3), randInt(r, 0, 2)], [0, 0]];
  const inC = randInt(r, 1, 16);
  return { x: [randInt(r, 1, 3), randInt(r, fh, 14), randInt(r, fw, 14), inC], filter: [fh, fw, inC, randInt(r, 1, 16)], strides, pad };
}

export function outputShape(c: ConvCase): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
  return [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
}

export const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** A random depthwise geometry (dilation 1: the only one tfjs differentiates). */
export interface DepthwiseCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number;
  dilations: number;
  pad: 'same' | 'valid';
}

export function randomDepthwiseCase(r: () => number): DepthwiseCase {
  const fh = randInt(r, 1, 4);
  const fw = r() < 0.7 ? fh : randInt(r, 1, 4);
  const strides = randInt(r, 1, 2);
  const inC = randInt(r, 1, 16);
  return {
    x: [randInt(r, 1, 3), randInt(r, fh, 13), randInt(r, fw, 13), inC],
    filter: [fh, fw, inC, randInt(r, 1, 3)],
    strides,
    dilations: 1,
    pad: r() < 0.5 ? 'same' : 'valid',
  };
}

export function depthwiseOutputShape(c: DepthwiseCase): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations, c.pad, undefined, true);
  return [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
}

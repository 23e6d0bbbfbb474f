// Test helpers for the losses: backend switching, leak-checked evaluation and tolerance assertions.
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { finiteDifference, type RefInputs } from './float64_reference.ts';

export const BACKENDS = ['cpu', 'wasm'] as const;

/** Declares the suite once per backend; the backend is switched before the suite's first test. */
export function describeOnBackends(name: string, body: (backend: string) => void): void {
  for (const backend of BACKENDS) {
    describe(`${name} [${backend}]`, () => {
      before(async () => {
        assert.ok(await tf.setBackend(backend), `backend ${backend} failed to initialise`);
        await tf.ready();
      });
      body(backend);
    });
  }
}

/**
 * Runs `make` (a loss, or a gradient of one), reads the result and disposes it, asserting that the
 * number of live tensors is unchanged: nothing the loss or its gradient created may survive.
 */
export async function evaluate(make: () => tf.Tensor): Promise<number[]> {
  const before = tf.memory().numTensors;
  const out = make();
  const values = Array.from(await out.data());
  out.dispose();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked by the loss or its gradient');
  return values;
}

/** Value of a scalar loss, leak-checked. */
export async function scalarOf(make: () => tf.Tensor): Promise<number> {
  const values = await evaluate(make);
  assert.equal(values.length, 1, 'loss is not a scalar');
  return values[0];
}

/** d loss / d logits at `logits`, leak-checked. */
export function gradientOf(loss: (logits: tf.Tensor) => tf.Tensor, logits: tf.Tensor): Promise<number[]> {
  return evaluate(() => tf.grad(loss)(logits));
}

/** Asserts |actual − expected| ≤ rtol·|expected| + atol (and that actual is finite). */
export function assertClose(actual: number, expected: number, rtol: number, atol: number, what: string): void {
  assert.ok(Number.isFinite(actual), `${what}: got ${actual}`);
  const err = Math.abs(actual - expected);
  assert.ok(err <= rtol * Math.abs(expected) + atol, `${what}: got ${actual}, expected ${expected} (|err| ${err})`);
}

export function assertAllClose(actual: number[], expected: number[], rtol: number, atol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => assertClose(a, expected[i], rtol, atol, `${what}[${i}]`));
}

/** The tensors of a reference input laid out as `shape` ([..., classes]); the mask drops the class axis. */
export interface LossTensors {
  x: tf.Tensor;
  q: tf.Tensor;
  y: tf.Tensor;
  mask: tf.Tensor;
}

export function lossTensors(inp: RefInputs, shape: number[]): LossTensors {
  return {
    x: tf.tensor(inp.x, shape),
    q: tf.tensor(inp.q, shape),
    y: tf.tensor(inp.y, shape),
    mask: tf.tensor(inp.mask, shape.length <= 1 ? shape : shape.slice(0, -1)),
  };
}

/**
 * Compares a loss with its float64 reference: the value to rtol 1e-5, and the gradient with respect
 * to every logit against central finite differences of the reference to rtol 1e-4 (plus 2e-6 of the
 * largest gradient component, float32 resolution of a sum of hundreds of terms).
 */
export async function checkAgainstReference(
  what: string,
  inp: RefInputs,
  shape: number[],
  loss: (x: tf.Tensor, t: LossTensors) => tf.Tensor,
  reference: (inp: RefInputs) => number,
): Promise<void> {
  const t = lossTensors(inp, shape);
  const value = await scalarOf(() => loss(t.x, t));
  assertClose(value, reference(inp), 1e-5, 1e-7, `${what} value`);
  const grad = await gradientOf((x) => loss(x, t), t.x);
  const expected = inp.x.map((_, i) => finiteDifference((x) => reference({ ...inp, x }), inp.x, i));
  const scale = Math.max(...expected.map(Math.abs));
  assertAllClose(grad, expected, 1e-4, 2e-6 * scale + 1e-9, `${what} gradient`);
  tf.dispose([t.x, t.q, t.y, t.mask]);
}

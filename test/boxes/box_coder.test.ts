// Tests for the RetinaNet box coder: hand values, round trips with and without weights, clamp, tensor decode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { DELTA_CLAMP, decodeBoxes, decodeBoxesTensor, encodeBoxes, type BoxCoderWeights } from '../../src/boxes/box_coder.ts';
import { rng } from '../helpers/rng.ts';

await tf.setBackend('cpu');

function randomBoxes(n: number, rand: () => number): Float32Array {
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const x = rand() * 200 - 50;
    const y = rand() * 200 - 50;
    out.set([x, y, x + 2 + rand() * 120, y + 2 + rand() * 120], i * 4);
  }
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

test('hand-computed encode: dx=(gx−ax)/aw, dy, dw=ln(gw/aw), dh; weights scale the deltas', () => {
  const anchor = [0, 0, 10, 10];
  const gt = [5, 5, 25, 15];
  assertClose(encodeBoxes(anchor, gt), [1, 0.5, Math.log(2), 0], 1e-6, 'unweighted');
  assertClose(encodeBoxes(anchor, gt, [10, 10, 5, 5]), [10, 5, 5 * Math.log(2), 0], 1e-6, 'weighted');
  assertClose(decodeBoxes(anchor, [1, 0.5, Math.log(2), 0]), gt, 1e-6, 'decode');
});

for (const weights of [
  [1, 1, 1, 1],
  [10, 10, 5, 5],
] as BoxCoderWeights[]) {
  test(`encode → decode round trip, weights [${weights.join(', ')}]`, () => {
    const rand = rng(11);
    const anchors = randomBoxes(500, rand);
    const gt = randomBoxes(500, rand);
    const deltas = encodeBoxes(anchors, gt, weights);
    assertClose(decodeBoxes(anchors, deltas, weights), gt, 1e-4, 'boxes');
    const back = encodeBoxes(anchors, decodeBoxes(anchors, deltas, weights), weights);
    assertClose(back, deltas, 1e-4, 'deltas');
  });
}

test('decode clamps dw/dh at ln(1000/16) before exp; encode of a degenerate box stays finite', () => {
  const anchor = [0, 0, 16, 32];
  const out = decodeBoxes(anchor, [0, 0, 50, 50]);
  const w = out[2] - out[0];
  const h = out[3] - out[1];
  assert.ok(Math.abs(w - 16 * Math.exp(DELTA_CLAMP)) < 1e-2, `w=${w}`);
  assert.ok(Math.abs(h - 32 * Math.exp(DELTA_CLAMP)) < 1e-2, `h=${h}`);
  assert.ok(Math.abs(w - 1000) < 1e-2);
  const small = decodeBoxes(anchor, [0, 0, -3, -3]);
  assert.ok(Math.abs(small[2] - small[0] - 16 * Math.exp(-3)) < 1e-4, 'negative deltas are not clamped');
  const d = encodeBoxes(anchor, [4, 4, 4, 10]);
  assert.ok(d.every(Number.isFinite));
});

test('mismatched inputs are rejected', () => {
  assert.throws(() => encodeBoxes(new Float32Array(8), new Float32Array(4)), /2 anchors but 1 boxes/);
  assert.throws(() => decodeBoxes(new Float32Array(8), new Float32Array(5)), /multiple of 4/);
});

test('tensor decode [b, A, 4] equals the typed-array decode, with tensor or array anchors, and leaks nothing', async () => {
  const rand = rng(5);
  const numAnchors = 300;
  const anchors = randomBoxes(numAnchors, rand);
  const deltas = new Float32Array(2 * numAnchors * 4).map(() => (rand() - 0.5) * 4);
  deltas[2] = 40; // exercises the clamp
  const weights: BoxCoderWeights = [10, 10, 5, 5];
  const deltasT = tf.tensor3d(deltas, [2, numAnchors, 4]);
  const anchorsT = tf.tensor2d(anchors, [numAnchors, 4]);
  const before = tf.memory().numTensors;

  const fromArray = decodeBoxesTensor(deltasT, anchors, weights);
  const fromTensor = decodeBoxesTensor(deltasT, anchorsT);
  assert.equal(tf.memory().numTensors, before + 2);
  assert.deepEqual(fromArray.shape, [2, numAnchors, 4]);
  const [a, t] = await Promise.all([fromArray.data(), fromTensor.data()]);
  for (let b = 0; b < 2; b++) {
    const slice = deltas.subarray(b * numAnchors * 4, (b + 1) * numAnchors * 4);
    assertClose(a.subarray(b * numAnchors * 4, (b + 1) * numAnchors * 4), decodeBoxes(anchors, slice, weights), 1e-5, `weighted image ${b}`);
    assertClose(t.subarray(b * numAnchors * 4, (b + 1) * numAnchors * 4), decodeBoxes(anchors, slice), 1e-5, `unweighted image ${b}`);
  }
  fromArray.dispose();
  fromTensor.dispose();

  const rank2 = tf.tidy(() => decodeBoxesTensor(deltasT.slice([1, 0, 0], [1, numAnchors, 4]).squeeze([0]) as tf.Tensor2D, anchorsT));
  assert.deepEqual(rank2.shape, [numAnchors, 4]);
  assertClose(await rank2.data(), decodeBoxes(anchors, deltas.subarray(numAnchors * 4)), 1e-5, 'rank 2');
  rank2.dispose();
  assert.throws(() => decodeBoxesTensor(deltasT, anchors.subarray(0, 8)), /2 anchors but deltas have 300/);
  assert.equal(tf.memory().numTensors, before);
  deltasT.dispose();
  anchorsT.dispose();
});

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { ResumableAdam, type NamedTensor } from '../../src/train/adam.ts';

before(async () => {
  await initBackend('cpu');
});

const target = [0.5, -1.5, 2, 0.25, -0.75, 1];

/** A small non-quadratic problem so the moments differ per coordinate and step. */
function loss(x: tf.Variable, w: tf.Variable): tf.Scalar {
  return tf.tidy(() => x.sub(tf.tensor1d(target)).square().sum().add(w.mul(x).tanh().sum()).add(w.square().sum().mul(0.1)) as tf.Scalar);
}

function vars(): [tf.Variable, tf.Variable] {
  // Inside tidy so the initial-value tensors are released; the variables survive it.
  return tf.tidy(() => [tf.variable(tf.tensor1d([0.1, 0.2, -0.3, 0.4, 0.0, -0.1])), tf.variable(tf.tensor1d([1, -1, 0.5, 0.5, -0.5, 2]))]);
}

function step(opt: tf.Optimizer, x: tf.Variable, w: tf.Variable): void {
  opt.minimize(() => loss(x, w), false, [x, w]);
}

test('follows the same update as tf.train.adam (to float32 rounding)', async () => {
  const [x1, w1] = vars();
  const [x2, w2] = vars();
  const ours = new ResumableAdam({ learningRate: 0.05 });
  const theirs = tf.train.adam(0.05);
  for (let i = 0; i < 20; i++) {
    step(ours, x1, w1);
    step(theirs, x2, w2);
  }
  const a = await x1.data();
  const b = await x2.data();
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-5, `x[${i}]: ${v} vs ${b[i]}`));
  assert.ok(Math.abs(a[0] - 0.1) > 0.1, 'the variables actually moved');
  ours.dispose();
  theirs.dispose();
  tf.dispose([x1, w1, x2, w2]);
});

test('state saved with getWeights and restored with setWeights continues bit for bit', async () => {
  const start = tf.memory().numTensors;
  const [x, w] = vars();
  const a = new ResumableAdam({ learningRate: 0.03 });
  for (let i = 0; i < 7; i++) step(a, x, w);
  // Snapshot through bytes, as a checkpoint does.
  const weights = (await a.getWeights()) as NamedTensor[];
  assert.equal(weights[0].name, 'iter');
  assert.equal(weights.length, 1 + 2 * 2);
  const encoded = await tf.io.encodeWeights(weights);
  weights[0].tensor.dispose();
  const xs = await tf.io.encodeWeights([{ name: 'x', tensor: x }, { name: 'w', tensor: w }]);

  for (let i = 0; i < 9; i++) step(a, x, w);

  const restoredVars = tf.io.decodeWeights(xs.data, xs.specs);
  const x2 = tf.variable(restoredVars.x);
  const w2 = tf.variable(restoredVars.w);
  const b = new ResumableAdam({ learningRate: 0.03 });
  const map = tf.io.decodeWeights(encoded.data, encoded.specs);
  await b.setWeights(encoded.specs.map((s) => ({ name: s.name, tensor: map[s.name] })));
  tf.dispose([...Object.values(map), ...Object.values(restoredVars)]);
  assert.equal(b.iterations, 7);
  for (let i = 0; i < 9; i++) step(b, x2, w2);

  assert.deepEqual(await x2.data(), await x.data());
  assert.deepEqual(await w2.data(), await w.data());
  a.dispose();
  b.dispose();
  tf.dispose([x, w, x2, w2]);
  assert.equal(tf.memory().numTensors, start, 'optimizers and their state are fully released');
});

test('steps do not leak, learningRate changes apply, and lr 0 freezes the weights', async () => {
  const [x, w] = vars();
  const opt = new ResumableAdam({ learningRate: 0.1 });
  step(opt, x, w);
  const afterFirst = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step(opt, x, w);
  assert.equal(tf.memory().numTensors, afterFirst);
  opt.learningRate = 0;
  const before = await x.data();
  step(opt, x, w);
  assert.deepEqual(await x.data(), before);
  assert.equal(opt.iterations, 5);
  assert.deepEqual(opt.getConfig(), { learningRate: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
  assert.throws(() => new ResumableAdam({ learningRate: 1, beta1: 1 }), /betas/);
  opt.dispose();
  tf.dispose([x, w]);
});

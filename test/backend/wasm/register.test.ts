import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from '../../../src/backend/wasm/register.ts';
import { assertNoLeak, hygiene, randomValues, relativeError, rng, setUpBackends } from './kernel_harness.ts';

before(setUpBackends);

test('registration is idempotent and leaves our kernels in place', () => {
  const names = registerWasmTrainingKernels();
  assert.deepEqual(registerWasmTrainingKernels(), names);
  assert.ok(names.includes(tf.Conv2DBackpropFilter) && names.includes(tf.Conv2DBackpropInput));
  for (const config of WASM_TRAINING_KERNELS) assert.equal(tf.getKernel(config.kernelName, 'wasm'), config);
});

/** Loss and gradients of a small 2-layer conv net (3×3 s1 + relu, 3×3 s2, both 'same', with biases). */
type Init = Record<string, { values: Float32Array; shape: number[] }>;

async function lossAndGrads(backend: 'cpu' | 'wasm', weights: Init, data: Init): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
  await tf.setBackend(backend);
  const vars = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, tf.variable(tf.tensor(v.values, v.shape), true, `${k}_${backend}`)]));
  const x = tf.tensor4d(data.x.values, data.x.shape as [number, number, number, number]);
  const target = tf.tensor4d(data.target.values, data.target.shape as [number, number, number, number]);
  const before = hygiene();
  const { value, grads } = tf.variableGrads(() => {
    const h = tf.relu(tf.add(tf.conv2d(x, vars.w1 as tf.Tensor4D, 1, 'same'), vars.b1));
    const y = tf.add(tf.conv2d(h as tf.Tensor4D, vars.w2 as tf.Tensor4D, 2, 'same'), vars.b2);
    return tf.mean(tf.square(tf.sub(y, target))) as tf.Scalar;
  }, [vars.w1, vars.b1, vars.w2, vars.b2]);
  const out = { loss: (await value.data())[0], grads: {} as Record<string, Float32Array> };
  for (const [k, g] of Object.entries(grads)) out.grads[k.replace(`_${backend}`, '')] = (await g.data()) as Float32Array;
  tf.dispose([value, ...Object.values(grads)]);
  assertNoLeak(before, `${backend} training step`);
  tf.dispose([x, target, ...Object.values(vars)]);
  return out;
}

test('gradients of a 2-layer conv net on wasm equal those on cpu', async () => {
  const r = rng(3);
  const data = {
    x: { values: randomValues(r, 2 * 13 * 10 * 3), shape: [2, 13, 10, 3] },
    target: { values: randomValues(r, 2 * 7 * 5 * 6), shape: [2, 7, 5, 6] },
  };
  const weights = {
    w1: { values: randomValues(r, 3 * 3 * 3 * 8), shape: [3, 3, 3, 8] },
    b1: { values: randomValues(r, 8), shape: [8] },
    w2: { values: randomValues(r, 3 * 3 * 8 * 6), shape: [3, 3, 8, 6] },
    b2: { values: randomValues(r, 6), shape: [6] },
  };
  const ref = await lossAndGrads('cpu', weights, data);
  const got = await lossAndGrads('wasm', weights, data);
  assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * Math.max(1, Math.abs(ref.loss)), `loss ${got.loss} vs ${ref.loss}`);
  assert.deepEqual(Object.keys(got.grads).sort(), ['b1', 'b2', 'w1', 'w2']);
  for (const k of Object.keys(ref.grads)) {
    const err = relativeError(got.grads[k], ref.grads[k]);
    assert.ok(err <= 1e-4, `gradient of ${k}: relative error ${err}`);
  }
});

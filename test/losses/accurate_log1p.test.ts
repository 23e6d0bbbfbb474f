// accurateLog1p: float32-accurate values on every backend (wasm's Log1p is not) and gradient 1/(1+u).
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { accurateLog1p } from '../../src/losses/accurate_log1p.ts';
import { assertAllClose, describeOnBackends, evaluate, gradientOf } from './tensor_checks.ts';

const U = [
  -0.999999, -0.5, -0.3, -1e-3, -1e-6, -1e-9, -1e-30, 0, 1e-30, 1e-9, 1e-7, 1e-6, 3e-5, 1e-3, 0.01, 0.5, 1, 10, 1e10, 1e30,
].map(Math.fround);

describeOnBackends('accurateLog1p', () => {
  test('matches Math.log1p to float32 precision across magnitudes', async () => {
    const u = tf.tensor1d(U);
    assertAllClose(await evaluate(() => accurateLog1p(u)), U.map(Math.log1p), 5e-7, 0, 'log1p');
    u.dispose();
  });

  test('has gradient 1 / (1 + u)', async () => {
    const u = tf.tensor1d(U);
    const g = await gradientOf((x) => tf.tidy(() => tf.sum(accurateLog1p(x))), u);
    assertAllClose(g, U.map((v) => 1 / (1 + v)), 5e-7, 0, 'gradient');
    u.dispose();
  });
});

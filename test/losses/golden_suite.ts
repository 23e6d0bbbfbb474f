// The golden loss cases (float64 reference values and gradients), declared as tests on whichever backend is current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { adaptiveDistillationLoss, focalDistillationLoss, focalLoss, klDistillationLoss } from '../../src/losses/index.ts';
import { assertAllClose, assertClose, gradientOf, scalarOf } from './tensor_checks.ts';

interface GoldenCase {
  name: string;
  logits: number[];
  teacher: number[];
  hard: number[];
  beta: number;
  gamma: number;
  theta: number;
  adl: number;
  adl_grad: number[];
  kl: number;
  fdl: number;
  focal: number;
  focal_grad: number[];
}

const golden = JSON.parse(
  readFileSync(new URL('../fixtures/golden_losses.json', import.meta.url), 'utf8'),
) as { cases: GoldenCase[] };

/*
 * Tolerance: |ours − golden| ≤ 1e-4·|golden| + floor. The golden gradients are finite differences
 * whose own error is up to ~3e-9 absolute (one public focal gradient of 1.6e-7 is off by 1e-3
 * relative against the analytic derivative), so gradients get a 1e-8 floor; loss values, O(1)
 * sums, get a 1e-9 floor.
 */
const RTOL = 1e-4;
const VALUE_ATOL = 1e-9;
const GRAD_ATOL = 1e-8;

/** Checks the fixture itself; declare once per file. */
export function goldenFixtureTest(): void {
  test('golden fixture is present and well-formed', () => {
    assert.ok(golden.cases.length >= 3);
    for (const c of golden.cases) {
      for (const arr of [c.teacher, c.hard, c.adl_grad, c.focal_grad]) assert.equal(arr.length, c.logits.length, c.name);
    }
  });
}

/** One test per golden case: ADL, KLD, FDL, FL values and the ADL/FL gradients, on the current backend. */
export function goldenLossTests(): void {
  for (const c of golden.cases) {
    test(`${c.name}: ADL, KLD, FDL, FL values and ADL/FL gradients`, async () => {
      // Golden cases are flat: rank 1, every element its own anchor (see src/losses/anchor_axes.ts).
      const x = tf.tensor1d(c.logits);
      const q = tf.tensor1d(c.teacher);
      const y = tf.tensor1d(c.hard);
      const { beta, gamma, theta } = c;
      const adl = (l: tf.Tensor) => adaptiveDistillationLoss(l, q, { beta, gamma, theta });
      const fl = (l: tf.Tensor) => focalLoss(l, y, { alpha: 0.25, gamma });

      assertClose(await scalarOf(() => adl(x)), c.adl, RTOL, VALUE_ATOL, `${c.name} adl`);
      assertClose(await scalarOf(() => klDistillationLoss(x, q, { theta })), c.kl, RTOL, VALUE_ATOL, `${c.name} kl`);
      assertClose(
        await scalarOf(() => focalDistillationLoss(x, q, y, { gamma, theta })),
        c.fdl,
        RTOL,
        VALUE_ATOL,
        `${c.name} fdl`,
      );
      assertClose(await scalarOf(() => fl(x)), c.focal, RTOL, VALUE_ATOL, `${c.name} focal`);
      assertAllClose(await gradientOf(adl, x), c.adl_grad, RTOL, GRAD_ATOL, `${c.name} adl_grad`);
      assertAllClose(await gradientOf(fl, x), c.focal_grad, RTOL, GRAD_ATOL, `${c.name} focal_grad`);
      tf.dispose([x, q, y]);
    });
  }
}

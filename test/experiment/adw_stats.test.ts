// ADW statistics: the hand-computed ADW, KL and FDL masses of a small batch, and the converged limit p = q.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adwOfBatch, adwStatistics } from '../../src/experiment/adw_stats.ts';
import type { SampleBatch } from '../../src/stages/student/sample_batch.ts';
import { DEFAULT_OBJECTIVE } from '../../src/train/objective.ts';
import { useCpuBackend } from '../stages/teacher/fixtures.ts';

await useCpuBackend();

const Q = [0.005, 0.05, 0.3, 0.9];
const LOGITS = [-2, 0, 1, 3];
const TARGET = [0, 0, 0, 1];

/** float64 reference of DESIGN §3 for one entry. */
function reference(q: number, x: number, t: number): { kl: number; adw: number; fdw: number } {
  const p = 1 / (1 + Math.exp(-x));
  const kl = q * Math.log(q / p) + (1 - q) * Math.log((1 - q) / (1 - p));
  const entropy = -(q * Math.log(q) + (1 - q) * Math.log(1 - q));
  const adw = (1 - Math.exp(-(kl + entropy))) ** 2;
  const pt = t === 1 ? p : 1 - p;
  return { kl, adw, fdw: (1 - pt) ** 2 };
}

test('adwStatistics: ADW quantiles, the share of KL each weighting keeps and the mass per teacher-confidence band', async () => {
  const before = tf.memory().numTensors;
  const logits = tf.tensor3d(LOGITS, [1, 4, 1]);
  const q = tf.tensor3d(Q, [1, 4, 1]);
  const target = tf.tensor3d(TARGET, [1, 4, 1]);
  const valid = tf.tensor2d([1, 1, 1, 1], [1, 4]);
  const s = await adwStatistics(logits, q, target, valid, DEFAULT_OBJECTIVE);
  tf.dispose([logits, q, target, valid]);
  assert.equal(tf.memory().numTensors, before);

  const ref = Q.map((qq, i) => reference(qq, LOGITS[i], TARGET[i]));
  const kl = ref.reduce((a, r) => a + r.kl, 0);
  const adl = ref.reduce((a, r) => a + r.adw * r.kl, 0);
  const fdl = ref.reduce((a, r) => a + r.fdw * r.kl, 0);
  const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-4 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  assert.equal(s.entries, 4);
  close(s.adlOverKl, adl / kl, 'ADL / KL');
  close(s.fdlOverKl, fdl / kl, 'FDL / KL');
  close(s.adw.mean, ref.reduce((a, r) => a + r.adw, 0) / 4, 'mean ADW');
  close(s.adw.max, Math.max(...ref.map((r) => r.adw)), 'max ADW');
  // One entry per band; each band's share of the ADL mass is its own ADW·KL over the total.
  assert.deepEqual(s.bands.map((b) => b.entries), [0.25, 0.25, 0.25, 0.25]);
  s.bands.forEach((b, i) => {
    close(b.adl, (ref[i].adw * ref[i].kl) / adl, `band ${b.band} ADL`);
    close(b.kl, ref[i].kl / kl, `band ${b.band} KL`);
  });
  // Top 1% of 4 entries is the largest single one.
  close(s.klTop1, Math.max(...ref.map((r) => r.kl)) / kl, 'KL top 1%');
});

test('ignored anchors are left out; at p = q ADW is the entropy term alone, at most (1 − e^{−ln 2})² = ¼', async () => {
  const q = tf.tensor3d([0.5, 0.01, 0.2, 0.99], [1, 4, 1]);
  const batch = {
    images: tf.zeros([1, 8, 8, 3]) as tf.Tensor4D,
    teacherProbs: q,
    targets: { classTargets: tf.zeros([1, 4, 1]) as tf.Tensor3D, valid: tf.tensor2d([1, 1, 1, 0], [1, 4]) },
  } as unknown as SampleBatch;
  const before = tf.memory().numTensors;
  const s = await adwOfBatch(undefined, batch, DEFAULT_OBJECTIVE);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([batch.images, q, batch.targets.classTargets, batch.targets.valid]);
  assert.equal(s.entries, 3);
  assert.ok(Math.abs(s.adw.max - 0.25) < 1e-4, `max ADW ${s.adw.max}`);
  const entropy = (x: number): number => -(x * Math.log(x) + (1 - x) * Math.log(1 - x));
  const mean = [0.5, 0.01, 0.2].reduce((a, x) => a + (1 - Math.exp(-entropy(x))) ** 2, 0) / 3;
  assert.ok(Math.abs(s.adw.mean - mean) < 1e-4, `mean ADW ${s.adw.mean} vs ${mean}`);
});

// How ADL, FDL and KL weight the anchors of a batch: the distribution of ADW and where each loss's mass sits.
//
// ADL = Σ ADW·KL / N and KLD = Σ KL / N share the normaliser N, so Σ ADW·KL / Σ KL is the share of KL's signal ADL
// keeps, and the split of that mass by teacher confidence shows which anchors ADL's hard-example weighting favours.
// When almost every entry is confident background, ADW (≥ (1 − e^{−T(q)})^γ, T the teacher's entropy) is tiny
// nearly everywhere and ADL trains on a small fraction of KL's signal.
import * as tf from '@tensorflow/tfjs';
import { generateAnchors } from '../boxes/anchors.ts';
import { adaptiveDistillationWeight } from '../losses/adaptive_distillation_loss.ts';
import { klFromLogits, Q_EPS } from '../losses/kl_divergence.ts';
import { forward, type Detector } from '../model/detector.ts';
import { detectorAnchorConfig, totalAnchors, type DetectorConfig } from '../model/detector_config.ts';
import { admitSample, type StudentLayout } from '../stages/student/admit_sample.ts';
import { assembleBatch, type BatchSample, type SampleBatch } from '../stages/student/sample_batch.ts';
import type { ObjectiveConfig } from '../train/objective.ts';
import type { SampleRecord } from './samples_file.ts';

export interface ConfidenceBand {
  /** Teacher probability range [lo, hi). */
  band: string;
  /** Share of the (unignored) anchor × class entries in the band. */
  entries: number;
  meanAdw: number;
  /** Share of Σ KL, Σ ADW·KL and Σ FDW·KL coming from the band. */
  kl: number;
  adl: number;
  fdl: number;
}

export interface AdwStats {
  entries: number;
  adw: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** Σ ADW·KL / Σ KL and Σ FDW·KL / Σ KL: how much of KL's mass each weighting keeps. */
  adlOverKl: number;
  fdlOverKl: number;
  /** Share of Σ ADW·KL carried by the top 1% of entries (by ADW·KL); the same for KL. */
  adlTop1: number;
  klTop1: number;
  bands: ConfidenceBand[];
}

const BANDS: ReadonlyArray<[number, number]> = [
  [0, 0.01],
  [0.01, 0.1],
  [0.1, 0.5],
  [0.5, 1.0000001],
];

/**
 * Statistics over every unignored entry of a batch. logits, q, target: [batch, anchors, classes] (target one-hot from
 * the hard labels, for FDL's (1 − p_t)^γ); valid: [batch, anchors]. Leaves no tensors behind.
 */
export async function adwStatistics(logits: tf.Tensor3D, q: tf.Tensor3D, target: tf.Tensor3D, valid: tf.Tensor2D, objective: Pick<ObjectiveConfig, 'adlBeta' | 'adlGamma' | 'focalGamma'>): Promise<AdwStats> {
  const [klT, adwT, fdwT, qT, maskT] = tf.tidy(() => {
    const kl = klFromLogits(logits, q);
    const adw = adaptiveDistillationWeight(logits, q, objective.adlBeta, objective.adlGamma);
    const p = tf.sigmoid(logits);
    const pt = tf.add(tf.mul(target, p), tf.mul(tf.sub(1, target), tf.sub(1, p)));
    const fdw = tf.pow(tf.sub(1, pt), objective.focalGamma);
    const mask = tf.mul(tf.expandDims(valid, -1), tf.onesLike(q));
    return [kl, adw, fdw, q, mask];
  });
  try {
    const [kl, adw, fdw, qs, mask] = (await Promise.all([klT.data(), adwT.data(), fdwT.data(), qT.data(), maskT.data()])) as Float32Array[];
    return summarize(kl, adw, fdw, qs, mask);
  } finally {
    tf.dispose([klT, adwT, fdwT, maskT]);
  }
}

function summarize(kl: Float32Array, adw: Float32Array, fdw: Float32Array, q: Float32Array, mask: Float32Array): AdwStats {
  const idx: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i] > 0) idx.push(i);
  const n = idx.length;
  const sum = (f: (i: number) => number, keep: (i: number) => boolean = () => true): number => idx.reduce((s, i) => (keep(i) ? s + f(i) : s), 0);
  const klSum = sum((i) => kl[i]);
  const adlSum = sum((i) => adw[i] * kl[i]);
  const fdlSum = sum((i) => fdw[i] * kl[i]);
  const sortedAdw = idx.map((i) => adw[i]).sort((a, b) => a - b);
  const quantile = (p: number): number => sortedAdw[Math.min(n - 1, Math.floor(p * n))] ?? 0;
  const topShare = (values: number[], total: number): number => {
    const top = values.sort((a, b) => b - a).slice(0, Math.max(1, Math.ceil(n / 100)));
    return total > 0 ? top.reduce((s, v) => s + v, 0) / total : 0;
  };
  const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);
  return {
    entries: n,
    adw: { mean: ratio(sum((i) => adw[i]), n), p50: quantile(0.5), p90: quantile(0.9), p99: quantile(0.99), max: sortedAdw[n - 1] ?? 0 },
    adlOverKl: ratio(adlSum, klSum),
    fdlOverKl: ratio(fdlSum, klSum),
    adlTop1: topShare(idx.map((i) => adw[i] * kl[i]), adlSum),
    klTop1: topShare(idx.map((i) => kl[i]), klSum),
    bands: BANDS.map(([lo, hi]) => {
      const inBand = (i: number): boolean => q[i] >= lo && q[i] < hi;
      const count = sum(() => 1, inBand);
      return {
        band: `${lo}–${Math.min(hi, 1)}`,
        entries: ratio(count, n),
        meanAdw: ratio(sum((i) => adw[i], inBand), count),
        kl: ratio(sum((i) => kl[i], inBand), klSum),
        adl: ratio(sum((i) => adw[i] * kl[i], inBand), adlSum),
        fdl: ratio(sum((i) => fdw[i] * kl[i], inBand), fdlSum),
      };
    }),
  };
}

/** Up to `count` records of a split, decoded into one training batch of the student's layout. */
export async function batchOfRecords(records: readonly SampleRecord[], split: 'labeled' | 'unlabeled', count: number, config: DetectorConfig): Promise<SampleBatch> {
  const layout: StudentLayout = { anchors: detectorAnchorConfig(config), inputSize: config.inputSize, numAnchors: totalAnchors(config), numClasses: config.numClasses };
  const samples: BatchSample[] = [];
  for (const r of records) {
    if (samples.length >= count) break;
    if (r.split !== split) continue;
    const admitted = await admitSample(r.value, layout, () => true);
    if (admitted.kind !== 'sample') throw new Error(`sample ${r.key} does not fit the student: ${admitted.kind === 'dead' ? String(admitted.error) : 'ignored'}`);
    samples.push({ pixels: admitted.pixels, hard: admitted.hard, soft: admitted.sample.soft, pool: admitted.pool });
  }
  if (samples.length === 0) throw new Error(`no ${split} samples`);
  const anchors = generateAnchors(layout.anchors, config.inputSize, config.inputSize);
  return assembleBatch(samples, { anchors, numClasses: config.numClasses, inputSize: config.inputSize, teacherProbs: true });
}

/**
 * ADW statistics of a batch for a student detector, or — with `detector` undefined — for the converged limit
 * p = q (KL = 0: ADW is then the teacher's entropy term alone, (1 − e^{−β·T(q)})^γ).
 */
export async function adwOfBatch(detector: Detector | undefined, batch: SampleBatch, objective: ObjectiveConfig): Promise<AdwStats> {
  const q = batch.teacherProbs;
  if (q === undefined) throw new Error('adwOfBatch: the batch has no teacher probabilities');
  const logits = tf.tidy(() => {
    if (detector !== undefined) return forward(detector, batch.images).classLogits;
    const c = tf.clipByValue(q, Q_EPS, 1 - Q_EPS);
    return tf.log(tf.div(c, tf.sub(1, c))) as tf.Tensor3D;
  });
  try {
    return await adwStatistics(logits, q, batch.targets.classTargets, batch.targets.valid, objective);
  } finally {
    logits.dispose();
  }
}

// Elementwise, numerically stable KL(teacher ‖ student) and teacher entropy for independent sigmoids.
import * as tf from '@tensorflow/tfjs';
import { accurateLog1p } from './accurate_log1p.ts';

/** Teacher probabilities are clamped to [Q_EPS, 1 − Q_EPS] before any log (DESIGN §3). */
export const Q_EPS = 1e-6;

/** `q` clamped to [Q_EPS, 1 − Q_EPS] and cast to float32, same shape. */
export function clampTeacherProbs(q: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.clipByValue(tf.cast(q, 'float32'), Q_EPS, 1 - Q_EPS));
}

/**
 * 1 − q, clamped to [Q_EPS, 1 − Q_EPS]. Computed from the raw q rather than as 1 − clamp(q): float32
 * cannot hold 1 − 1e-6 (the nearest value is 1 − 1.0133e-6), but 1 − q is exact for q ≥ 0.5, so
 * carrying the complement separately keeps the upper clamp at exactly 1e-6 like the float64 definition.
 */
function teacherComplement(q: tf.Tensor): tf.Tensor {
  return tf.clipByValue(tf.sub(1, tf.cast(q, 'float32')), Q_EPS, 1 - Q_EPS);
}

/**
 * ln q and ln(1 − q) of the clamped teacher probabilities. Each log takes whichever of q and 1 − q
 * is the small one, directly or through log1p: log(1 − 1e-6) evaluated on the float32 value nearest
 * 1 − 1e-6 would be 1.3% off, log1p(−1e-6) is exact.
 */
function teacherLogs(qc: tf.Tensor, qBar: tf.Tensor): { logQ: tf.Tensor; logQBar: tf.Tensor } {
  const lowerHalf = tf.lessEqual(qc, 0.5);
  return {
    logQ: tf.where(lowerHalf, tf.log(qc), accurateLog1p(tf.neg(qBar))),
    logQBar: tf.where(lowerHalf, accurateLog1p(tf.neg(qc)), tf.log(qBar)),
  };
}

/**
 * T(q) = −(q ln q + (1−q) ln(1−q)), elementwise, q clamped first. Never negative, finite for q ∈ [0, 1].
 */
export function teacherEntropy(q: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const qc = clampTeacherProbs(q);
    const qBar = teacherComplement(q);
    const { logQ, logQBar } = teacherLogs(qc, qBar);
    return tf.neg(tf.add(tf.mul(qc, logQ), tf.mul(qBar, logQBar)));
  });
}

/** Above this, expm1 of the argument is replaced by an asymptotic form: e^88 already overflows float32. */
const BIG_EXPONENT = 40;

/**
 * ln(1 + w·(e^e − 1)) elementwise for weights w ∈ (0, 1) (wBar = 1 − w) and any finite e, to full
 * float32 relative precision: log1p while 1 + w·expm1(e) stays ≥ 0.5 (no cancellation inside the
 * log), the log of the positive sum (1 − w) + w·e^e below that, and e + ln(w + (1 − w)·e^−e) for
 * large e so nothing overflows. Every branch is evaluated on an argument clamped to its own range, so
 * the branches `where` discards have finite values and their zero gradients stay zero (no 0·∞).
 */
function logMix(w: tf.Tensor, wBar: tf.Tensor, e: tf.Tensor): tf.Tensor {
  const eMid = tf.minimum(e, BIG_EXPONENT);
  const u = tf.mul(w, tf.expm1(eMid));
  const near = accurateLog1p(u);
  const far = tf.log(tf.add(wBar, tf.mul(w, tf.exp(tf.minimum(e, 0)))));
  const eBig = tf.maximum(e, BIG_EXPONENT);
  const big = tf.add(eBig, tf.log(tf.add(w, tf.mul(wBar, tf.exp(tf.neg(eBig))))));
  // greaterEqual, not greater: the condition sits on the gradient tape and Greater has no gradient.
  return tf.where(tf.greaterEqual(e, BIG_EXPONENT), big, tf.where(tf.greaterEqual(u, -0.5), near, far));
}

/**
 * KL(q ‖ σ(x)) = q ln(q/p) + (1−q) ln((1−q)/(1−p)), elementwise over same-shaped `logits` and `q`.
 *
 * With t = logit(q) and d = x − t both log-ratios are differences of softplus values, which are
 * computed without cancellation as
 *   ln((1−q)/(1−p)) = softplus(x) − softplus(t)   = ln(1 + q·expm1(d))
 *   ln(q/p)         = softplus(−x) − softplus(−t) = ln(1 + (1−q)·expm1(−d))
 * (see logMix). The two weighted terms still cancel to first order in d where p ≈ q, so the absolute
 * error is a few ε times q·|ln(q/p)| + (1−q)·|ln((1−q)/(1−p))| (relative error ~ε/|d|): negligible in a
 * summed loss, and the gradient p − q is unaffected. Values and gradients are finite for every finite
 * logit and for q anywhere in [0, 1] (q and 1 − q are clamped first). Rounding can leave tiny negative
 * values where p ≈ q; they are clamped to 0 so that KL + β·T stays non-negative for fractional powers
 * downstream.
 */
export function klFromLogits(logits: tf.Tensor, q: tf.Tensor): tf.Tensor {
  if (!sameShape(logits.shape, q.shape)) {
    throw new Error(`klFromLogits: logits shape [${logits.shape}] != teacher shape [${q.shape}]`);
  }
  return tf.tidy(() => {
    const x = tf.cast(logits, 'float32');
    const qc = clampTeacherProbs(q);
    const qBar = teacherComplement(q);
    const { logQ, logQBar } = teacherLogs(qc, qBar);
    const d = tf.sub(x, tf.sub(logQ, logQBar)); // x − logit(q)
    const logRatioNeg = logMix(qc, qBar, d); // ln((1−q)/(1−p))
    const logRatioPos = logMix(qBar, qc, tf.neg(d)); // ln(q/p)
    return tf.relu(tf.add(tf.mul(qc, logRatioPos), tf.mul(qBar, logRatioNeg)));
  });
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

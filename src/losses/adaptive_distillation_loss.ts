// Adaptive distillation loss (SAD, Tang et al. 2019): KL weighted by the adaptive distillation weight.
import * as tf from '@tensorflow/tfjs';
import { checkOption, checkSameShape, elementMask, powConst } from './anchor_axes.ts';
import { distillationNormaliser } from './distillation_normaliser.ts';
import { klFromLogits, teacherEntropy } from './kl_divergence.ts';

export interface AdaptiveDistillationLossOptions {
  /** Weight of the teacher entropy T(q) inside the ADW. Default 1. */
  beta?: number;
  /** Focusing exponent of the ADW. Default 2. */
  gamma?: number;
  /** Exponent of the normaliser N = Σ q^θ. Default 1.8. */
  theta?: number;
  /** Per-anchor ignore mask, 1 = use, 0 = ignored; shape = logits shape without the class axis. */
  mask?: tf.Tensor;
}

/**
 * ADW = (1 − exp(−(KL + β·T(q))))^γ, elementwise. The gradient flows through it (not detached), as in
 * the released implementation. 1 − exp(−z) is computed as −expm1(−z) so small z keep their digits.
 */
export function adaptiveDistillationWeight(logits: tf.Tensor, q: tf.Tensor, beta: number, gamma: number): tf.Tensor {
  checkSameShape('adaptiveDistillationWeight', 'q', logits.shape, q);
  return tf.tidy(() => adwFromKl(klFromLogits(logits, q), q, beta, gamma));
}

function adwFromKl(kl: tf.Tensor, q: tf.Tensor, beta: number, gamma: number): tf.Tensor {
  const z = tf.add(kl, tf.mul(teacherEntropy(q), beta));
  return powConst(tf.neg(tf.expm1(tf.neg(z))), gamma);
}

/**
 * ADL = Σ ADW·KL / max(1, N), N = Σ q^θ over the whole batch (unmasked elements only).
 * logits, teacherProbs: [batch, anchors, classes] (any rank; see anchor_axes.ts), teacherProbs = σ of
 * the teacher logits. Returns a scalar that can be differentiated with respect to the logits.
 */
export function adaptiveDistillationLoss(
  logits: tf.Tensor,
  teacherProbs: tf.Tensor,
  opts: AdaptiveDistillationLossOptions = {},
): tf.Scalar {
  const beta = opts.beta ?? 1;
  const gamma = opts.gamma ?? 2;
  const theta = opts.theta ?? 1.8;
  checkOption('adaptiveDistillationLoss', 'beta', beta, (v) => v >= 0, '>= 0');
  checkOption('adaptiveDistillationLoss', 'gamma', gamma, (v) => v >= 0, '>= 0');
  checkOption('adaptiveDistillationLoss', 'theta', theta, (v) => v > 0, '> 0');
  checkSameShape('adaptiveDistillationLoss', 'teacherProbs', logits.shape, teacherProbs);
  return tf.tidy(() => {
    const mask = elementMask('adaptiveDistillationLoss', logits.shape, opts.mask);
    const kl = klFromLogits(logits, teacherProbs);
    const adw = adwFromKl(kl, teacherProbs, beta, gamma);
    const total = tf.sum(tf.mul(tf.mul(adw, kl), mask));
    return tf.div(total, distillationNormaliser(teacherProbs, mask, theta)) as tf.Scalar;
  });
}

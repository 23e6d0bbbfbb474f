// FDL baseline for the ablation: KL weighted by the focal term (1 − p_t)^γ of the hard label.
import * as tf from '@tensorflow/tfjs';
import { checkOption, checkSameShape, elementMask, powConst } from './anchor_axes.ts';
import { distillationNormaliser } from './distillation_normaliser.ts';
import { oneMinusPt } from './focal_loss.ts';
import { klFromLogits } from './kl_divergence.ts';

export interface FocalDistillationLossOptions {
  /** Focusing exponent. Default 2. */
  gamma?: number;
  /** Exponent of the normaliser N = Σ q^θ. Default 1.8 (as ADL). */
  theta?: number;
  /** Per-anchor ignore mask, 1 = use, 0 = ignored; shape = logits shape without the class axis. */
  mask?: tf.Tensor;
}

/**
 * FDL = Σ (1 − p_t)^γ·KL / max(1, N), p_t = σ(x) where the hard label is 1 and 1 − σ(x) where it is 0.
 * Like the ADW, the focal weight is not detached: the gradient flows through it.
 */
export function focalDistillationLoss(
  logits: tf.Tensor,
  teacherProbs: tf.Tensor,
  hard: tf.Tensor,
  opts: FocalDistillationLossOptions = {},
): tf.Scalar {
  const gamma = opts.gamma ?? 2;
  const theta = opts.theta ?? 1.8;
  checkOption('focalDistillationLoss', 'gamma', gamma, (v) => v >= 0, '>= 0');
  checkOption('focalDistillationLoss', 'theta', theta, (v) => v > 0, '> 0');
  checkSameShape('focalDistillationLoss', 'teacherProbs', logits.shape, teacherProbs);
  checkSameShape('focalDistillationLoss', 'hard', logits.shape, hard);
  return tf.tidy(() => {
    const mask = elementMask('focalDistillationLoss', logits.shape, opts.mask);
    const x = tf.cast(logits, 'float32');
    const weight = powConst(oneMinusPt(x, tf.cast(hard, 'float32')), gamma);
    const total = tf.sum(tf.mul(tf.mul(weight, klFromLogits(x, teacherProbs)), mask));
    return tf.div(total, distillationNormaliser(teacherProbs, mask, theta)) as tf.Scalar;
  });
}

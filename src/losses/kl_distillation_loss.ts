// KLD baseline for the ablation: plain per-element KL(teacher ‖ student), normalised like ADL.
import * as tf from '@tensorflow/tfjs';
import { checkOption, checkSameShape, elementMask } from './anchor_axes.ts';
import { distillationNormaliser } from './distillation_normaliser.ts';
import { klFromLogits } from './kl_divergence.ts';

export interface KlDistillationLossOptions {
  /** Exponent of the normaliser N = Σ q^θ. Default 1.8 (as ADL). */
  theta?: number;
  /** Per-anchor ignore mask, 1 = use, 0 = ignored; shape = logits shape without the class axis. */
  mask?: tf.Tensor;
}

/** KLD = Σ KL / max(1, N), N = Σ q^θ over the whole batch (unmasked elements only). */
export function klDistillationLoss(
  logits: tf.Tensor,
  teacherProbs: tf.Tensor,
  opts: KlDistillationLossOptions = {},
): tf.Scalar {
  const theta = opts.theta ?? 1.8;
  checkOption('klDistillationLoss', 'theta', theta, (v) => v > 0, '> 0');
  checkSameShape('klDistillationLoss', 'teacherProbs', logits.shape, teacherProbs);
  return tf.tidy(() => {
    const mask = elementMask('klDistillationLoss', logits.shape, opts.mask);
    const total = tf.sum(tf.mul(klFromLogits(logits, teacherProbs), mask));
    return tf.div(total, distillationNormaliser(teacherProbs, mask, theta)) as tf.Scalar;
  });
}

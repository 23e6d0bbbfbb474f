// RetinaNet sigmoid focal loss on the hard labels, normalised by the number of positive anchors.
import * as tf from '@tensorflow/tfjs';
import { checkOption, checkSameShape, countPositiveAnchors, elementMask, powConst } from './anchor_axes.ts';

export interface FocalLossOptions {
  /** Weight of the positive class; negatives get 1 − alpha. Default 0.25. */
  alpha?: number;
  /** Focusing exponent. Default 2. */
  gamma?: number;
  /** Per-anchor ignore mask, 1 = use, 0 = ignored; shape = logits shape without the class axis. */
  mask?: tf.Tensor;
}

/**
 * 1 − p_t for hard labels y: σ(−x) where y = 1, σ(x) where y = 0. Taking σ of ±x directly keeps
 * full relative precision for confident predictions, where 1 − σ(x) would round to 0.
 */
export function oneMinusPt(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(y, tf.sigmoid(tf.neg(x))), tf.mul(tf.sub(1, y), tf.sigmoid(x))));
}

/**
 * FL = Σ −α_t (1 − p_t)^γ ln p_t / max(1, #positive anchors), summed over the whole batch.
 * logits, hard: [batch, anchors, classes] (any rank; see anchor_axes.ts). Returns a scalar that
 * can be differentiated with respect to the logits.
 */
export function focalLoss(logits: tf.Tensor, hard: tf.Tensor, opts: FocalLossOptions = {}): tf.Scalar {
  const alpha = opts.alpha ?? 0.25;
  const gamma = opts.gamma ?? 2;
  checkOption('focalLoss', 'alpha', alpha, (v) => v >= 0 && v <= 1, 'in [0, 1]');
  checkOption('focalLoss', 'gamma', gamma, (v) => v >= 0, '>= 0');
  checkSameShape('focalLoss', 'hard', logits.shape, hard);
  return tf.tidy(() => {
    const x = tf.cast(logits, 'float32');
    const y = tf.cast(hard, 'float32');
    const mask = elementMask('focalLoss', logits.shape, opts.mask);
    const alphaT = tf.add(tf.mul(y, alpha), tf.mul(tf.sub(1, y), 1 - alpha));
    // −ln p_t = softplus(−x) for y = 1, softplus(x) for y = 0 (binary cross-entropy from the logit).
    const negLogPt = tf.add(tf.mul(y, tf.softplus(tf.neg(x))), tf.mul(tf.sub(1, y), tf.softplus(x)));
    const perElement = tf.mul(tf.mul(alphaT, powConst(oneMinusPt(x, y), gamma)), negLogPt);
    const numPositive = tf.maximum(countPositiveAnchors(y, opts.mask), 1);
    return tf.div(tf.sum(tf.mul(perElement, mask)), numPositive) as tf.Scalar;
  });
}

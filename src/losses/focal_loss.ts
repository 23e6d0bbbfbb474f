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

/*
 * With z = x·(1 − 2y), i.e. −x where y = 1 and x where y = 0, both halves of the loss are one
 * function of z: 1 − p_t = σ(z) and −ln p_t = softplus(z) — the same values as taking σ and
 * softplus of ±x separately and selecting by y (for 0/1 labels), at half the elementwise work.
 * The gradient is given in closed form, d/dz [w·q^γ·softplus(z)] = w·q^γ·(γ(1 − q)·softplus(z) + q)
 * with q = σ(z), which saves the backward pass of every op above (softplus alone recomputes σ).
 */
function weightedFocalSum(x: tf.Tensor, sign: tf.Tensor, weight: tf.Tensor, gamma: number): tf.Scalar {
  const op = tf.customGrad((xIn: tf.Tensor | tf.GradSaveFunc, saveIn: tf.Tensor | tf.GradSaveFunc) => {
    const logits = xIn as tf.Tensor;
    const save = saveIn as tf.GradSaveFunc;
    const z = tf.mul(logits, sign);
    const q = tf.sigmoid(z); // 1 − p_t
    const negLogPt = tf.softplus(z);
    const weighted = tf.mul(weight, powConst(q, gamma)); // w·q^γ
    save([q, negLogPt, weighted, sign]);
    return {
      value: tf.sum(tf.mul(weighted, negLogPt)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [q1, nl, wq, s] = saved;
        const slope = gamma === 0 ? q1 : tf.add(tf.mul(tf.mul(tf.sub(1, q1), nl), gamma), q1);
        return tf.mul(tf.mul(tf.mul(slope, wq), s), dy);
      },
    };
  });
  return op(x) as tf.Scalar;
}

/**
 * FL = Σ −α_t (1 − p_t)^γ ln p_t / max(1, #positive anchors), summed over the whole batch.
 * logits, hard: [batch, anchors, classes] (any rank; see anchor_axes.ts); hard labels are 0 or 1.
 * Returns a scalar that can be differentiated with respect to the logits.
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
    const alphaT = tf.add(tf.mul(y, alpha), tf.mul(tf.sub(1, y), 1 - alpha));
    // The 0/1 ignore mask folds into α_t exactly (no gradient flows through either).
    const weight = opts.mask === undefined ? alphaT : tf.mul(alphaT, elementMask('focalLoss', logits.shape, opts.mask));
    const sign = tf.sub(1, tf.mul(y, 2)); // −1 where y = 1, 1 where y = 0
    const numPositive = tf.maximum(countPositiveAnchors(y, opts.mask), 1);
    return tf.div(weightedFocalSum(x, sign, weight, gamma), numPositive) as tf.Scalar;
  });
}

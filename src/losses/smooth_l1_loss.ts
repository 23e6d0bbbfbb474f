// Box regression loss: smooth-L1 on the deltas of positive anchors, / max(1, #positive anchors).
import * as tf from '@tensorflow/tfjs';
import { checkOption } from './anchor_axes.ts';
import { sameShape } from './kl_divergence.ts';

export interface SmoothL1LossOptions {
  /** Transition point between the quadratic and the linear part. Default 0.11 (RetinaNet). */
  beta?: number;
}

/**
 * Σ_{positive anchors} Σ_4 smoothL1(pred − target) / max(1, #positive anchors), where
 * smoothL1(d) = 0.5·d²/β for |d| < β, |d| − 0.5·β otherwise (β = 0: plain L1).
 * predDeltas, targetDeltas: [batch, anchors, 4]; positive: [batch, anchors], 1 (or true) for
 * positive anchors. Targets of non-positive anchors are never read into the loss, so they may hold
 * anything finite.
 */
export function smoothL1Loss(
  predDeltas: tf.Tensor,
  targetDeltas: tf.Tensor,
  positive: tf.Tensor,
  opts: SmoothL1LossOptions = {},
): tf.Scalar {
  const beta = opts.beta ?? 0.11;
  checkOption('smoothL1Loss', 'beta', beta, (v) => v >= 0, '>= 0');
  if (!sameShape(predDeltas.shape, targetDeltas.shape)) {
    throw new Error(`smoothL1Loss: target shape [${targetDeltas.shape}] != pred shape [${predDeltas.shape}]`);
  }
  if (predDeltas.rank < 1 || !sameShape(predDeltas.shape.slice(0, -1), positive.shape)) {
    throw new Error(
      `smoothL1Loss: positive shape [${positive.shape}] != pred shape [${predDeltas.shape}] without its last axis`,
    );
  }
  return tf.tidy(() => {
    const absDiff = tf.abs(tf.sub(tf.cast(predDeltas, 'float32'), tf.cast(targetDeltas, 'float32')));
    let perElement: tf.Tensor;
    if (beta === 0) {
      perElement = absDiff;
    } else {
      // 0.5·m²/β + (|d| − m) with m = min(|d|, β) is the same piecewise function without a `where`,
      // and its gradient at d = 0 is 0 rather than abs's subgradient.
      const m = tf.minimum(absDiff, beta);
      perElement = tf.add(tf.div(tf.mul(tf.square(m), 0.5), beta), tf.sub(absDiff, m));
    }
    const pos = tf.cast(tf.greater(tf.cast(positive, 'float32'), 0.5), 'float32');
    const total = tf.sum(tf.mul(perElement, tf.expandDims(pos, -1)));
    return tf.div(total, tf.maximum(tf.sum(pos), 1)) as tf.Scalar;
  });
}

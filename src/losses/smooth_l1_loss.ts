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
    const pos = tf.cast(tf.greater(tf.cast(positive, 'float32'), 0.5), 'float32');
    const pred = tf.cast(predDeltas, 'float32');
    const target = tf.cast(targetDeltas, 'float32');
    const total = beta === 0 ? l1Sum(pred, target, pos) : smoothL1Sum(pred, target, tf.expandDims(pos, -1), beta);
    return tf.div(total, tf.maximum(tf.sum(pos), 1)) as tf.Scalar;
  });
}

/** Σ |pred − target| over positive anchors (β = 0). */
function l1Sum(pred: tf.Tensor, target: tf.Tensor, pos: tf.Tensor): tf.Scalar {
  return tf.sum(tf.mul(tf.abs(tf.sub(pred, target)), tf.expandDims(pos, -1)));
}

/*
 * Σ smoothL1(d) over positive anchors, d = (pred − target)·pos: zeroing d of the other anchors
 * (smoothL1(0) = 0) is the same sum as multiplying their losses by 0. Written as
 * 0.5·m²/β + (|d| − m) with m = min(|d|, β), the same piecewise function without a `where`; its
 * gradient is given in closed form, clip(d/β, −1, 1) (d/β in the quadratic zone, sign(d) beyond,
 * 0 at d = 0), instead of differentiating abs, min and the arithmetic around them op by op.
 */
function smoothL1Sum(pred: tf.Tensor, target: tf.Tensor, posPerDelta: tf.Tensor, beta: number): tf.Scalar {
  const op = tf.customGrad((predIn: tf.Tensor | tf.GradSaveFunc, saveIn: tf.Tensor | tf.GradSaveFunc) => {
    const save = saveIn as tf.GradSaveFunc;
    const d = tf.mul(tf.sub(predIn as tf.Tensor, target), posPerDelta);
    const absD = tf.abs(d);
    const m = tf.clipByValue(absD, 0, beta); // min(|d|, β), as |d| ≥ 0
    save([d]);
    return {
      value: tf.sum(tf.add(tf.div(tf.mul(tf.square(m), 0.5), beta), tf.sub(absD, m))),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.clipByValue(tf.div(saved[0], beta), -1, 1), dy),
    };
  });
  return op(pred) as tf.Scalar;
}

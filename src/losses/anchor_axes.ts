// Shape conventions shared by the classification losses: which axes are anchors, and the ignore mask.
import * as tf from '@tensorflow/tfjs';
import { sameShape } from './kl_divergence.ts';

/*
 * Classification tensors are [...anchorAxes, classes]: in the pipeline [batch, anchors, classes].
 * A rank-1 tensor has no class axis: every element is its own anchor (one class), so #positive
 * anchors is the number of y = 1. That is how the flat golden cases are read (public-2: 12 elements,
 * 4 ones, FL normalised by 4); those ones also fall in distinct groups of 2 or 3, so the golden
 * values cannot tell it apart from a flattened [anchors, classes] layout, which a flat array cannot
 * express anyway. Pass rank ≥ 2 to get the per-anchor "any class" reading.
 */

/** Shape of the per-anchor tensors (mask, positive flags) that go with a classification tensor. */
export function anchorShape(shape: readonly number[]): number[] {
  return shape.length <= 1 ? [...shape] : shape.slice(0, -1);
}

/** Throws unless `other` has exactly the classification shape `shape`. */
export function checkSameShape(fn: string, name: string, shape: readonly number[], other: tf.Tensor): void {
  if (!sameShape(shape, other.shape)) {
    throw new Error(`${fn}: ${name} shape [${other.shape}] != logits shape [${shape}]`);
  }
}

/**
 * The per-anchor ignore mask (1 = use, 0 = ignored) as float32, broadcastable against the
 * classification tensor of shape `shape`; all ones when no mask is given.
 */
export function elementMask(fn: string, shape: readonly number[], mask: tf.Tensor | undefined): tf.Tensor {
  const expected = anchorShape(shape);
  if (mask === undefined) return tf.ones(shape.length <= 1 ? [...shape] : [...expected, 1]);
  if (!sameShape(expected, mask.shape)) {
    throw new Error(`${fn}: mask shape [${mask.shape}] != anchor shape [${expected}] (logits [${shape}])`);
  }
  return tf.tidy(() => {
    const m = tf.cast(mask, 'float32');
    return shape.length <= 1 ? m : tf.expandDims(m, -1);
  });
}

/**
 * Number of anchors with any class label y = 1, as a float32 scalar; with an anchor mask (shape =
 * hard shape without the class axis) only unmasked anchors count. Labels are compared against 0.5 so
 * that float, int and bool hard labels all count the same.
 */
export function countPositiveAnchors(hard: tf.Tensor, anchorMask?: tf.Tensor): tf.Scalar {
  if (anchorMask !== undefined && !sameShape(anchorShape(hard.shape), anchorMask.shape)) {
    const expected = anchorShape(hard.shape);
    throw new Error(`countPositiveAnchors: mask shape [${anchorMask.shape}] != anchor shape [${expected}]`);
  }
  return tf.tidy(() => {
    const y = tf.cast(hard, 'float32');
    const anyPositive = y.rank <= 1 ? y : tf.max(y, -1);
    const positive = tf.cast(tf.greater(anyPositive, 0.5), 'float32');
    return tf.sum(anchorMask === undefined ? positive : tf.mul(positive, tf.cast(anchorMask, 'float32')));
  });
}

/** base^exponent for a constant exponent, avoiding 0·∞ gradients of `pow` at base 0 for exponents 0 and 1. */
export function powConst(base: tf.Tensor, exponent: number): tf.Tensor {
  if (exponent === 0) return tf.onesLike(base);
  if (exponent === 1) return tf.clone(base);
  if (exponent === 2) return tf.square(base);
  return tf.pow(base, exponent);
}

/** Throws a RangeError unless `value` is a finite number satisfying `ok`. */
export function checkOption(fn: string, name: string, value: number, ok: (v: number) => boolean, rule: string): void {
  if (!Number.isFinite(value) || !ok(value)) throw new RangeError(`${fn}: ${name} must be ${rule}, got ${value}`);
}

// RetinaNet box parameterization: encode gt boxes as (dx, dy, dw, dh) deltas against anchors, and decode back.
import * as tf from '@tensorflow/tfjs';
import { checkBoxArray } from './box.ts';

/** Per-coordinate weights (wx, wy, ww, wh): deltas are multiplied by them on encode, divided on decode. */
export type BoxCoderWeights = readonly [number, number, number, number];

export const DEFAULT_BOX_WEIGHTS: BoxCoderWeights = [1, 1, 1, 1];

/** Upper clamp of dw/dh before exp on decode (detectron2's), so a wild logit cannot overflow a box. */
export const DELTA_CLAMP = Math.log(1000 / 16);

// Keeps ln(gw/aw) finite for degenerate gt boxes; such boxes never become positives in assignment anyway.
const MIN_SIZE = 1e-6;

/**
 * Encodes `boxes[i]` against `anchors[i]` (same count, flat [n*4]):
 * dx = wx·(gx−ax)/aw, dy = wy·(gy−ay)/ah, dw = ww·ln(gw/aw), dh = wh·ln(gh/ah), with centres/sizes
 * from [x1, y1, x2, y2]. Returns [n*4] deltas.
 */
export function encodeBoxes(anchors: ArrayLike<number>, boxes: ArrayLike<number>, weights: BoxCoderWeights = DEFAULT_BOX_WEIGHTS): Float32Array {
  const n = checkBoxArray(anchors, 'encodeBoxes anchors');
  if (checkBoxArray(boxes, 'encodeBoxes boxes') !== n) {
    throw new RangeError(`encodeBoxes: ${n} anchors but ${boxes.length / 4} boxes`);
  }
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) encodeBoxInto(anchors, i, boxes, i, out, i, weights);
  return out;
}

/** Encodes box `boxIndex` of `boxes` against anchor `anchorIndex` into `out` at box slot `outIndex`. */
export function encodeBoxInto(
  anchors: ArrayLike<number>,
  anchorIndex: number,
  boxes: ArrayLike<number>,
  boxIndex: number,
  out: Float32Array,
  outIndex: number,
  weights: BoxCoderWeights = DEFAULT_BOX_WEIGHTS,
): void {
  const a = anchorIndex * 4;
  const aw = anchors[a + 2] - anchors[a];
  const ah = anchors[a + 3] - anchors[a + 1];
  const ax = anchors[a] + 0.5 * aw;
  const ay = anchors[a + 1] + 0.5 * ah;
  const g = boxIndex * 4;
  const gw = Math.max(boxes[g + 2] - boxes[g], MIN_SIZE);
  const gh = Math.max(boxes[g + 3] - boxes[g + 1], MIN_SIZE);
  const gx = boxes[g] + 0.5 * (boxes[g + 2] - boxes[g]);
  const gy = boxes[g + 1] + 0.5 * (boxes[g + 3] - boxes[g + 1]);
  const o = outIndex * 4;
  out[o] = (weights[0] * (gx - ax)) / aw;
  out[o + 1] = (weights[1] * (gy - ay)) / ah;
  out[o + 2] = weights[2] * Math.log(gw / aw);
  out[o + 3] = weights[3] * Math.log(gh / ah);
}

/** Inverse of `encodeBoxes`: decodes `deltas[i]` against `anchors[i]`, returning [n*4] boxes. */
export function decodeBoxes(anchors: ArrayLike<number>, deltas: ArrayLike<number>, weights: BoxCoderWeights = DEFAULT_BOX_WEIGHTS): Float32Array {
  const n = checkBoxArray(anchors, 'decodeBoxes anchors');
  if (checkBoxArray(deltas, 'decodeBoxes deltas') !== n) {
    throw new RangeError(`decodeBoxes: ${n} anchors but ${deltas.length / 4} deltas`);
  }
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) decodeBoxInto(anchors, i, deltas, i, out, i, weights);
  return out;
}

/** Decodes delta `deltaIndex` against anchor `anchorIndex` into `out` at box slot `outIndex`. */
export function decodeBoxInto(
  anchors: ArrayLike<number>,
  anchorIndex: number,
  deltas: ArrayLike<number>,
  deltaIndex: number,
  out: Float32Array,
  outIndex: number,
  weights: BoxCoderWeights = DEFAULT_BOX_WEIGHTS,
): void {
  const a = anchorIndex * 4;
  const aw = anchors[a + 2] - anchors[a];
  const ah = anchors[a + 3] - anchors[a + 1];
  const ax = anchors[a] + 0.5 * aw;
  const ay = anchors[a + 1] + 0.5 * ah;
  const d = deltaIndex * 4;
  const cx = (deltas[d] / weights[0]) * aw + ax;
  const cy = (deltas[d + 1] / weights[1]) * ah + ay;
  const w = Math.exp(Math.min(deltas[d + 2] / weights[2], DELTA_CLAMP)) * aw;
  const h = Math.exp(Math.min(deltas[d + 3] / weights[3], DELTA_CLAMP)) * ah;
  const o = outIndex * 4;
  out[o] = cx - 0.5 * w;
  out[o + 1] = cy - 0.5 * h;
  out[o + 2] = cx + 0.5 * w;
  out[o + 3] = cy + 0.5 * h;
}

/**
 * Tensor decode: deltas [batch, anchors, 4] (or [anchors, 4]) against anchors [anchors, 4] (a tensor,
 * or a flat Float32Array that is uploaded and released here) → boxes of the same shape as `deltas`.
 * The caller owns the result; nothing else is left allocated.
 */
export function decodeBoxesTensor<T extends tf.Tensor2D | tf.Tensor3D>(
  deltas: T,
  anchors: tf.Tensor2D | Float32Array,
  weights: BoxCoderWeights = DEFAULT_BOX_WEIGHTS,
): T {
  const numAnchors = deltas.shape[deltas.rank - 2];
  if (deltas.shape[deltas.rank - 1] !== 4) throw new RangeError(`decodeBoxesTensor: deltas last dim must be 4, got [${deltas.shape.join(', ')}]`);
  const anchorCount = anchors instanceof Float32Array ? anchors.length / 4 : anchors.shape[0];
  if (anchorCount !== numAnchors) {
    throw new RangeError(`decodeBoxesTensor: ${anchorCount} anchors but deltas have ${numAnchors}`);
  }
  return tf.tidy(() => {
    const a = anchors instanceof Float32Array ? tf.tensor2d(anchors, [numAnchors, 4]) : anchors;
    const [ax1, ay1, ax2, ay2] = tf.split(a, 4, -1); // each [anchors, 1]
    const aw = tf.sub(ax2, ax1);
    const ah = tf.sub(ay2, ay1);
    const acx = tf.add(ax1, tf.mul(aw, 0.5));
    const acy = tf.add(ay1, tf.mul(ah, 0.5));
    const [dx, dy, dw, dh] = tf.split(deltas, 4, -1); // each [batch, anchors, 1] (broadcast against anchors)
    const cx = tf.add(tf.mul(tf.div(dx, weights[0]), aw), acx);
    const cy = tf.add(tf.mul(tf.div(dy, weights[1]), ah), acy);
    const halfW = tf.mul(tf.exp(tf.minimum(tf.div(dw, weights[2]), DELTA_CLAMP)), tf.mul(aw, 0.5));
    const halfH = tf.mul(tf.exp(tf.minimum(tf.div(dh, weights[3]), DELTA_CLAMP)), tf.mul(ah, 0.5));
    return tf.concat([tf.sub(cx, halfW), tf.sub(cy, halfH), tf.add(cx, halfW), tf.add(cy, halfH)], -1) as T;
  });
}

// Buffered samples → the student's training tensors: images, anchor targets from hard labels, teacher probabilities.
import * as tf from '@tensorflow/tfjs';
import { permuteAnchorRows } from '../../boxes/anchor_flip.ts';
import type { AnchorSet } from '../../boxes/anchors.ts';
import type { AssignOptions } from '../../boxes/assign.ts';
import { dequantizeSoftLabels } from '../../messages/soft_labels.ts';
import { preprocessImages } from '../../model/detector.ts';
import { flipBox, mirrorPixels } from '../../train/dataset.ts';
import { buildTargets, disposeTargets, type BatchTargets, type ImageBoxes } from '../../train/targets.ts';
import type { BufferedSample } from './sample_buffer.ts';

export type BatchSample = Pick<BufferedSample, 'pixels' | 'hard' | 'soft' | 'pool'>;

export interface SampleBatch {
  images: tf.Tensor4D; // [batch, size, size, 3], preprocessed
  targets: BatchTargets;
  /** Dequantized soft labels; absent when the objective has no distillation term. */
  teacherProbs?: tf.Tensor3D; // [batch, anchors, classes]
  labeled: number;
  unlabeled: number;
}

export interface AssembleOptions {
  /** The student's anchors, in its output order (the soft labels' anchor order too: same layout). */
  anchors: AnchorSet;
  numClasses: number;
  inputSize: number;
  /** Build `teacherProbs` (skip it for objectives without distillation). */
  teacherProbs: boolean;
  assign?: AssignOptions;
  /**
   * Mirror sample i left–right when `flips[i]`: its pixels, its hard boxes and its soft-label map, the map by the
   * anchor permutation `anchorOrder` (anchorFlipOrder of the same anchors; required with any flip).
   */
  flip?: { flips: readonly boolean[]; anchorOrder: Int32Array | undefined };
}

/**
 * A batch as plain arrays, before any tensor exists: what crosses to the student's training thread. `pixels` are in
 * the uint8 range, already mirrored where flipped, as are `probs` (dequantized) and the hard boxes.
 */
export interface PackedBatch {
  size: number;
  inputSize: number;
  pixels: Float32Array; // [size, inputSize, inputSize, 3]
  /** Absent when the objective has no distillation term. */
  probs?: Float32Array; // [size, anchors, classes]
  hard: ImageBoxes[];
  labeled: number;
  unlabeled: number;
}

/** Stacks samples into tensors; dispose the result with `disposeSampleBatch`. */
export function assembleBatch(samples: readonly BatchSample[], options: AssembleOptions): SampleBatch {
  return batchTensors(packBatch(samples, options), options);
}

/** Stacks samples into arrays (pixels, soft labels, hard boxes), applying the flips; no tensors. */
export function packBatch(samples: readonly BatchSample[], options: AssembleOptions): PackedBatch {
  const { anchors, numClasses, inputSize } = options;
  const b = samples.length;
  if (b === 0) throw new RangeError('assembleBatch: no samples');
  const plane = inputSize * inputSize * 3;
  const perImage = anchors.numAnchors * numClasses;
  const pixels = new Float32Array(b * plane);
  const probs = options.teacherProbs ? new Float32Array(b * perImage) : undefined;
  const flipped = (i: number): boolean => options.flip?.flips[i] === true;
  const anchorOrder = options.flip?.anchorOrder;
  if (samples.some((_, i) => flipped(i)) && anchorOrder?.length !== anchors.numAnchors) {
    throw new RangeError(`assembleBatch: flipping needs the anchors' mirror order (${anchors.numAnchors} anchors); this layout is not mirror-symmetric at ${inputSize} px`);
  }
  samples.forEach((s, i) => {
    if (s.pixels.length !== plane) throw new RangeError(`sample ${i} has ${s.pixels.length} pixel bytes, expected ${plane} (${inputSize} px)`);
    if (flipped(i)) mirrorPixels(s.pixels, inputSize, pixels, i * plane);
    else pixels.set(s.pixels, i * plane);
    if (probs === undefined) return;
    if (s.soft.anchors !== anchors.numAnchors || s.soft.classes !== numClasses) {
      throw new RangeError(`sample ${i} has soft labels for ${s.soft.anchors} × ${s.soft.classes}, expected ${anchors.numAnchors} × ${numClasses}`);
    }
    if (flipped(i)) permuteAnchorRows(dequantizeSoftLabels(s.soft), numClasses, anchorOrder as Int32Array, probs, i * perImage);
    else probs.set(dequantizeSoftLabels(s.soft), i * perImage);
  });
  const hard = samples.map((s, i): ImageBoxes => (flipped(i) ? { boxes: s.hard.boxes.map((b) => flipBox(b, inputSize)), classIds: s.hard.classIds } : s.hard));
  const labeled = samples.filter((s) => s.pool === 'labeled').length;
  return { size: b, inputSize, pixels, probs, hard, labeled, unlabeled: b - labeled };
}

/** The training tensors of a packed batch: preprocessed images, anchor targets from the hard boxes, teacher probabilities. */
export function batchTensors(packed: PackedBatch, options: Pick<AssembleOptions, 'anchors' | 'numClasses' | 'assign'>): SampleBatch {
  const { anchors, numClasses } = options;
  const { size: b, inputSize, pixels, probs } = packed;
  if (pixels.length !== b * inputSize * inputSize * 3) throw new RangeError(`packed batch: ${pixels.length} pixel values for ${b} images of ${inputSize} px`);
  if (probs !== undefined && probs.length !== b * anchors.numAnchors * numClasses) {
    throw new RangeError(`packed batch: ${probs.length} soft-label values for ${b} images × ${anchors.numAnchors} anchors × ${numClasses} classes`);
  }
  const targets = buildTargets(anchors, packed.hard, numClasses, options.assign);
  const images = tf.tidy(() => preprocessImages(tf.tensor4d(pixels, [b, inputSize, inputSize, 3])));
  const teacherProbs = probs === undefined ? undefined : tf.tensor3d(probs, [b, anchors.numAnchors, numClasses]);
  return { images, targets, teacherProbs, labeled: packed.labeled, unlabeled: packed.unlabeled };
}

export function disposeSampleBatch(batch: SampleBatch): void {
  batch.images.dispose();
  batch.teacherProbs?.dispose();
  disposeTargets(batch.targets);
}

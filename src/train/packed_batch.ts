// A training batch as plain arrays (what crosses to a training thread) and as the tensors a step consumes.
import * as tf from '@tensorflow/tfjs';
import type { AnchorSet } from '../boxes/anchors.ts';
import type { AssignOptions } from '../boxes/assign.ts';
import { preprocessImages } from '../model/detector.ts';
import { buildTargets, disposeTargets, type BatchTargets, type ImageBoxes } from './targets.ts';

/**
 * A batch as plain arrays, before any tensor exists: what crosses to a training thread. `pixels` are in
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

/** The tensors of one step; dispose with `disposeTensorBatch`. */
export interface TensorBatch {
  images: tf.Tensor4D; // [batch, size, size, 3], preprocessed
  targets: BatchTargets;
  /** Dequantized soft labels; absent when the objective has no distillation term. */
  teacherProbs?: tf.Tensor3D; // [batch, anchors, classes]
  labeled: number;
  unlabeled: number;
}

/** The training tensors of a packed batch: preprocessed images, anchor targets from the hard boxes, teacher probabilities. */
export function batchTensors(packed: PackedBatch, options: { anchors: AnchorSet; numClasses: number; assign?: AssignOptions }): TensorBatch {
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

export function disposeTensorBatch(batch: TensorBatch): void {
  batch.images.dispose();
  batch.teacherProbs?.dispose();
  disposeTargets(batch.targets);
}

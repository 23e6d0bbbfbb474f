// Buffered samples → the student's training tensors: images, anchor targets from hard labels, teacher probabilities.
import * as tf from '@tensorflow/tfjs';
import type { AnchorSet } from '../../boxes/anchors.ts';
import type { AssignOptions } from '../../boxes/assign.ts';
import { dequantizeSoftLabels } from '../../messages/soft_labels.ts';
import { preprocessImages } from '../../model/detector.ts';
import { buildTargets, disposeTargets, type BatchTargets } from '../../train/targets.ts';
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
}

/** Stacks samples into tensors; dispose the result with `disposeSampleBatch`. */
export function assembleBatch(samples: readonly BatchSample[], options: AssembleOptions): SampleBatch {
  const { anchors, numClasses, inputSize } = options;
  const b = samples.length;
  if (b === 0) throw new RangeError('assembleBatch: no samples');
  const plane = inputSize * inputSize * 3;
  const perImage = anchors.numAnchors * numClasses;
  const pixels = new Float32Array(b * plane);
  const probs = options.teacherProbs ? new Float32Array(b * perImage) : undefined;
  samples.forEach((s, i) => {
    if (s.pixels.length !== plane) throw new RangeError(`sample ${i} has ${s.pixels.length} pixel bytes, expected ${plane} (${inputSize} px)`);
    pixels.set(s.pixels, i * plane);
    if (probs === undefined) return;
    if (s.soft.anchors !== anchors.numAnchors || s.soft.classes !== numClasses) {
      throw new RangeError(`sample ${i} has soft labels for ${s.soft.anchors} × ${s.soft.classes}, expected ${anchors.numAnchors} × ${numClasses}`);
    }
    probs.set(dequantizeSoftLabels(s.soft), i * perImage);
  });
  const targets = buildTargets(anchors, samples.map((s) => s.hard), numClasses, options.assign);
  const images = tf.tidy(() => preprocessImages(tf.tensor4d(pixels, [b, inputSize, inputSize, 3])));
  const teacherProbs = probs === undefined ? undefined : tf.tensor3d(probs, [b, anchors.numAnchors, numClasses]);
  const labeled = samples.filter((s) => s.pool === 'labeled').length;
  return { images, targets, teacherProbs, labeled, unlabeled: b - labeled };
}

export function disposeSampleBatch(batch: SampleBatch): void {
  batch.images.dispose();
  batch.teacherProbs?.dispose();
  disposeTargets(batch.targets);
}

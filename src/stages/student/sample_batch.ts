// Buffered samples → the student's training tensors: images, anchor targets from hard labels, teacher probabilities.
import { permuteAnchorRows } from '../../boxes/anchor_flip.ts';
import type { AnchorSet } from '../../boxes/anchors.ts';
import type { AssignOptions } from '../../boxes/assign.ts';
import { dequantizeSoftLabels } from '../../messages/soft_labels.ts';
import { flipBox, mirrorPixels } from '../../train/dataset.ts';
import { batchTensors, disposeTensorBatch, type PackedBatch, type TensorBatch } from '../../train/packed_batch.ts';
import type { ImageBoxes } from '../../train/targets.ts';
import type { BufferedSample } from './sample_buffer.ts';

export type BatchSample = Pick<BufferedSample, 'pixels' | 'hard' | 'soft' | 'pool'>;

/** The student's training tensors (see TensorBatch). */
export type SampleBatch = TensorBatch;

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

export function disposeSampleBatch(batch: SampleBatch): void {
  disposeTensorBatch(batch);
}

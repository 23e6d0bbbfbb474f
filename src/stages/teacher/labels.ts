// Hard labels (teacher detections ≥ τ, or ground truth for labeled images) and the at-least-one-detection filter.
import type { Box } from '../../boxes/box.ts';
import { toInputBox, type LetterboxTransform } from '../../image/letterbox.ts';
import type { GroundTruth, ImageRef } from '../../messages/image_ref.ts';
import { REJECTION_REASONS } from '../../messages/rejection.ts';
import type { HardLabel } from '../../messages/sample.ts';
import type { Detection } from '../../postprocess/detections.ts';

export type LabelDecision =
  | { kind: 'sample'; hard: HardLabel[]; source: 'teacher' | 'ground-truth' }
  | { kind: 'rejected'; reason: typeof REJECTION_REASONS.noDetections; maxScore: number };

/** Teacher detections with score ≥ `threshold`, as hard labels (boxes already in model-input pixels). */
export function hardLabelsFromDetections(detections: readonly Detection[], threshold: number): HardLabel[] {
  return detections.filter((d) => d.score >= threshold).map((d) => ({ box: [...d.box] as Box, classId: d.classId, score: d.score }));
}

/**
 * Ground truth mapped into model-input pixels (clipped to the input), score 1. Crowd regions are left out: a hard
 * label can only say "object here", and treating a crowd box as one object would teach the student a wrong box.
 * Boxes with no area left are dropped (they cannot be regressed to). A class id the model does not have is an
 * error: the annotation file and the model disagree, which no threshold can fix.
 */
export function hardLabelsFromGroundTruth(gt: readonly GroundTruth[], transform: LetterboxTransform, numClasses: number): HardLabel[] {
  const size = transform.size;
  const clip = (v: number): number => Math.min(Math.max(v, 0), size);
  const out: HardLabel[] = [];
  for (const g of gt) {
    if (g.classId >= numClasses) throw new RangeError(`ground-truth class ${g.classId} is outside the teacher's ${numClasses} classes`);
    if (g.iscrowd === true) continue;
    const [x1, y1, x2, y2] = toInputBox(g.box, transform);
    const box: Box = [clip(x1), clip(y1), clip(x2), clip(y2)];
    if (box[2] > box[0] && box[3] > box[1]) out.push({ box, classId: g.classId, score: 1 });
  }
  return out;
}

/** The highest q of any anchor and class (NMS never removes the top-scoring box, so it is also the best detection's score). */
export function maxProbability(probs: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > max) max = probs[i];
  return max;
}

/**
 * SAD's filter. Labeled (and, should they arrive, test) images always become samples with their ground truth as
 * hard labels — an image without objects is a valid negative example. Unlabeled images become samples with the
 * teacher's detections ≥ τ as hard labels, or a rejection when there is none (with `filter: false`, a sample
 * without hard labels).
 */
export function decideLabels(
  input: { ref: ImageRef; transform: LetterboxTransform; detections: readonly Detection[]; probs: ArrayLike<number> },
  options: { hardLabel: number; numClasses: number; filter?: boolean },
): LabelDecision {
  if (input.ref.split !== 'unlabeled') {
    return { kind: 'sample', hard: hardLabelsFromGroundTruth(input.ref.gt ?? [], input.transform, options.numClasses), source: 'ground-truth' };
  }
  const hard = hardLabelsFromDetections(input.detections, options.hardLabel);
  if (hard.length === 0 && options.filter !== false) return { kind: 'rejected', reason: REJECTION_REASONS.noDetections, maxScore: maxProbability(input.probs) };
  return { kind: 'sample', hard, source: 'teacher' };
}

// Choosing the filter's τ from labeled images only: the largest τ that keeps a given share of them, optionally seen in the unlabeled domain's look.
//
// The unlabeled split's truth may be used to *report* a filter, never to pick its τ. What labeled data can say is how
// low the teacher's best score goes on images that do hold objects; rendering them with the shift augmentation
// (src/train/shift_augment.ts) makes that estimate speak about the unlabeled domain rather than the labeled one.
import type { DetectionDataset } from '../train/dataset.ts';
import { mixSeed, SeededRng } from '../train/rng.ts';
import { shiftImage, type ShiftOptions } from '../train/shift_augment.ts';
import { inferTeacher } from '../stages/teacher/infer.ts';
import type { TeacherModel } from '../stages/teacher/teacher_model.ts';
import type { ThresholdConfig } from '../topology/types.ts';
import type { ImageScores } from './filter_curve.ts';

export interface LabeledScoreOptions {
  thresholds: ThresholdConfig;
  batchSize: number;
  /** Render every image in this look first (its probability is ignored: every image is shifted). */
  shift?: ShiftOptions;
  /** Seed of the shift draws (image i uses the stream seeded by mix(seed, i)), so a rerun scores the same pixels. */
  seed?: number;
}

/** Best teacher score per class for each image of a labeled split (`objects` = its labeled box count). */
export async function scoreLabeled(teacher: TeacherModel, dataset: DetectionDataset, options: LabeledScoreOptions): Promise<ImageScores[]> {
  if (dataset.inputSize !== teacher.inputSize) throw new Error(`${dataset.annotationsKey} is letterboxed to ${dataset.inputSize} px but the teacher takes ${teacher.inputSize} px`);
  const shift = options.shift === undefined ? undefined : { ...options.shift, probability: 1 };
  const out: ImageScores[] = [];
  for (let start = 0; start < dataset.images.length; start += options.batchSize) {
    const chunk = dataset.images.slice(start, start + options.batchSize);
    const pixels = chunk.map((im, k) => (shift ? shiftImage(im.pixels, dataset.inputSize, im.boxes, new SeededRng(mixSeed(options.seed ?? 0, start + k)), shift) : im.pixels));
    const outputs = await inferTeacher(teacher, pixels, options.thresholds);
    chunk.forEach((im, k) => {
      const classMax = new Array<number>(teacher.numClasses).fill(0);
      for (const d of outputs.detections[k]) classMax[d.classId] = Math.max(classMax[d.classId], d.score);
      out.push({ key: im.key, objects: im.boxes.length, classMax });
    });
  }
  return out;
}

/**
 * The largest τ at which at least `share` of the non-empty images keep a detection ≥ τ: the ⌈share·n⌉-th highest
 * best score. Throws when there is no non-empty image to learn it from.
 */
export function tauKeeping(images: readonly ImageScores[], share: number): number {
  if (!(share > 0 && share <= 1)) throw new RangeError(`share must be in (0, 1], got ${share}`);
  const best = images
    .filter((im) => im.objects > 0)
    .map((im) => Math.max(0, ...im.classMax))
    .sort((a, b) => b - a);
  if (best.length === 0) throw new Error('no labeled image with objects to choose τ from');
  return best[Math.ceil(share * best.length) - 1];
}

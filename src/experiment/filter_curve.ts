// The filter's keep rate on truly empty vs non-empty unlabeled images as a curve over τ, and per-class τ calibration.
//
// The teacher runs once per image; every figure below is then pure arithmetic on each image's highest detection score
// per class — exactly what the at-least-one-detection filter compares with τ (an image is kept when some class has a
// detection ≥ its τ), so the curve is the filter's behaviour at every τ without rerunning the teacher.
import { listAll, type ObjectStore } from '../io/object_store.ts';
import type { ImageRef } from '../messages/image_ref.ts';
import { IMAGE_REF_VERSION } from '../messages/image_ref.ts';
import { inferTeacher } from '../stages/teacher/infer.ts';
import { prepareImage, type PreparedImage } from '../stages/teacher/prepare_image.ts';
import type { TeacherModel } from '../stages/teacher/teacher_model.ts';
import { DEFAULT_TEACHER_OPTIONS } from '../topology/defaults.ts';
import type { ThresholdConfig } from '../topology/types.ts';

/** One unlabeled image: its hidden object count and the teacher's best detection score per class (0 when none). */
export interface ImageScores {
  key: string;
  objects: number;
  classMax: number[];
}

/** The filter's goal (issue 10): keep at most this share of empty images and at least this share of non-empty ones. */
export interface FilterGoal {
  maxEmptyKept: number;
  minNonEmptyKept: number;
}

export const FILTER_GOAL: Readonly<FilterGoal> = Object.freeze({ maxEmptyKept: 0.2, minNonEmptyKept: 0.9 });

/** The τ values of the printed curve. */
export const DEFAULT_TAUS: readonly number[] = Object.freeze([0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]);

export interface KeepRates {
  emptyKept: number;
  empty: number;
  nonEmptyKept: number;
  nonEmpty: number;
}

export interface CurvePoint extends KeepRates {
  tau: number;
}

/** Kept when any class's best score reaches its threshold (one τ for all classes, or one per class). */
export function keeps(image: ImageScores, tau: number | readonly number[]): boolean {
  return image.classMax.some((s, c) => s >= (typeof tau === 'number' ? tau : tau[c]));
}

export function keepRates(images: readonly ImageScores[], tau: number | readonly number[]): KeepRates {
  const r: KeepRates = { emptyKept: 0, empty: 0, nonEmptyKept: 0, nonEmpty: 0 };
  for (const im of images) {
    const kept = keeps(im, tau);
    if (im.objects === 0) {
      r.empty += 1;
      if (kept) r.emptyKept += 1;
    } else {
      r.nonEmpty += 1;
      if (kept) r.nonEmptyKept += 1;
    }
  }
  return r;
}

export function filterCurve(images: readonly ImageScores[], taus: readonly number[] = DEFAULT_TAUS): CurvePoint[] {
  return taus.map((tau) => ({ tau, ...keepRates(images, tau) }));
}

const share = (kept: number, total: number): number => (total > 0 ? kept / total : 0);

export function meetsGoal(r: KeepRates, goal: FilterGoal = FILTER_GOAL): boolean {
  return share(r.emptyKept, r.empty) <= goal.maxEmptyKept && share(r.nonEmptyKept, r.nonEmpty) >= goal.minNonEmptyKept;
}

/** The smallest τ of the curve that meets the goal (keeps the most non-empty images), or undefined. */
export function tauMeetingGoal(curve: readonly CurvePoint[], goal: FilterGoal = FILTER_GOAL): number | undefined {
  return curve.find((p) => meetsGoal(p, goal))?.tau;
}

const MAX_COMBINATIONS = 1_000_000;

/**
 * Per-class thresholds from a grid: among the combinations that keep ≥ goal.minNonEmptyKept of the non-empty images,
 * the one keeping the fewest empty ones (ties: more non-empty kept). Undefined when no combination keeps enough.
 * Exhaustive over grid^classes, which is small here (14 values × 4 classes ≈ 38k, each a pass over the images).
 */
export function calibratePerClass(images: readonly ImageScores[], grid: readonly number[] = DEFAULT_TAUS, goal: FilterGoal = FILTER_GOAL): number[] | undefined {
  const classes = images[0]?.classMax.length ?? 0;
  if (classes === 0) return undefined;
  if (grid.length ** classes > MAX_COMBINATIONS) throw new Error(`per-class calibration would try ${grid.length}^${classes} combinations (limit ${MAX_COMBINATIONS}); use fewer τ values`);
  // Per image and class, the index of the first grid value above its score: kept by class c iff tauIndex[c] < that.
  const sorted = [...grid].sort((a, b) => a - b);
  const rank = images.map((im) => im.classMax.map((s) => sorted.filter((t) => t <= s).length));
  const empty = images.map((im) => im.objects === 0);
  const nonEmpty = empty.filter((e) => !e).length;
  const needed = Math.ceil(goal.minNonEmptyKept * nonEmpty);
  let best: { tau: number[]; empty: number; nonEmpty: number } | undefined;
  const index = new Array<number>(classes).fill(0);
  for (;;) {
    let e = 0;
    let n = 0;
    for (let i = 0; i < images.length; i++) {
      let kept = false;
      for (let c = 0; c < classes && !kept; c++) kept = index[c] < rank[i][c];
      if (!kept) continue;
      if (empty[i]) e += 1;
      else n += 1;
    }
    if (n >= needed && (best === undefined || e < best.empty || (e === best.empty && n > best.nonEmpty))) best = { tau: index.map((k) => sorted[k]), empty: e, nonEmpty: n };
    let c = 0;
    while (c < classes && ++index[c] === sorted.length) index[c++] = 0;
    if (c === classes) break;
  }
  return best?.tau;
}

/**
 * Area under the ROC curve of an image score (default: its best detection score) for telling non-empty from empty
 * images: the chance that a random non-empty image outscores a random empty one (ties count ½). 0.5 = no information;
 * every single-τ filter on that score is a point on this curve.
 */
export function emptyVsNonEmptyAuc(images: readonly ImageScores[], score: (im: ImageScores) => number = (im) => Math.max(...im.classMax)): number {
  const empty = images.filter((im) => im.objects === 0).map(score).sort((a, b) => a - b);
  const nonEmpty = images.filter((im) => im.objects > 0).map(score);
  if (empty.length === 0 || nonEmpty.length === 0) return Number.NaN;
  const below = (v: number, strict: boolean): number => {
    let lo = 0;
    let hi = empty.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (strict ? empty[mid] < v : empty[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const wins = nonEmpty.reduce((s, v) => s + below(v, true) + 0.5 * (below(v, false) - below(v, true)), 0);
  return wins / (empty.length * nonEmpty.length);
}

/**
 * The AUC against the empty images separately for images with 1, 2, …, `maxCount - 1` and ≥ `maxCount` objects:
 * where the teacher's scores fail to tell objects from clutter. NaN for a group without images.
 */
export function aucByObjectCount(images: readonly ImageScores[], maxCount = 4): number[] {
  const empty = images.filter((im) => im.objects === 0);
  return Array.from({ length: maxCount }, (_, i) => {
    const k = i + 1;
    return emptyVsNonEmptyAuc([...empty, ...images.filter((im) => (k === maxCount ? im.objects >= k : im.objects === k))]);
  });
}

/** Splits images into a calibration half and a held-out half (alternating by key order, so both see every kind). */
export function splitHalves(images: readonly ImageScores[]): { calibration: ImageScores[]; heldOut: ImageScores[] } {
  const sorted = [...images].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { calibration: sorted.filter((_, i) => i % 2 === 0), heldOut: sorted.filter((_, i) => i % 2 === 1) };
}

export interface ScoreOptions {
  /** Store prefix of the unlabeled images. */
  prefix: string;
  /** Object key → ground-truth object count; images it does not list are skipped (their truth is unknown). */
  truth: ReadonlyMap<string, number>;
  thresholds: ThresholdConfig;
  batchSize: number;
  maxImagePixels: number;
  /** Score only the first n listed images (0 = all). */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Runs the teacher over the unlabeled images (the teacher stage's own decode and inference) and records each one's scores. */
export async function scoreUnlabeled(store: ObjectStore, teacher: TeacherModel, options: ScoreOptions): Promise<ImageScores[]> {
  const refs: ImageRef[] = [];
  for await (const o of listAll(store, options.prefix)) {
    if (!options.truth.has(o.key)) continue;
    refs.push({ v: IMAGE_REF_VERSION, bucket: '', key: o.key, etag: o.etag, size: o.size, split: 'unlabeled', imageId: o.key });
    if (options.limit !== undefined && options.limit > 0 && refs.length >= options.limit) break;
  }
  if (refs.length === 0) throw new Error(`no unlabeled images with known truth under ${options.prefix}`);
  const out: ImageScores[] = [];
  for (let start = 0; start < refs.length; start += options.batchSize) {
    const chunk = refs.slice(start, start + options.batchSize);
    const prepared = await Promise.all(chunk.map((ref) => prepareImage(store, ref, { inputSize: teacher.inputSize, maxImagePixels: options.maxImagePixels, maxObjectBytes: DEFAULT_TEACHER_OPTIONS.maxObjectBytes })));
    const images = prepared.filter((p): p is PreparedImage => p.kind === 'image');
    if (images.length < prepared.length) {
      const bad = prepared.find((p) => p.kind === 'unusable');
      throw new Error(`${bad?.ref.key}: ${bad?.kind === 'unusable' ? `${bad.reason}: ${bad.detail}` : 'unusable'}`);
    }
    const outputs = await inferTeacher(teacher, images.map((p) => p.pixels), options.thresholds);
    images.forEach((p, k) => {
      const classMax = new Array<number>(teacher.numClasses).fill(0);
      for (const d of outputs.detections[k]) classMax[d.classId] = Math.max(classMax[d.classId], d.score);
      out.push({ key: p.ref.key, objects: options.truth.get(p.ref.key) ?? 0, classMax });
    });
    options.onProgress?.(out.length, refs.length);
  }
  return out;
}

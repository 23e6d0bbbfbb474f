// Detector outputs → final detections: sigmoid scores, threshold, top-k per level, decode, class-wise NMS, top-N.
import * as tf from '@tensorflow/tfjs';
import type { Box } from '../boxes/box.ts';
import type { LevelRange } from '../boxes/anchors.ts';
import { DEFAULT_BOX_WEIGHTS, decodeBoxInto, type BoxCoderWeights } from '../boxes/box_coder.ts';

export interface Detection {
  /** [x1, y1, x2, y2] in input-image pixels. */
  box: Box;
  score: number;
  classId: number;
}

/**
 * How class-wise NMS is run. 'single-pass' (default) runs tfjs's greedy rule (the kernel behind
 * tf.image.nonMaxSuppression) itself, in one pass over all candidates in score order, comparing each
 * only with the kept boxes of its class and stopping at maxDetections: the same detections as
 * 'per-class', bit for bit, without tensors or the kernel's per-pair allocations. 'per-class' makes one
 * tfjs kernel call per class present (the reference the tests compare with); 'offset' makes one kernel
 * call per image with each class's boxes shifted apart so classes never overlap, and may decide
 * differently for a pair whose IoU lies within float32 rounding (~1e-6) of the threshold. The kernel's
 * cost was mostly its per-pair IoU (two subarray allocations each); the figures are in docs/benchmarks.md
 * (bench/teacher_breakdown.ts).
 */
export type NmsStrategy = 'single-pass' | 'per-class' | 'offset';

export interface PostprocessOptions {
  /** Keep (anchor, class) pairs with sigmoid score strictly above this. Default 0.05. */
  scoreThreshold?: number;
  /** Per pyramid level, keep at most this many (anchor, class) pairs, best first. Default 1000. */
  topKPerLevel?: number;
  /** NMS IoU threshold: a box is suppressed by a better same-class box with IoU ≥ this (tfjs's rule). Default 0.5. */
  nmsIou?: number;
  /** At most this many detections per image, by descending score. Default 100. */
  maxDetections?: number;
  /** When given, boxes are clipped to [0, width] × [0, height] and boxes left with no area are dropped. */
  imageSize?: { height: number; width: number };
  boxWeights?: BoxCoderWeights;
  nmsStrategy?: NmsStrategy;
}

interface ResolvedOptions {
  scoreThreshold: number;
  topKPerLevel: number;
  nmsIou: number;
  maxDetections: number;
  imageSize: { height: number; width: number } | undefined;
  boxWeights: BoxCoderWeights;
  nmsStrategy: NmsStrategy;
}

/** Candidates of one image: parallel arrays, sorted by descending score (then ascending anchor·C + class). */
interface Candidates {
  boxes: Float32Array; // [n * 4]
  scores: Float32Array; // [n]
  classes: Int32Array; // [n]
  count: number;
}

/**
 * Post-processes a batch. classLogits [batch, anchors, classes] and boxDeltas [batch, anchors, 4] are
 * read asynchronously and not disposed; `anchors` is the flat [anchors * 4] array and `levels` the
 * per-level anchor ranges from `generateAnchors`. Ties in score are broken by the flattened
 * (anchor, class) index, lowest first, so the result is deterministic.
 */
export async function postprocess(
  classLogits: tf.Tensor3D,
  boxDeltas: tf.Tensor3D,
  anchors: Float32Array,
  levels: readonly LevelRange[],
  opts: PostprocessOptions = {},
): Promise<Detection[][]> {
  const o = resolveOptions(opts);
  const [batch, numAnchors, numClasses] = classLogits.shape;
  checkInputs(classLogits, boxDeltas, anchors, levels);
  const [logitData, deltaData] = (await Promise.all([classLogits.data(), boxDeltas.data()])) as [Float32Array, Float32Array];
  const out: Detection[][] = [];
  for (let b = 0; b < batch; b++) {
    const logits = logitData.subarray(b * numAnchors * numClasses, (b + 1) * numAnchors * numClasses);
    const deltas = deltaData.subarray(b * numAnchors * 4, (b + 1) * numAnchors * 4);
    const candidates = selectCandidates(logits, deltas, anchors, levels, numClasses, o);
    const kept =
      (o.nmsStrategy === 'single-pass' ? nmsSinglePass(candidates, o) : undefined) ??
      (o.nmsStrategy === 'offset' ? await nmsOffset(candidates, o) : await nmsPerClass(candidates, o));
    out.push(kept.map((i) => toDetection(candidates, i)));
  }
  return out;
}

/**
 * The sigmoid score as the tfjs cpu kernel computes it (float64 math rounded to float32). Computing it
 * here, only for pairs that pass a logit pre-filter, avoids a full-size sigmoid over [batch, anchors,
 * classes], which dominated the run time when many classes are present.
 */
export function sigmoidScore(logit: number): number {
  return Math.fround(1 / (1 + Math.exp(-logit)));
}

/** Threshold → top-k per level → decode (→ clip), returned in global (score desc, index asc) order. */
function selectCandidates(
  logits: Float32Array,
  deltas: Float32Array,
  anchors: Float32Array,
  levels: readonly LevelRange[],
  numClasses: number,
  o: ResolvedOptions,
): Candidates {
  // Any logit whose float32 sigmoid exceeds the threshold is above this (float32 rounding is < 1e-7 relative).
  const t = o.scoreThreshold * (1 - 1e-6);
  const logitFloor = t > 0 ? Math.log(t / (1 - t)) : -Infinity;
  const pickedIdx: number[] = [];
  const pickedScore: number[] = [];
  for (const level of levels) {
    const idx: number[] = [];
    const sc: number[] = [];
    const end = (level.offset + level.count) * numClasses;
    for (let k = level.offset * numClasses; k < end; k++) {
      if (logits[k] > logitFloor) {
        const s = sigmoidScore(logits[k]);
        if (s > o.scoreThreshold) {
          idx.push(k);
          sc.push(s);
        }
      }
    }
    const keep = topK(sc, o.topKPerLevel);
    for (const r of keep) {
      pickedIdx.push(idx[r]);
      pickedScore.push(sc[r]);
    }
  }
  const order = Array.from(pickedIdx.keys()).sort((p, q) => pickedScore[q] - pickedScore[p] || pickedIdx[p] - pickedIdx[q]);

  const n = order.length;
  const boxes = new Float32Array(n * 4);
  const scores = new Float32Array(n);
  const classes = new Int32Array(n);
  let count = 0;
  for (const r of order) {
    const k = pickedIdx[r];
    const anchor = Math.floor(k / numClasses);
    decodeBoxInto(anchors, anchor, deltas, anchor, boxes, count, o.boxWeights);
    if (o.imageSize !== undefined && !clipInPlace(boxes, count, o.imageSize)) continue;
    scores[count] = pickedScore[r];
    classes[count] = k - anchor * numClasses;
    count++;
  }
  return { boxes: boxes.subarray(0, count * 4), scores: scores.subarray(0, count), classes: classes.subarray(0, count), count };
}

/**
 * Positions of the k best entries of `scores` (listed in ascending pair-index order) by (score desc,
 * position asc). Linear-time selection of the k-th score first, so many candidates cost no full sort.
 */
function topK(scores: readonly number[], k: number): number[] {
  const n = scores.length;
  if (n <= k) return Array.from(scores.keys());
  const kth = kthLargest(Float64Array.from(scores), k);
  const out: number[] = [];
  for (let r = 0; r < n; r++) if (scores[r] > kth) out.push(r);
  // Entries tied with the k-th score fill the remaining slots lowest idx first (they are scanned in idx order).
  for (let r = 0; r < n && out.length < k; r++) if (scores[r] === kth) out.push(r);
  return out;
}

/** The k-th largest value (1-based) of `values`, which is reordered in place (Hoare quickselect). */
export function kthLargest(values: Float64Array, k: number): number {
  if (!(k >= 1 && k <= values.length)) throw new RangeError(`kthLargest: k=${k} out of [1, ${values.length}]`);
  const target = k - 1; // position in descending order
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // Median of three as pivot keeps sorted or constant runs from going quadratic.
    const a = values[lo];
    const b = values[mid];
    const c = values[hi];
    const pivot = a > b ? (b > c ? b : a > c ? c : a) : a > c ? a : b > c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] > pivot) i++;
      while (values[j] < pivot) j--;
      if (i <= j) {
        const tmp = values[i];
        values[i] = values[j];
        values[j] = tmp;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return values[target];
  }
  return values[target];
}

// Returns false when the clipped box has no area left (entirely outside the image).
function clipInPlace(boxes: Float32Array, i: number, size: { height: number; width: number }): boolean {
  const o = i * 4;
  boxes[o] = Math.min(Math.max(boxes[o], 0), size.width);
  boxes[o + 1] = Math.min(Math.max(boxes[o + 1], 0), size.height);
  boxes[o + 2] = Math.min(Math.max(boxes[o + 2], 0), size.width);
  boxes[o + 3] = Math.min(Math.max(boxes[o + 3], 0), size.height);
  return boxes[o + 2] > boxes[o] && boxes[o + 3] > boxes[o + 1];
}

/**
 * tfjs's hard NMS (nonMaxSuppressionV3Impl with no score threshold), per class, in one pass: candidates are
 * already in the kernel's visiting order (score desc, index asc), a class's decisions depend only on its own
 * earlier kept boxes, and the first maxDetections kept overall are exactly what merging the per-class results
 * and truncating keeps. The IoU is the kernel's formula on the same float64 values, so every decision matches.
 * Returns undefined when a box has a non-finite coordinate (a diverged model): the kernel then meets NaN IoUs,
 * which it treats in its own way (it demotes the candidate), and the caller runs the kernel itself.
 */
function nmsSinglePass(c: Candidates, o: ResolvedOptions): number[] | undefined {
  const n = c.count;
  for (let k = 0; k < n * 4; k++) if (!Number.isFinite(c.boxes[k])) return undefined;
  // Per box: the kernel's min/max of each coordinate pair and its area, computed once instead of per pair.
  const lo0 = new Float64Array(n);
  const lo1 = new Float64Array(n);
  const hi0 = new Float64Array(n);
  const hi1 = new Float64Array(n);
  const area = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = c.boxes;
    lo0[i] = Math.min(b[i * 4], b[i * 4 + 2]);
    lo1[i] = Math.min(b[i * 4 + 1], b[i * 4 + 3]);
    hi0[i] = Math.max(b[i * 4], b[i * 4 + 2]);
    hi1[i] = Math.max(b[i * 4 + 1], b[i * 4 + 3]);
    area[i] = (hi0[i] - lo0[i]) * (hi1[i] - lo1[i]);
  }
  const keptByClass = new Map<number, number[]>();
  const kept: number[] = [];
  for (let i = 0; i < n && kept.length < o.maxDetections; i++) {
    let mine = keptByClass.get(c.classes[i]);
    if (mine === undefined) keptByClass.set(c.classes[i], (mine = []));
    let suppressed = false;
    // Latest kept first, as the kernel does (overlapping boxes tend to have close scores).
    for (let r = mine.length - 1; r >= 0 && !suppressed; r--) suppressed = iou(i, mine[r], lo0, lo1, hi0, hi1, area) >= o.nmsIou;
    if (!suppressed) {
      mine.push(i);
      kept.push(i);
    }
  }
  return kept;
}

/** The tfjs kernel's intersectionOverUnion, operation for operation, on precomputed extents. */
function iou(i: number, j: number, lo0: Float64Array, lo1: Float64Array, hi0: Float64Array, hi1: Float64Array, area: Float64Array): number {
  if (area[i] <= 0 || area[j] <= 0) return 0;
  const inter = Math.max(Math.min(hi0[i], hi0[j]) - Math.max(lo0[i], lo0[j]), 0) * Math.max(Math.min(hi1[i], hi1[j]) - Math.max(lo1[i], lo1[j]), 0);
  return inter / (area[i] + area[j] - inter);
}

/** One NMS kernel call per class present; returns kept candidate indices in candidate (score) order. */
async function nmsPerClass(c: Candidates, o: ResolvedOptions): Promise<number[]> {
  const members = new Map<number, number[]>();
  for (let i = 0; i < c.count; i++) {
    const list = members.get(c.classes[i]);
    if (list === undefined) members.set(c.classes[i], [i]);
    else list.push(i);
  }
  const kept: number[] = [];
  for (const idx of members.values()) {
    const boxes = new Float32Array(idx.length * 4);
    const scores = new Float32Array(idx.length);
    idx.forEach((i, r) => {
      boxes.set(c.boxes.subarray(i * 4, i * 4 + 4), r * 4);
      scores[r] = c.scores[i];
    });
    const selected = await runNms(boxes, scores, o);
    for (const r of selected) kept.push(idx[r]);
  }
  // Candidate indices are already in (score desc, index asc) order, so sorting them sorts by score.
  kept.sort((a, b) => a - b);
  if (kept.length > o.maxDetections) kept.length = o.maxDetections;
  return kept;
}

/** One NMS kernel call over all classes, each class shifted by its own offset so classes never overlap. */
async function nmsOffset(c: Candidates, o: ResolvedOptions): Promise<number[]> {
  if (c.count === 0) return [];
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < c.boxes.length; k++) {
    lo = Math.min(lo, c.boxes[k]);
    hi = Math.max(hi, c.boxes[k]);
  }
  // Class c moves by c·span with span > hi − lo, so its boxes start past every box of class c − 1.
  // Class 0 is not moved at all, and the others lose only the float32 bits the larger magnitude costs.
  const span = hi - lo + 1;
  const shifted = new Float32Array(c.boxes.length);
  for (let i = 0; i < c.count; i++) {
    const shift = c.classes[i] * span;
    for (let k = i * 4; k < i * 4 + 4; k++) shifted[k] = c.boxes[k] + shift;
  }
  const selected = await runNms(shifted, c.scores, o);
  return Array.from(selected);
}

async function runNms(boxes: Float32Array, scores: Float32Array, o: ResolvedOptions): Promise<Int32Array> {
  const boxesT = tf.tensor2d(boxes, [scores.length, 4]);
  const scoresT = tf.tensor1d(scores);
  try {
    // tfjs NMS computes IoU from min/max of each coordinate pair, so [x1, y1, x2, y2] works as well as [y1, x1, y2, x2].
    const selected = await tf.image.nonMaxSuppressionAsync(boxesT, scoresT, o.maxDetections, o.nmsIou);
    try {
      return (await selected.data()) as Int32Array;
    } finally {
      selected.dispose();
    }
  } finally {
    boxesT.dispose();
    scoresT.dispose();
  }
}

function toDetection(c: Candidates, i: number): Detection {
  const b = c.boxes;
  return { box: [b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]], score: c.scores[i], classId: c.classes[i] };
}

function resolveOptions(opts: PostprocessOptions): ResolvedOptions {
  const o: ResolvedOptions = {
    scoreThreshold: opts.scoreThreshold ?? 0.05,
    topKPerLevel: opts.topKPerLevel ?? 1000,
    nmsIou: opts.nmsIou ?? 0.5,
    maxDetections: opts.maxDetections ?? 100,
    imageSize: opts.imageSize,
    boxWeights: opts.boxWeights ?? DEFAULT_BOX_WEIGHTS,
    nmsStrategy: opts.nmsStrategy ?? 'single-pass',
  };
  if (!(o.scoreThreshold >= 0 && o.scoreThreshold < 1)) throw new RangeError(`postprocess: scoreThreshold must be in [0, 1), got ${o.scoreThreshold}`);
  if (!Number.isInteger(o.topKPerLevel) || o.topKPerLevel < 1) throw new RangeError(`postprocess: topKPerLevel must be a positive integer, got ${o.topKPerLevel}`);
  if (!(o.nmsIou > 0 && o.nmsIou <= 1)) throw new RangeError(`postprocess: nmsIou must be in (0, 1], got ${o.nmsIou}`);
  if (!Number.isInteger(o.maxDetections) || o.maxDetections < 1) throw new RangeError(`postprocess: maxDetections must be a positive integer, got ${o.maxDetections}`);
  if (o.imageSize !== undefined && !(o.imageSize.height > 0 && o.imageSize.width > 0)) {
    throw new RangeError(`postprocess: imageSize must be positive, got ${o.imageSize.height}×${o.imageSize.width}`);
  }
  return o;
}

function checkInputs(classLogits: tf.Tensor3D, boxDeltas: tf.Tensor3D, anchors: Float32Array, levels: readonly LevelRange[]): void {
  const [batch, numAnchors] = classLogits.shape;
  if (classLogits.rank !== 3 || classLogits.dtype !== 'float32' || boxDeltas.dtype !== 'float32') {
    throw new RangeError('postprocess: classLogits and boxDeltas must be rank-3 float32 tensors');
  }
  if (boxDeltas.rank !== 3 || boxDeltas.shape[0] !== batch || boxDeltas.shape[1] !== numAnchors || boxDeltas.shape[2] !== 4) {
    throw new RangeError(`postprocess: boxDeltas shape [${boxDeltas.shape.join(', ')}] does not match classLogits [${classLogits.shape.join(', ')}]`);
  }
  if (anchors.length !== numAnchors * 4) throw new RangeError(`postprocess: ${anchors.length / 4} anchors but the outputs have ${numAnchors}`);
  let next = 0;
  for (const level of levels) {
    if (level.offset !== next || level.count < 0) throw new RangeError('postprocess: levels must be contiguous ranges starting at anchor 0');
    next += level.count;
  }
  if (next !== numAnchors) throw new RangeError(`postprocess: levels cover ${next} anchors but the outputs have ${numAnchors}`);
}

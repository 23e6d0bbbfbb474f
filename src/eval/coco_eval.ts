// COCO bbox evaluation (AP/AR), reproducing pycocotools' COCOeval for iouType 'bbox' number for number.
import {
  CocoValidationError,
  groundTruthReferenceIssues,
  type CocoDetection,
  type CocoGroundTruth,
} from './coco_types.ts';

export interface CocoEvalOptions {
  /** Evaluate only these images (pycocotools `params.imgIds`). Default: every image of the ground truth. */
  imgIds?: readonly number[];
  /** Evaluate only these categories (pycocotools `params.catIds`). Default: every category. */
  catIds?: readonly number[];
  /** false = class-agnostic matching, as pycocotools' `useCats = 0` (no per-category results). Default true. */
  useCats?: boolean;
}

export interface CocoCategoryMetrics {
  categoryId: number;
  name: string;
  /** Non-crowd ground-truth boxes of this category in the evaluated images. */
  numGt: number;
  /** AP@[.50:.95], AP@.50, AP@.75 and AR@100 over all areas; -1 when the category has no ground truth. */
  AP: number;
  AP50: number;
  AP75: number;
  AR100: number;
}

export const COCO_STAT_NAMES = [
  'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl',
] as const;
export type CocoStatName = (typeof COCO_STAT_NAMES)[number];

export type CocoMetrics = Record<CocoStatName, number> & {
  /** The same 12 numbers in pycocotools' `stats` order (-1 where nothing could be averaged). */
  stats: number[];
  /** Per category, sorted by category id (empty when `useCats` is false). */
  perCategory: CocoCategoryMetrics[];
  numImages: number;
};

/** numpy.linspace(start, stop, num) to the last bit, because thresholds are compared with `<`. */
function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

export const IOU_THRESHOLDS: Float64Array = linspace(0.5, 0.95, 10);
export const RECALL_THRESHOLDS: Float64Array = linspace(0, 1, 101);
export const AREA_RANGES: readonly (readonly [number, number])[] = [
  [0, 1e10],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e10],
];
export const AREA_LABELS = ['all', 'small', 'medium', 'large'] as const;
export const MAX_DETS = [1, 10, 100] as const;

const T = IOU_THRESHOLDS.length;
const R = RECALL_THRESHOLDS.length;
const A = AREA_RANGES.length;
const M = MAX_DETS.length;
const MAX_DET = MAX_DETS[M - 1];
const EPS = 2.220446049250313e-16; // np.spacing(1)

// Per (threshold, detection) outcome after matching.
const FP = 0;
const TP = 1;
const IGNORED = 2;

/** Sorted unique ids, each checked to exist in `known`. */
function selectIds(ids: readonly number[], known: ReadonlySet<number>, what: string): number[] {
  const bad = ids.filter((x) => !known.has(x));
  if (bad.length > 0) throw new RangeError(`${what} ${bad.slice(0, 5).join(', ')} not in the ground truth`);
  return [...new Set(ids)].sort((a, b) => a - b);
}

/** Items grouped into `cells` buckets keeping input order (counting sort): the members of cell c are order[start[c]..start[c+1]). */
interface Grouping {
  start: Int32Array;
  order: Int32Array;
}

function groupBy(n: number, cells: number, cellOf: (index: number) => number): Grouping {
  const cell = new Int32Array(n);
  const start = new Int32Array(cells + 1);
  for (let j = 0; j < n; j++) {
    const c = cellOf(j);
    cell[j] = c;
    if (c >= 0) start[c + 1]++;
  }
  for (let c = 0; c < cells; c++) start[c + 1] += start[c];
  const fill = start.slice(0, cells);
  const order = new Int32Array(start[cells]);
  for (let j = 0; j < n; j++) if (cell[j] >= 0) order[fill[cell[j]]++] = j;
  return { start, order };
}

/**
 * numpy's float64 pairwise summation (what np.mean uses on a contiguous array). Plain left-to-right
 * summation differs only in the last bits; this keeps the results bit-equal to pycocotools'.
 */
function pairwiseSum(a: Float64Array, lo: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[lo + i];
    return res;
  }
  if (n <= 128) {
    const r = [a[lo], a[lo + 1], a[lo + 2], a[lo + 3], a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[lo + i + j];
    let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) res += a[lo + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

/** Mean of the entries > -1 (pycocotools' `_summarize`), -1 when there are none. */
function meanValid(values: Float64Array, n: number): number {
  let kept = 0;
  for (let i = 0; i < n; i++) if (values[i] > -1) values[kept++] = values[i];
  return kept === 0 ? -1 : pairwiseSum(values, 0, kept) / kept;
}

/** Mutable scratch buffers reused across images so the inner loops do not allocate. */
class Scratch {
  f64 = new Float64Array(64);
  i32 = new Int32Array(64);
  ensure(floats: number, ints: number): void {
    if (this.f64.length < floats) this.f64 = new Float64Array(floats * 2);
    if (this.i32.length < ints) this.i32 = new Int32Array(ints * 2);
  }
}

/**
 * Evaluates bbox detections against COCO ground truth with the COCO protocol:
 * IoU .50:.05:.95, 101-point interpolated precision, maxDets 1/10/100, area ranges
 * all/small/medium/large, crowd regions ignored. Results equal pycocotools' `COCOeval.stats`.
 */
export function evaluateCoco(
  gt: CocoGroundTruth,
  detections: readonly CocoDetection[],
  options: CocoEvalOptions = {},
): CocoMetrics {
  const refIssues = groundTruthReferenceIssues(gt);
  if (refIssues.length > 0) throw new CocoValidationError(refIssues, 'COCO ground truth');
  const gtImageIds = new Set(gt.images.map((im) => im.id));
  const gtCategoryIds = new Set(gt.categories.map((c) => c.id));
  const detIssues: string[] = [];
  detections.forEach((d, j) => {
    // pycocotools' loadRes refuses results for unknown images ("Results do not correspond to current coco set").
    if (!gtImageIds.has(d.image_id)) detIssues.push(`detections[${j}].image_id: ${d.image_id} is not an image of the ground truth`);
    if (!gtCategoryIds.has(d.category_id)) {
      detIssues.push(`detections[${j}].category_id: ${d.category_id} is not a category of the ground truth`);
    }
  });
  if (detIssues.length > 0) throw new CocoValidationError(detIssues, 'COCO detections');

  const imgIds = selectIds(options.imgIds ?? [...gtImageIds], gtImageIds, 'imgIds');
  const catIds = selectIds(options.catIds ?? [...gtCategoryIds], gtCategoryIds, 'catIds');
  const useCats = options.useCats ?? true;
  const I = imgIds.length;
  const C = catIds.length;
  const K = useCats ? C : 1;
  const imgIndex = new Map(imgIds.map((x, i) => [x, i]));
  const catIndex = new Map(catIds.map((x, c) => [x, c]));

  // Cell i*C + c holds image i, category c; the C cells of an image are adjacent in category order,
  // which is exactly the concatenation pycocotools builds when useCats = 0.
  const cellOf = (imageId: number, categoryId: number): number => {
    const i = imgIndex.get(imageId);
    const c = catIndex.get(categoryId);
    return i === undefined || c === undefined ? -1 : i * C + c;
  };
  const anns = gt.annotations;
  const gtCells = groupBy(anns.length, I * C, (j) => cellOf(anns[j].image_id, anns[j].category_id));
  const dtCells = groupBy(detections.length, I * C, (j) => cellOf(detections[j].image_id, detections[j].category_id));

  const precision = new Float64Array(T * R * K * A * M).fill(-1); // [T, R, K, A, M]
  const recall = new Float64Array(T * K * A * M).fill(-1); // [T, K, A, M]
  const numGt = new Int32Array(K);
  const scratch = new Scratch();

  for (let k = 0; k < K; k++) {
    const cellRange = (i: number, starts: Int32Array): [number, number] =>
      useCats ? [starts[i * C + k], starts[i * C + k + 1]] : [starts[i * C], starts[(i + 1) * C]];
    const npig = new Int32Array(A);

    // Detections of this category, image by image (image id order), each image's sorted by score and
    // truncated to maxDets[-1]: the concatenation pycocotools' accumulate() sorts.
    const offsets = new Int32Array(I + 1);
    for (let i = 0; i < I; i++) {
      const [lo, hi] = cellRange(i, dtCells.start);
      offsets[i + 1] = offsets[i] + Math.min(hi - lo, MAX_DET);
    }
    const N = offsets[I];
    const scores = new Float64Array(N);
    const rank = new Int32Array(N);
    const outcome = Array.from({ length: A }, () => new Uint8Array(T * N)); // per area: [T, N]

    for (let i = 0; i < I; i++) {
      const [glo, ghi] = cellRange(i, gtCells.start);
      const [dlo, dhi] = cellRange(i, dtCells.start);
      const G = ghi - glo;
      if (G === 0 && dhi === dlo) continue;
      const gts = Array.from(gtCells.order.subarray(glo, ghi), (j) => anns[j]);
      // Stable descending sort (numpy mergesort on -score): ties keep file order.
      const dts = Array.from(dtCells.order.subarray(dlo, dhi), (j) => detections[j])
        .map((d, j) => ({ d, j }))
        .sort((p, q) => q.d.score - p.d.score || p.j - q.j)
        .slice(0, MAX_DET)
        .map((p) => p.d);
      const D = dts.length;
      const off = offsets[i];
      for (let d = 0; d < D; d++) {
        scores[off + d] = dts[d].score;
        rank[off + d] = d;
      }

      const gtBoxes = new Float64Array(G * 4);
      const gtArea = new Float64Array(G);
      const gtCrowd = new Uint8Array(G);
      const gtIdZero = new Uint8Array(G);
      for (let g = 0; g < G; g++) {
        const ann = gts[g];
        gtBoxes.set(ann.bbox, g * 4);
        gtArea[g] = ann.area ?? ann.bbox[2] * ann.bbox[3];
        gtCrowd[g] = ann.iscrowd ? 1 : 0;
        // pycocotools stores the matched gt *id* and tests it for truth, so a match to id 0 counts as none.
        gtIdZero[g] = ann.id === 0 ? 1 : 0;
        if (!gtCrowd[g]) numGt[k]++;
      }
      const dtBoxes = new Float64Array(D * 4);
      const dtArea = new Float64Array(D);
      for (let d = 0; d < D; d++) {
        dtBoxes.set(dts[d].bbox, d * 4);
        dtArea[d] = dts[d].bbox[2] * dts[d].bbox[3];
      }
      scratch.ensure(D * G, G);
      const ious = scratch.f64;
      computeIous(dtBoxes, D, gtBoxes, gtCrowd, G, ious);
      const cell: ImageCell = { D, G, ious, gtArea, gtCrowd, gtIdZero, dtArea };
      for (let a = 0; a < A; a++) {
        npig[a] += matchImage(cell, AREA_RANGES[a], scratch.i32, outcome[a], N, off);
      }
    }

    accumulateCategory(k, K, N, scores, rank, outcome, npig, precision, recall);
  }

  return summarize(precision, recall, K, useCats ? catIds : [], gt, numGt, I);
}

/** IoU as maskUtils.iou (bbIou) computes it; for a crowd gt the union is the detection's own area. */
function computeIous(
  dt: Float64Array, // [D, 4] x, y, w, h
  D: number,
  gt: Float64Array, // [G, 4]
  gtCrowd: Uint8Array,
  G: number,
  out: Float64Array, // [D, G]
): void {
  for (let d = 0; d < D; d++) {
    const dx = dt[d * 4];
    const dy = dt[d * 4 + 1];
    const dw = dt[d * 4 + 2];
    const dh = dt[d * 4 + 3];
    const da = dw * dh;
    for (let g = 0; g < G; g++) {
      const gx = gt[g * 4];
      const gy = gt[g * 4 + 1];
      const gw = gt[g * 4 + 2];
      const gh = gt[g * 4 + 3];
      let v = 0;
      const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
      if (w > 0) {
        const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
        if (h > 0) {
          const inter = w * h;
          v = inter / (gtCrowd[g] ? da : da + gw * gh - inter);
        }
      }
      out[d * G + g] = v;
    }
  }
}

/** One image and category: detections sorted by score (≤ maxDets[-1]), gts in file order. */
interface ImageCell {
  D: number;
  G: number;
  ious: Float64Array; // [D, G]
  gtArea: Float64Array;
  gtCrowd: Uint8Array;
  gtIdZero: Uint8Array;
  dtArea: Float64Array;
}

/**
 * pycocotools' evaluateImg() for one area range: greedy matching at every IoU threshold. Writes
 * FP/TP/IGNORED for detection d at out[t * N + off + d]; returns the number of gts not ignored.
 */
function matchImage(
  cell: ImageCell,
  [areaLo, areaHi]: readonly [number, number],
  order: Int32Array,
  out: Uint8Array,
  N: number,
  off: number,
): number {
  const { D, G, ious, gtArea, gtCrowd, gtIdZero, dtArea } = cell;
  // Crowds and gts outside the area range are ignored and sorted last (stable, as numpy mergesort).
  const ignored = new Uint8Array(G);
  let n = 0;
  for (let g = 0; g < G; g++) {
    ignored[g] = gtCrowd[g] || gtArea[g] < areaLo || gtArea[g] > areaHi ? 1 : 0;
    if (!ignored[g]) order[n++] = g;
  }
  const notIgnored = n;
  for (let g = 0; g < G; g++) if (ignored[g]) order[n++] = g;

  const taken = new Uint8Array(G); // by position in `order`
  for (let t = 0; t < T; t++) {
    taken.fill(0);
    const thr = Math.min(IOU_THRESHOLDS[t], 1 - 1e-10);
    for (let d = 0; d < D; d++) {
      // Best-IoU gt not yet taken (crowds can be taken again); once a regular gt is the best so
      // far, the ignored ones behind it cannot replace it. Equal IoU: the later gt wins.
      let best = thr;
      let m = -1;
      for (let s = 0; s < G; s++) {
        const g = order[s];
        if (taken[s] && !gtCrowd[g]) continue;
        if (m > -1 && !ignored[order[m]] && ignored[g]) break;
        const v = ious[d * G + g];
        if (v < best) continue;
        best = v;
        m = s;
      }
      // Unmatched detections outside the area range are ignored rather than counted as FP.
      const outside = dtArea[d] < areaLo || dtArea[d] > areaHi;
      let result: number;
      if (m === -1) {
        result = outside ? IGNORED : FP;
      } else {
        taken[m] = 1;
        const g = order[m];
        const matched = !gtIdZero[g];
        result = ignored[g] || (!matched && outside) ? IGNORED : matched ? TP : FP;
      }
      out[t * N + off + d] = result;
    }
  }
  return notIgnored;
}

/** pycocotools' accumulate() for one category index k: fills precision[:, :, k] and recall[:, k]. */
function accumulateCategory(
  k: number,
  K: number,
  N: number,
  scores: Float64Array,
  rank: Int32Array,
  outcome: readonly Uint8Array[],
  npig: Int32Array,
  precision: Float64Array,
  recall: Float64Array,
): void {
  // One global sort: the comparator is a total order (ties by position, as a stable sort), so the
  // detections kept for a smaller maxDet appear in the same relative order as if sorted on their own.
  const sorted = Int32Array.from({ length: N }, (_, p) => p).sort((p, q) => scores[q] - scores[p] || p - q);
  const sel = new Int32Array(N);
  const rc = new Float64Array(N);
  const pr = new Float64Array(N);
  const q = new Float64Array(R);
  for (let m = 0; m < M; m++) {
    const maxDet = MAX_DETS[m];
    let nd = 0;
    for (let j = 0; j < N; j++) if (rank[sorted[j]] < maxDet) sel[nd++] = sorted[j];
    for (let a = 0; a < A; a++) {
      if (npig[a] === 0) continue; // no gt to recall: stays -1 and is left out of the means
      for (let t = 0; t < T; t++) {
        recall[((t * K + k) * A + a) * M + m] = precisionAtRecalls(outcome[a], t * N, sel, nd, npig[a], rc, pr, q);
        for (let r = 0; r < R; r++) precision[(((t * R + r) * K + k) * A + a) * M + m] = q[r];
      }
    }
  }
}

function summarize(
  precision: Float64Array,
  recall: Float64Array,
  K: number,
  catIds: readonly number[],
  gt: CocoGroundTruth,
  numGt: Int32Array,
  numImages: number,
): CocoMetrics {
  const buffer = new Float64Array(Math.max(T * R * K, 1));
  const tAll = Array.from({ length: T }, (_, t) => t);
  const tAt = (thr: number): number[] => tAll.filter((t) => IOU_THRESHOLDS[t] === thr);
  const kAll = Array.from({ length: K }, (_, k) => k);

  // Flattened in numpy's C order of precision[t][:, :, :, a, m] so the mean sums in the same order.
  const ap = (ts: readonly number[], a: number, m: number, ks: readonly number[] = kAll): number => {
    let n = 0;
    for (const t of ts) for (let r = 0; r < R; r++) for (const k of ks) buffer[n++] = precision[(((t * R + r) * K + k) * A + a) * M + m];
    return meanValid(buffer, n);
  };
  const ar = (a: number, m: number, ks: readonly number[] = kAll, ts: readonly number[] = tAll): number => {
    let n = 0;
    for (const t of ts) for (const k of ks) buffer[n++] = recall[((t * K + k) * A + a) * M + m];
    return meanValid(buffer, n);
  };

  const last = M - 1;
  const stats = [
    ap(tAll, 0, last),
    ap(tAt(0.5), 0, last),
    ap(tAt(0.75), 0, last),
    ap(tAll, 1, last),
    ap(tAll, 2, last),
    ap(tAll, 3, last),
    ar(0, 0),
    ar(0, 1),
    ar(0, last),
    ar(1, last),
    ar(2, last),
    ar(3, last),
  ];
  const names = new Map(gt.categories.map((c) => [c.id, c.name ?? String(c.id)]));
  const perCategory = catIds.map((categoryId, k) => ({
    categoryId,
    name: names.get(categoryId) ?? String(categoryId),
    numGt: numGt[k],
    AP: ap(tAll, 0, last, [k]),
    AP50: ap(tAt(0.5), 0, last, [k]),
    AP75: ap(tAt(0.75), 0, last, [k]),
    AR100: ar(0, last, [k]),
  }));
  const named = Object.fromEntries(COCO_STAT_NAMES.map((name, i) => [name, stats[i]])) as Record<CocoStatName, number>;
  return { ...named, stats, perCategory, numImages };
}

/**
 * Precision interpolated at the 101 recall thresholds (into q) for one IoU threshold, from the
 * outcomes of the detections `sel` (sorted by score); returns the final recall.
 */
function precisionAtRecalls(
  outcomes: Uint8Array,
  rowStart: number,
  sel: Int32Array,
  nd: number,
  npig: number,
  rc: Float64Array,
  pr: Float64Array,
  q: Float64Array,
): number {
  let tp = 0;
  let fp = 0;
  for (let j = 0; j < nd; j++) {
    // Ignored detections still take a slot (repeating the previous rc/pr), as in pycocotools.
    const o = outcomes[rowStart + sel[j]];
    if (o === TP) tp++;
    else if (o === FP) fp++;
    rc[j] = tp / npig;
    pr[j] = tp / (fp + tp + EPS);
  }
  for (let j = nd - 1; j > 0; j--) if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
  // np.searchsorted(rc, recThrs, 'left'); thresholds past the last recall reached get precision 0.
  let j = 0;
  for (let r = 0; r < R; r++) {
    while (j < nd && rc[j] < RECALL_THRESHOLDS[r]) j++;
    q[r] = j < nd ? pr[j] : 0;
  }
  return nd > 0 ? rc[nd - 1] : 0;
}

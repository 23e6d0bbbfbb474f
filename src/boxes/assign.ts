// Anchor assignment: per-anchor class/box targets and positive/ignore masks from ground-truth (or hard-label) boxes.
import { checkBoxArray } from './box.ts';
import { DEFAULT_BOX_WEIGHTS, encodeBoxInto, type BoxCoderWeights } from './box_coder.ts';
import { iouMatrix } from './iou.ts';

/** Label of an anchor whose max IoU with every box is below `negIou`. */
export const BACKGROUND = -1;
/** Label of an anchor in the ignore band [negIou, posIou): excluded from the classification losses. */
export const IGNORE = -2;

/**
 * Relative tolerance under which an anchor's IoU counts as equal to a box's best IoU: mathematically
 * tied anchors (e.g. symmetric about the box) can differ by a few float ulps after rounding.
 */
export const TIE_RELATIVE_TOLERANCE = 1e-6;

export interface AssignOptions {
  /** Anchors with max IoU ≥ posIou are positive. Default 0.5. */
  posIou?: number;
  /** Anchors with max IoU < negIou are background; those in between are ignored. Default 0.4. */
  negIou?: number;
  /** Box coder weights for the regression targets. Default [1, 1, 1, 1]. */
  boxWeights?: BoxCoderWeights;
  /**
   * A background anchor lying at least this fraction of its own area inside an ignore region (a COCO crowd box, or a
   * pseudo-label too uncertain to be either an object or background) is ignored instead. Default 0.5.
   */
  ignoreRegionCover?: number;
}

export interface AnchorAssignment {
  numAnchors: number;
  numClasses: number;
  /** [anchors] class id for positives, else BACKGROUND or IGNORE. */
  labels: Int32Array;
  /** [anchors * classes] one-hot of the label for positives; all zero for background and ignore. */
  classTargets: Float32Array;
  /** [anchors * 4] encoded (dx, dy, dw, dh) of the matched box for positives; zero elsewhere. */
  boxTargets: Float32Array;
  /** [anchors] 1 for positives, else 0 (float so it uploads as a loss mask directly). */
  positiveMask: Float32Array;
  /** [anchors] 1 for ignored anchors, else 0. */
  ignoreMask: Float32Array;
  /** [anchors] index of the matched box for positives, −1 elsewhere. */
  matchedGt: Int32Array;
  /** [anchors] max IoU of each anchor over all boxes (0 when there are none). */
  maxIou: Float32Array;
  numPositive: number;
}

/**
 * Assigns anchors (flat [A*4]) to boxes (flat [G*4], classes [G]) with the RetinaNet rule: max IoU ≥
 * posIou → positive (matched to its highest-IoU box, lowest index on ties), < negIou → background,
 * else ignore. In addition every box's best anchors — all anchors that reach that box's max IoU, when
 * the max is > 0 — are positive, so small or oddly shaped boxes are never left without an anchor. An
 * anchor that is the best anchor of several boxes goes to the one it overlaps most; one that is the
 * best anchor of a box but overlaps another box more still goes to the box it is best for (as
 * mmdetection's MaxIoUAssigner does), since the other box keeps its own best anchors. Degenerate boxes
 * (zero width or height) overlap nothing and so produce no positives. Background anchors mostly inside one of
 * `ignoreRegions` (flat [R*4]; see `ignoreRegionCover`) are ignored: neither positives nor background.
 */
export function assignAnchors(
  anchors: ArrayLike<number>,
  gtBoxes: ArrayLike<number>,
  gtClasses: ArrayLike<number>,
  numClasses: number,
  opts: AssignOptions = {},
  ignoreRegions: ArrayLike<number> = [],
): AnchorAssignment {
  const posIou = opts.posIou ?? 0.5;
  const negIou = opts.negIou ?? 0.4;
  const weights = opts.boxWeights ?? DEFAULT_BOX_WEIGHTS;
  if (!(negIou > 0 && negIou <= posIou && posIou <= 1)) {
    throw new RangeError(`assignAnchors: need 0 < negIou ≤ posIou ≤ 1, got negIou=${negIou} posIou=${posIou}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`assignAnchors: numClasses must be a positive integer, got ${numClasses}`);
  const cover = opts.ignoreRegionCover ?? 0.5;
  if (!(cover > 0 && cover <= 1)) throw new RangeError(`assignAnchors: need 0 < ignoreRegionCover ≤ 1, got ${cover}`);
  const numAnchors = checkBoxArray(anchors, 'assignAnchors anchors');
  const numRegions = checkBoxArray(ignoreRegions, 'assignAnchors ignoreRegions');
  const numGt = checkBoxArray(gtBoxes, 'assignAnchors gtBoxes');
  if (gtClasses.length !== numGt) throw new RangeError(`assignAnchors: ${numGt} boxes but ${gtClasses.length} classes`);
  for (let j = 0; j < numGt; j++) {
    const c = gtClasses[j];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new RangeError(`assignAnchors: class ${c} of box ${j} is not in [0, ${numClasses})`);
  }

  const labels = new Int32Array(numAnchors).fill(BACKGROUND);
  const classTargets = new Float32Array(numAnchors * numClasses);
  const boxTargets = new Float32Array(numAnchors * 4);
  const positiveMask = new Float32Array(numAnchors);
  const ignoreMask = new Float32Array(numAnchors);
  const matchedGt = new Int32Array(numAnchors).fill(-1);
  const maxIou = new Float32Array(numAnchors);
  const result: AnchorAssignment = { numAnchors, numClasses, labels, classTargets, boxTargets, positiveMask, ignoreMask, matchedGt, maxIou, numPositive: 0 };
  if (numAnchors === 0) return result;
  if (numGt === 0) {
    if (numRegions > 0) ignoreCoveredBackground(anchors, ignoreRegions, cover, labels, ignoreMask);
    return result;
  }

  const iou = iouMatrix(anchors, gtBoxes); // [anchors, gt]
  const bestPerGt = new Float32Array(numGt);
  for (let i = 0; i < numAnchors; i++) {
    const row = i * numGt;
    let best = 0;
    let bestJ = -1;
    for (let j = 0; j < numGt; j++) {
      const v = iou[row + j];
      if (v > best) {
        best = v;
        bestJ = j;
      }
      if (v > bestPerGt[j]) bestPerGt[j] = v;
    }
    maxIou[i] = best;
    if (best >= posIou) matchedGt[i] = bestJ;
    else if (best >= negIou) labels[i] = IGNORE;
  }

  // Best-anchor rule: overrides thresholds (and the argmax match) for each box's best anchors.
  const tieFloor = bestPerGt.map((v) => v * (1 - TIE_RELATIVE_TOLERANCE));
  for (let i = 0; i < numAnchors; i++) {
    const row = i * numGt;
    let forced = -1;
    let forcedIou = 0;
    for (let j = 0; j < numGt; j++) {
      const v = iou[row + j];
      if (bestPerGt[j] > 0 && v >= tieFloor[j] && v > forcedIou) {
        forced = j;
        forcedIou = v;
      }
    }
    if (forced >= 0) matchedGt[i] = forced;
  }

  let numPositive = 0;
  for (let i = 0; i < numAnchors; i++) {
    const j = matchedGt[i];
    if (j < 0) continue;
    const c = gtClasses[j];
    labels[i] = c;
    positiveMask[i] = 1;
    classTargets[i * numClasses + c] = 1;
    encodeBoxInto(anchors, i, gtBoxes, j, boxTargets, i, weights);
    numPositive++;
  }
  for (let i = 0; i < numAnchors; i++) if (labels[i] === IGNORE) ignoreMask[i] = 1;
  if (numRegions > 0) ignoreCoveredBackground(anchors, ignoreRegions, cover, labels, ignoreMask);
  result.numPositive = numPositive;
  return result;
}

/** Turns background anchors covered (by ≥ `cover` of their area) by any of the regions into ignored ones. */
function ignoreCoveredBackground(anchors: ArrayLike<number>, regions: ArrayLike<number>, cover: number, labels: Int32Array, ignoreMask: Float32Array): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== BACKGROUND) continue;
    const ax1 = anchors[i * 4];
    const ay1 = anchors[i * 4 + 1];
    const ax2 = anchors[i * 4 + 2];
    const ay2 = anchors[i * 4 + 3];
    const area = (ax2 - ax1) * (ay2 - ay1);
    if (!(area > 0)) continue;
    for (let r = 0; r < regions.length; r += 4) {
      const w = Math.min(ax2, regions[r + 2]) - Math.max(ax1, regions[r]);
      const h = Math.min(ay2, regions[r + 3]) - Math.max(ay1, regions[r + 1]);
      if (w > 0 && h > 0 && w * h >= cover * area) {
        labels[i] = IGNORE;
        ignoreMask[i] = 1;
        break;
      }
    }
  }
}

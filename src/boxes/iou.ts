// Intersection-over-union between two sets of [x1, y1, x2, y2] boxes, on flat typed arrays.
import { checkBoxArray } from './box.ts';

/**
 * IoU of every box in `a` with every box in `b`: a row-major [na, nb] matrix as a flat Float32Array
 * (entry i*nb + j is IoU(a_i, b_j)). Degenerate boxes (zero or negative width/height) have IoU 0
 * with everything, including themselves, so they can never match.
 */
export function iouMatrix(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const na = checkBoxArray(a, 'iouMatrix a');
  const nb = checkBoxArray(b, 'iouMatrix b');
  const out = new Float32Array(na * nb);
  if (na === 0 || nb === 0) return out;
  // Hoisting b into a Float64Array plus its areas keeps the inner loop free of recomputation.
  const bb = Float64Array.from(b);
  const areaB = new Float64Array(nb);
  for (let j = 0; j < nb; j++) areaB[j] = area(bb[j * 4], bb[j * 4 + 1], bb[j * 4 + 2], bb[j * 4 + 3]);
  for (let i = 0; i < na; i++) {
    const ax1 = a[i * 4];
    const ay1 = a[i * 4 + 1];
    const ax2 = a[i * 4 + 2];
    const ay2 = a[i * 4 + 3];
    const areaA = area(ax1, ay1, ax2, ay2);
    if (areaA === 0) continue;
    const row = i * nb;
    for (let j = 0; j < nb; j++) {
      if (areaB[j] === 0) continue;
      const iw = Math.min(ax2, bb[j * 4 + 2]) - Math.max(ax1, bb[j * 4]);
      if (iw <= 0) continue;
      const ih = Math.min(ay2, bb[j * 4 + 3]) - Math.max(ay1, bb[j * 4 + 1]);
      if (ih <= 0) continue;
      const inter = iw * ih;
      out[row + j] = inter / (areaA + areaB[j] - inter);
    }
  }
  return out;
}

/** IoU of two single boxes (same rules as `iouMatrix`). */
export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return iouMatrix(a, b)[0] ?? 0;
}

/** Area of a box; 0 for degenerate boxes (also NaN coordinates). */
export function boxArea(x1: number, y1: number, x2: number, y2: number): number {
  return area(x1, y1, x2, y2);
}

function area(x1: number, y1: number, x2: number, y2: number): number {
  const w = x2 - x1;
  const h = y2 - y1;
  return w > 0 && h > 0 ? w * h : 0;
}

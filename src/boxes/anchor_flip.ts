// The anchor permutation of a left–right mirror: where each anchor of an image lands in the flipped image.
//
// Why it is exact. Anchor (level, y, x, k) has centre ((x + ½)·s, (y + ½)·s) and a width and height that depend
// only on (level, k) (anchors.ts). Mirroring the image maps a horizontal position u to W − u, so that centre goes
// to (W − (x + ½)·s, (y + ½)·s) = ((G − 1 − x + ½)·s, (y + ½)·s) when W = G·s, G the level's grid width — the
// centre of anchor (level, y, G − 1 − x, k), whose shape is the same. So when every level's stride divides the input
// width, mirroring permutes the anchors: the teacher's q for anchor i of an image is, for a flip-equivariant teacher,
// its q for anchor flip[i] of the mirrored image, and a flipped soft-label map is that permutation, nothing
// interpolated. When a stride does not divide the width, the grid's last column hangs over the right edge and there
// is no such permutation (`anchorFlipOrder` returns undefined).
import type { AnchorSet } from './anchors.ts';

/**
 * order[i] = index of the mirror image of anchor i (an involution: order[order[i]] = i). Undefined when the layout is
 * not mirror-symmetric at this width.
 */
export function anchorFlipOrder(anchors: AnchorSet): Int32Array | undefined {
  const order = new Int32Array(anchors.numAnchors);
  const perLocation = anchors.anchorsPerLocation;
  for (const lv of anchors.levels) {
    if (lv.gridWidth * lv.stride !== anchors.inputWidth) return undefined;
    for (let y = 0; y < lv.gridHeight; y++) {
      for (let x = 0; x < lv.gridWidth; x++) {
        const from = lv.offset + (y * lv.gridWidth + x) * perLocation;
        const to = lv.offset + (y * lv.gridWidth + (lv.gridWidth - 1 - x)) * perLocation;
        for (let k = 0; k < perLocation; k++) order[from + k] = to + k;
      }
    }
  }
  return order;
}

/** Permutes a per-anchor map ([anchors, width] row-major) into `out`: out[order[i]] = map[i]. */
export function permuteAnchorRows(map: ArrayLike<number>, width: number, order: Int32Array, out: Float32Array, outOffset = 0): void {
  if (map.length !== order.length * width) throw new RangeError(`map has ${map.length} values, expected ${order.length} anchors × ${width}`);
  for (let i = 0; i < order.length; i++) {
    const src = i * width;
    const dst = outOffset + order[i] * width;
    for (let c = 0; c < width; c++) out[dst + c] = map[src + c];
  }
}

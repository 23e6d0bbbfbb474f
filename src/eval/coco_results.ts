// Converts a detector's in-memory detections (per image: box, score, class index) into COCO result entries.
import type { CocoDetection } from './coco_types.ts';

export interface InMemoryDetection {
  /** `[x1, y1, x2, y2]` (default) or `[x, y, w, h]`, in the pixels of the image the gt refers to. */
  box: ArrayLike<number>;
  score: number;
  /** Class index of the detector head. */
  classId: number;
}

export interface ToCocoResultsOptions {
  /** Layout of `box`. Default 'xyxy' (what NMS and the box utilities produce). */
  boxFormat?: 'xyxy' | 'xywh';
  /**
   * category_id for each class index. Default: the class index itself. COCO category ids usually
   * start at 1 while head classes start at 0, so pass the mapping unless the ids really coincide.
   */
  categoryIds?: readonly number[];
}

/**
 * Flattens per-image detections into a COCO results array. Accepts a `Map<imageId, detections>` or
 * any iterable of `[imageId, detections]` pairs.
 */
export function toCocoResults(
  perImage: Iterable<readonly [number, readonly InMemoryDetection[]]>,
  options: ToCocoResultsOptions = {},
): CocoDetection[] {
  const { boxFormat = 'xyxy', categoryIds } = options;
  const out: CocoDetection[] = [];
  for (const [imageId, detections] of perImage) {
    detections.forEach((det, j) => {
      const where = `image ${imageId}, detection ${j}`;
      if (det.box.length !== 4) throw new RangeError(`${where}: box has ${det.box.length} coordinates, expected 4`);
      let categoryId = det.classId;
      if (categoryIds) {
        categoryId = categoryIds[det.classId];
        if (categoryId === undefined) {
          throw new RangeError(`${where}: classId ${det.classId} has no entry in categoryIds (length ${categoryIds.length})`);
        }
      }
      const [a, b, c, d] = [det.box[0], det.box[1], det.box[2], det.box[3]];
      // Clamp at 0: a float32 round-trip can make x2 a hair smaller than x1 for degenerate boxes.
      const bbox: [number, number, number, number] =
        boxFormat === 'xyxy' ? [a, b, Math.max(0, c - a), Math.max(0, d - b)] : [a, b, c, d];
      out.push({ image_id: imageId, category_id: categoryId, bbox, score: det.score });
    });
  }
  return out;
}

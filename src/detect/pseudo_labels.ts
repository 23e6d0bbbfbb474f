// Pseudo-labels: a detector's detections on unlabeled images written as a COCO annotation file a training split can take.
import path from 'node:path';
import type { CocoAnnotation, CocoCategory, CocoImage } from '../eval/coco_types.ts';
import type { Detection } from '../postprocess/detections.ts';

export interface PseudoLabelOptions {
  /** Detections scoring at least this become objects. */
  threshold: number;
  /**
   * Detections scoring in [ignoreFrom, threshold) become crowd regions (`iscrowd: 1`): training ignores the
   * background anchors under them instead of teaching that an object the detector half-saw is background.
   * Absent (or ≥ threshold): no regions.
   */
  ignoreFrom?: number;
  /** COCO category id of each class index. */
  categoryIds: readonly number[];
}

/** One image's detections, in original-image pixels, with the image's name relative to the annotation file. */
export interface PseudoLabelInput {
  fileName: string;
  width: number;
  height: number;
  detections: readonly Detection[];
}

export interface PseudoLabelCounts {
  images: number;
  /** Images with at least one object. */
  withObjects: number;
  objects: number;
  ignoreRegions: number;
}

/** Accumulates images into a COCO ground-truth file; `annotationFile` gives its images' ids, objects and regions. */
export class PseudoLabelWriter {
  private readonly images: CocoImage[] = [];
  private readonly annotations: (CocoAnnotation & { score: number })[] = [];
  readonly counts: PseudoLabelCounts = { images: 0, withObjects: 0, objects: 0, ignoreRegions: 0 };

  constructor(private readonly options: PseudoLabelOptions) {
    const { threshold, ignoreFrom } = options;
    if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`pseudo-label threshold must be in (0, 1], got ${threshold}`);
    if (ignoreFrom !== undefined && !(ignoreFrom > 0 && ignoreFrom <= 1)) throw new RangeError(`pseudo-label ignoreFrom must be in (0, 1], got ${ignoreFrom}`);
  }

  /** The score below which detections are dropped (the lower of the two thresholds). */
  get minScore(): number {
    return Math.min(this.options.threshold, this.options.ignoreFrom ?? this.options.threshold);
  }

  add(input: PseudoLabelInput): void {
    const imageId = this.images.length + 1;
    this.images.push({ id: imageId, file_name: input.fileName, width: input.width, height: input.height });
    this.counts.images++;
    let objects = 0;
    // Class-wise NMS leaves the same box once per class; a region ignores anchors whatever the class, so once is enough.
    const regions = new Set<string>();
    for (const d of input.detections) {
      const object = d.score >= this.options.threshold;
      if (!object && !(this.options.ignoreFrom !== undefined && d.score >= this.options.ignoreFrom)) continue;
      const categoryId = this.options.categoryIds[d.classId];
      if (categoryId === undefined) throw new RangeError(`class ${d.classId} has no category id (${this.options.categoryIds.length} categories)`);
      const [x1, y1, x2, y2] = d.box;
      const w = x2 - x1;
      const h = y2 - y1;
      if (!(w > 0 && h > 0)) continue;
      const bbox: [number, number, number, number] = [round2(x1), round2(y1), round2(w), round2(h)];
      if (!object) {
        const key = bbox.join(',');
        if (regions.has(key)) continue;
        regions.add(key);
      }
      this.annotations.push({ id: this.annotations.length + 1, image_id: imageId, category_id: categoryId, bbox, area: round2(w * h), iscrowd: object ? 0 : 1, score: d.score });
      if (object) objects++;
      else this.counts.ignoreRegions++;
    }
    this.counts.objects += objects;
    if (objects > 0) this.counts.withObjects++;
  }

  annotationFile(categories: readonly CocoCategory[], info: Record<string, unknown>): { info: Record<string, unknown>; images: CocoImage[]; annotations: CocoAnnotation[]; categories: CocoCategory[] } {
    return { info, images: this.images, annotations: this.annotations, categories: [...categories] };
  }
}

/**
 * The `file_name` of an image stored under `imageKey`, relative to the folder of the annotation file `annotationsKey`
 * (how the training split looks images up). Undefined when the image is not inside that folder.
 */
export function relativeFileName(annotationsKey: string, imageKey: string): string | undefined {
  const folder = path.posix.dirname(annotationsKey);
  const base = folder === '.' ? '' : `${folder}/`;
  if (!imageKey.startsWith(base) || imageKey.length === base.length) return undefined;
  return imageKey.slice(base.length);
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

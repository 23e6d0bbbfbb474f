// COCO annotation file → per-object-key ground truth (corner boxes, 0-based class ids) for labeled and test ImageRefs.
import { parseCocoGroundTruth, type CocoBbox, type CocoGroundTruth } from '../../eval/coco_types.ts';
import { joinKey, type ObjectStore } from '../../io/object_store.ts';
import type { Box, GroundTruth } from '../../messages/image_ref.ts';
import { categoryMap, type CategoryMap } from '../../eval/coco_categories.ts';

/** What the annotation file says about one image. */
export interface AnnotatedImage {
  /** COCO image id as a string (the ImageRef's imageId). */
  imageId: string;
  width?: number;
  height?: number;
  /** Boxes in original-image pixels, classes mapped through `categoryMap`. */
  gt: GroundTruth[];
}

export interface AnnotationIndex {
  /** Store key of the annotation file (for messages). */
  source: string;
  /** Object key → image. */
  byKey: ReadonlyMap<string, AnnotatedImage>;
  categories: CategoryMap;
}

/** COCO `[x, y, width, height]` → `[x1, y1, x2, y2]`. */
export function cocoBboxToBox(bbox: CocoBbox): Box {
  const [x, y, w, h] = bbox;
  return [x, y, x + w, y + h];
}

/**
 * The object key of a COCO image. COCO `file_name`s are relative to the folder holding the annotation file
 * (the corpus generator's convention, and how COCO's own `train2017/` layout reads), so
 * `annotations` = `corpus/labeled/annotations.json` with `images/000001.jpg` → `corpus/labeled/images/000001.jpg`.
 */
export function imageKeyFor(annotationsKey: string, fileName: string): string {
  const slash = annotationsKey.lastIndexOf('/');
  return slash < 0 ? fileName : joinKey(annotationsKey.slice(0, slash), fileName);
}

/** Indexes a parsed COCO file by object key. Images without `file_name` cannot be matched to objects and are left out. */
export function buildAnnotationIndex(coco: CocoGroundTruth, annotationsKey: string): AnnotationIndex {
  const categories = categoryMap(coco.categories);
  const byId = new Map<number, AnnotatedImage>();
  const byKey = new Map<string, AnnotatedImage>();
  for (const image of coco.images) {
    const entry: AnnotatedImage = { imageId: String(image.id), gt: [] };
    if (isPositiveInt(image.width) && isPositiveInt(image.height)) {
      entry.width = image.width;
      entry.height = image.height;
    }
    byId.set(image.id, entry);
    if (image.file_name === undefined || image.file_name.length === 0) continue;
    const key = imageKeyFor(annotationsKey, image.file_name);
    if (byKey.has(key)) throw new Error(`${annotationsKey}: two images map to the object key ${key}`);
    byKey.set(key, entry);
  }
  for (const ann of coco.annotations) {
    // parseCocoGroundTruth guarantees both ids resolve; the lookups cannot miss on validated input.
    const image = byId.get(ann.image_id) as AnnotatedImage;
    const label: GroundTruth = { box: cocoBboxToBox(ann.bbox), classId: categories.classOf(ann.category_id) };
    if (ann.iscrowd === 1 || ann.iscrowd === true) label.iscrowd = true;
    image.gt.push(label);
  }
  return { source: annotationsKey, byKey, categories };
}

/** Reads, validates (CocoValidationError names bad fields) and indexes a COCO annotation file from the store. */
export async function loadAnnotationIndex(store: ObjectStore, key: string): Promise<AnnotationIndex> {
  const text = new TextDecoder().decode(await store.get(key));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${key}: annotation file is not JSON (${(err as Error).message})`, { cause: err });
  }
  return buildAnnotationIndex(parseCocoGroundTruth(raw), key);
}

function isPositiveInt(v: number | undefined): v is number {
  return v !== undefined && Number.isInteger(v) && v > 0;
}

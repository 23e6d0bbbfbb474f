// COCO annotation files of the shapes corpus: building them from scenes, and reading any COCO file from a store.
import { z } from 'zod';
import { parseCocoGroundTruth, type CocoAnnotation, type CocoCategory, type CocoGroundTruth, type CocoImage } from '../eval/coco_types.ts';
import { joinKey, type ObjectStore } from '../io/object_store.ts';
import type { DomainName } from './domains.ts';
import type { SplitName } from './options.ts';
import type { Scene } from './scene.ts';
import { CATEGORY_NAMES } from './shapes.ts';

/** Per-annotation extras for analysis (COCO readers ignore unknown fields). */
export interface ShapeAttributes {
  /** Share of the shape's in-image pixels not hidden by other objects or clutter. */
  visible: number;
  truncated: boolean;
  low_contrast: boolean;
}

export interface ShapesCocoInfo {
  description: string;
  version: string;
  contributor: string;
  split: SplitName;
  domain: DomainName;
  seed: number;
}

/** A COCO ground-truth file as this corpus writes it; `readCocoAnnotations` returns this shape for any COCO file. */
export interface ShapesCoco extends CocoGroundTruth {
  info?: ShapesCocoInfo;
  annotations: (CocoAnnotation & { attributes?: ShapeAttributes })[];
}

/** COCO categories of the corpus: ids 1…4 in `CATEGORY_NAMES` order (model class index = id − 1). */
export const SHAPE_CATEGORIES: readonly CocoCategory[] = CATEGORY_NAMES.map((name, i) => ({ id: i + 1, name, supercategory: 'shape' }));

export interface CocoImageEntry {
  id: number;
  /** Relative to the directory of annotations.json, e.g. `images/000001.jpg`. */
  fileName: string;
  scene: Scene;
}

/**
 * Builds one split's COCO file. `file_name` is the image's key relative to the directory that holds
 * annotations.json (the split folder), so `joinKey(dirname(annotationsKey), file_name)` is its key.
 */
export function buildCoco(entries: readonly CocoImageEntry[], info: ShapesCocoInfo): ShapesCoco {
  const images: Required<Pick<CocoImage, 'id' | 'width' | 'height' | 'file_name'>>[] = [];
  const annotations: ShapesCoco['annotations'] = [];
  for (const { id, fileName, scene } of entries) {
    images.push({ id, file_name: fileName, width: scene.width, height: scene.height });
    for (const o of scene.objects) {
      annotations.push({
        id: annotations.length + 1,
        image_id: id,
        category_id: CATEGORY_NAMES.indexOf(o.category) + 1,
        bbox: o.bbox,
        area: o.area,
        iscrowd: 0,
        attributes: { visible: o.visible, truncated: o.truncated, low_contrast: o.lowContrast },
      });
    }
  }
  return { info, images, annotations, categories: SHAPE_CATEGORIES.map((c) => ({ ...c })) };
}

const attributesSchema = z.object({ visible: z.number().min(0).max(1), truncated: z.boolean(), low_contrast: z.boolean() });
const infoSchema = z.object({
  description: z.string(),
  version: z.string(),
  contributor: z.string(),
  split: z.enum(['labeled', 'test', 'unlabeled']),
  domain: z.enum(['target', 'shifted']),
  seed: z.number(),
});

/**
 * Reads and validates a COCO ground-truth file (this corpus's or any other); throws
 * CocoValidationError naming bad fields, ObjectNotFoundError when the key is missing. This corpus's
 * `info` and per-annotation `attributes` are kept when present and well-formed.
 */
export async function readCocoAnnotations(store: ObjectStore, key: string): Promise<ShapesCoco> {
  const text = new TextDecoder().decode(await store.get(key));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${key}: not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const gt: ShapesCoco = parseCocoGroundTruth(raw);
  const rawObject = raw as { info?: unknown; annotations: { attributes?: unknown }[] };
  const info = infoSchema.safeParse(rawObject.info);
  if (info.success) gt.info = info.data;
  gt.annotations.forEach((a, i) => {
    const attributes = attributesSchema.safeParse(rawObject.annotations[i]?.attributes);
    if (attributes.success) a.attributes = attributes.data;
  });
  return gt;
}

/** Key of an image listed in a COCO file read from `annotationsKey` (file names are relative to its folder). */
export function imageKeyOf(annotationsKey: string, fileName: string): string {
  const slash = annotationsKey.lastIndexOf('/');
  return slash < 0 ? fileName : joinKey(annotationsKey.slice(0, slash), fileName);
}

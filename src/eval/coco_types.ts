// COCO ground-truth and detection-result types, their zod schemas, and validation with field-naming error messages.
import { z } from 'zod';

/** A COCO box `[x, y, width, height]` in image pixels, (x, y) the top-left corner. */
export type CocoBbox = [number, number, number, number];

export interface CocoImage {
  id: number;
  width?: number;
  height?: number;
  file_name?: string;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  bbox: CocoBbox;
  /**
   * Area used for the small/medium/large split. COCO files carry the segmentation area here, which
   * is not `w*h`; when absent the box area `w*h` is used (pycocotools would fail instead).
   */
  area?: number;
  /** Crowd regions are never counted as misses and may absorb any number of detections. Default 0. */
  iscrowd?: 0 | 1 | boolean;
}

export interface CocoCategory {
  id: number;
  name?: string;
  supercategory?: string;
}

export interface CocoGroundTruth {
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

/** One entry of a COCO results file (what `COCO.loadRes` takes for iouType 'bbox'). */
export interface CocoDetection {
  image_id: number;
  category_id: number;
  bbox: CocoBbox;
  score: number;
}

/** Thrown for input that is not valid COCO; `issues` name the offending fields (`annotations[3].bbox`). */
export class CocoValidationError extends Error {
  readonly issues: readonly string[];

  constructor(issues: readonly string[], what: string) {
    const shown = issues.slice(0, 3).join('; ');
    const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
    super(`invalid ${what}: ${shown}${more}`);
    this.name = 'CocoValidationError';
    this.issues = issues;
  }
}

const finite = z.number();
const id = z.number().int();

const bboxSchema = z
  .tuple([finite, finite, finite, finite], { error: 'expected [x, y, width, height] (4 finite numbers)' })
  .refine((b) => b[2] >= 0 && b[3] >= 0, { error: 'bbox width and height must be >= 0' });

const imageSchema = z.object({
  id,
  width: z.number().optional(),
  height: z.number().optional(),
  file_name: z.string().optional(),
});

const annotationSchema = z.object({
  id,
  image_id: id,
  category_id: id,
  bbox: bboxSchema,
  area: z.number().nonnegative().optional(),
  iscrowd: z.union([z.literal(0), z.literal(1), z.boolean()], { error: 'expected 0, 1, true or false' }).optional(),
});

const categorySchema = z.object({
  id,
  name: z.string().optional(),
  supercategory: z.string().optional(),
});

export const cocoGroundTruthSchema = z.object({
  images: z.array(imageSchema),
  annotations: z.array(annotationSchema),
  categories: z.array(categorySchema),
});

export const cocoDetectionSchema = z.object({
  image_id: id,
  category_id: id,
  bbox: bboxSchema,
  score: finite,
});

export const cocoDetectionsSchema = z.array(cocoDetectionSchema, {
  error: 'expected an array of {image_id, category_id, bbox, score}',
});

// Keeps the hand-written interfaces (documented, readable) and the schemas from drifting apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _gtTypesAgree: Same<z.infer<typeof cocoGroundTruthSchema>, CocoGroundTruth> = true;
const _dtTypesAgree: Same<z.infer<typeof cocoDetectionSchema>, CocoDetection> = true;

/** `['annotations', 3, 'bbox']` → `annotations[3].bbox`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

function zodIssues(error: z.ZodError, root = ''): string[] {
  return error.issues.map((issue) => `${formatPath(root ? [root, ...issue.path] : issue.path)}: ${issue.message}`);
}

/**
 * Checks what a schema cannot: unique ids and annotations that point at known images and categories.
 * pycocotools silently drops annotations with unknown ids; here they are reported because they are
 * almost always a conversion bug (e.g. 0-based class ids against 1-based category ids).
 */
export function groundTruthReferenceIssues(gt: CocoGroundTruth): string[] {
  const issues: string[] = [];
  const imageIds = new Set<number>();
  gt.images.forEach((img, i) => {
    if (imageIds.has(img.id)) issues.push(`images[${i}].id: duplicate image id ${img.id}`);
    imageIds.add(img.id);
  });
  const categoryIds = new Set<number>();
  gt.categories.forEach((cat, i) => {
    if (categoryIds.has(cat.id)) issues.push(`categories[${i}].id: duplicate category id ${cat.id}`);
    categoryIds.add(cat.id);
  });
  const annotationIds = new Set<number>();
  gt.annotations.forEach((ann, i) => {
    if (annotationIds.has(ann.id)) issues.push(`annotations[${i}].id: duplicate annotation id ${ann.id}`);
    annotationIds.add(ann.id);
    if (!imageIds.has(ann.image_id)) {
      issues.push(`annotations[${i}].image_id: ${ann.image_id} is not the id of any image`);
    }
    if (!categoryIds.has(ann.category_id)) {
      issues.push(`annotations[${i}].category_id: ${ann.category_id} is not the id of any category`);
    }
  });
  return issues;
}

/** Validates parsed JSON as a COCO ground-truth file; throws CocoValidationError naming the bad fields. */
export function parseCocoGroundTruth(data: unknown): CocoGroundTruth {
  const result = cocoGroundTruthSchema.safeParse(data);
  if (!result.success) throw new CocoValidationError(zodIssues(result.error), 'COCO ground truth');
  const issues = groundTruthReferenceIssues(result.data);
  if (issues.length > 0) throw new CocoValidationError(issues, 'COCO ground truth');
  return result.data;
}

/** Validates parsed JSON as a COCO results file (an array of bbox detections). */
export function parseCocoDetections(data: unknown): CocoDetection[] {
  const result = cocoDetectionsSchema.safeParse(data);
  if (!result.success) throw new CocoValidationError(zodIssues(result.error, 'detections'), 'COCO detections');
  return result.data;
}

// One listed object → the ImageRef ingest publishes (or why it cannot be published).
import type { ObjectInfo } from '../../io/object_store.ts';
import { IMAGE_REF_VERSION, type ImageRef, type Split } from '../../messages/image_ref.ts';
import type { AnnotationIndex } from './annotations.ts';

export interface ImageRefContext {
  bucket: string;
  split: Split;
  /** Required for labeled and test splits; optional for unlabeled (then it only supplies sizes). */
  annotations?: AnnotationIndex;
}

export type ImageRefOutcome = { ok: true; ref: ImageRef } | { ok: false; key: string; reason: 'unannotated'; message: string };

/**
 * Labeled and test objects take their image id, size and ground truth from the annotation file; one that is not in
 * it cannot be used (its boxes are unknown) and is reported instead. Unlabeled objects are published whether or not
 * an annotation file lists them: their id is the object key (unique within the bucket), and ground truth is never
 * attached, so nothing downstream can learn from it by accident.
 */
export function buildImageRef(object: ObjectInfo, context: ImageRefContext): ImageRefOutcome {
  const annotated = context.annotations?.byKey.get(object.key);
  const base = { v: IMAGE_REF_VERSION, bucket: context.bucket, key: object.key, etag: object.etag, size: object.size, split: context.split } as const;
  const size = annotated?.width !== undefined && annotated.height !== undefined ? { width: annotated.width, height: annotated.height } : {};
  if (context.split === 'unlabeled') return { ok: true, ref: { ...base, imageId: object.key, ...size } };
  if (context.annotations === undefined) throw new Error(`a ${context.split} split needs an annotation file`);
  if (annotated === undefined) {
    return { ok: false, key: object.key, reason: 'unannotated', message: `${object.key} is not in ${context.annotations.source}` };
  }
  return { ok: true, ref: { ...base, imageId: annotated.imageId, ...size, gt: annotated.gt.map((g) => ({ ...g, box: [...g.box] })) } };
}

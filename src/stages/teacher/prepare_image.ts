// ImageRef → model-input pixels: fetch with retries, decode and letterbox; bad inputs become a reason, not a crash.
import { decodeLetterboxed, ImageDecodeError, type DecodeStepTimer, type ImageErrorReason, type LetterboxTransform } from '../../image/letterbox.ts';
import { ObjectNotFoundError, type ObjectStore } from '../../io/object_store.ts';
import type { ImageRef } from '../../messages/image_ref.ts';
import { REJECTION_REASONS } from '../../messages/rejection.ts';
import { RetriesExhaustedError, withRetry, type RetryOptions } from './retry.ts';

/** Every reason the teacher stage rejects an image for. */
export const TEACHER_REJECTION_REASONS = {
  /** The filter: no teacher detection at or above the hard-label threshold (unlabeled images only). */
  noDetections: REJECTION_REASONS.noDetections,
  missingObject: 'missing-object',
  /** The store refused the object for good (e.g. access denied, invalid key). */
  fetchFailed: 'fetch-failed',
  /** A labeled image whose decoded size differs from the annotation's: its boxes cannot be trusted. */
  sizeMismatch: 'size-mismatch',
  emptyObject: 'empty-object',
  notAnImage: 'not-an-image',
  corruptImage: 'corrupt-image',
  tooLarge: 'too-large',
  /** The object's size in bytes (from the listing, or as fetched) is over maxObjectBytes. */
  objectTooLarge: 'object-too-large',
  metadataTooLarge: 'metadata-too-large',
} as const;

export type TeacherRejectionReason = (typeof TEACHER_REJECTION_REASONS)[keyof typeof TEACHER_REJECTION_REASONS];

// Fails to compile when letterbox.ts gains a decode-error reason this list does not have.
const _decodeReasonsCovered: ImageErrorReason extends TeacherRejectionReason ? true : never = true;

export interface PreparedImage {
  kind: 'image';
  ref: ImageRef;
  /** RGB, [size, size, 3] row-major. */
  pixels: Uint8Array;
  transform: LetterboxTransform;
}

export interface UnusableImage {
  kind: 'unusable';
  ref: ImageRef;
  reason: TeacherRejectionReason;
  /** Human-readable cause (the decode or store error's message). */
  detail: string;
}

export type Prepared = PreparedImage | UnusableImage;

export interface PrepareOptions {
  inputSize: number;
  maxImagePixels: number;
  /** Objects larger than this are refused: by their listed size before fetching, and again as fetched. */
  maxObjectBytes: number;
  retry?: RetryOptions;
  /** Step timings for metrics: `fetch` (retries included) here, `decode` and `letterbox` in decodeLetterboxed. */
  onStep?: (step: 'fetch' | Parameters<DecodeStepTimer>[0], seconds: number) => void;
}

/**
 * Fetches and letterboxes one image. Missing objects, permanent store errors and undecodable or oversized images
 * come back as `unusable` with a reason. Transient store errors are retried; when retries run out this throws
 * RetriesExhaustedError — the store is likely down, and failing the batch (nothing committed, redelivered later)
 * loses nothing, whereas rejecting every image of an outage would.
 */
export async function prepareImage(store: ObjectStore, ref: ImageRef, options: PrepareOptions): Promise<Prepared> {
  const unusable = (reason: TeacherRejectionReason, detail: string): UnusableImage => ({ kind: 'unusable', ref, reason, detail });
  // Sizes known from the annotation file let a decompression bomb be refused before it is even downloaded.
  if (ref.width !== undefined && ref.height !== undefined && ref.width * ref.height > options.maxImagePixels) {
    return unusable('too-large', `image is ${ref.width}×${ref.height} = ${ref.width * ref.height} pixels (from its ImageRef), over the limit of ${options.maxImagePixels}`);
  }
  if (ref.size > options.maxObjectBytes) {
    return unusable('object-too-large', `object is ${ref.size} bytes (as listed), over the limit of ${options.maxObjectBytes}`);
  }
  let bytes: Uint8Array;
  const fetchStarted = performance.now();
  try {
    bytes = await withRetry(() => store.get(ref.key), options.retry);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return unusable('missing-object', error.message);
    if (error instanceof RetriesExhaustedError) throw error;
    return unusable('fetch-failed', error instanceof Error ? error.message : String(error));
  } finally {
    options.onStep?.('fetch', (performance.now() - fetchStarted) / 1000);
  }
  // The object may have been replaced by a larger one since it was listed.
  if (bytes.length > options.maxObjectBytes) {
    return unusable('object-too-large', `object is ${bytes.length} bytes (as fetched; listed as ${ref.size}), over the limit of ${options.maxObjectBytes}`);
  }
  try {
    const { pixels, transform } = await decodeLetterboxed(bytes, options.inputSize, { maxPixels: options.maxImagePixels }, options.onStep);
    if (ref.split !== 'unlabeled' && ref.width !== undefined && ref.height !== undefined && (ref.width !== transform.width || ref.height !== transform.height)) {
      return unusable(
        'size-mismatch',
        `decoded ${transform.width}×${transform.height} but the annotations say ${ref.width}×${ref.height}; its boxes would land in the wrong place`,
      );
    }
    return { kind: 'image', ref, pixels, transform };
  } catch (error) {
    if (error instanceof ImageDecodeError) return unusable(error.reason, error.message);
    throw error;
  }
}

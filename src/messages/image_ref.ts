// ImageRef (topic `distillery.images`, key = object key): one object in the store, plus ground truth when labeled.
import { z } from 'zod';
import { MessageDecodeError } from './errors.ts';
import { MESSAGE_KINDS, checkSchemaVersion, decodeEnvelope, encodeEnvelope, validateDecoded, validateForEncode, type Codec } from './envelope.ts';

export const IMAGE_REF_VERSION = 1;

const finite = z.number().finite();

/** [x1, y1, x2, y2] in pixels, x2 ≥ x1 and y2 ≥ y1. */
export const boxSchema = z
  .tuple([finite, finite, finite, finite])
  .refine((b) => b[2] >= b[0] && b[3] >= b[1], { message: 'box must be [x1, y1, x2, y2] with x2 ≥ x1 and y2 ≥ y1' });

export const classIdSchema = z.number().int().min(0);

export const groundTruthSchema = z.object({
  box: boxSchema,
  classId: classIdSchema,
  iscrowd: z.boolean().optional(),
});

export const splitSchema = z.enum(['labeled', 'unlabeled', 'test']);

// Unknown fields are dropped rather than refused (tolerant reader): adding an optional field keeps v1; anything
// a v1 reader would misread bumps `v`.
export const imageRefSchema = z.object({
  v: z.literal(IMAGE_REF_VERSION),
  /** Stable id of the image (COCO image id for labeled sets, else derived from the key); the samples topic's key. */
  imageId: z.string().min(1),
  bucket: z.string(),
  key: z.string().min(1),
  /** Object version: a re-uploaded image is a different input. */
  etag: z.string(),
  size: z.number().int().min(0),
  split: splitSchema,
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
  /** Ground truth in original-image pixels (COCO bbox [x, y, w, h] converted to corners). */
  gt: z.array(groundTruthSchema).optional(),
});

export type Box = [number, number, number, number];
export type Split = z.infer<typeof splitSchema>;
export type GroundTruth = z.infer<typeof groundTruthSchema>;
export type ImageRef = z.infer<typeof imageRefSchema>;

const NAME = 'ImageRef';

/** Validates (throws MessageValidationError) and encodes. */
export function encodeImageRef(ref: ImageRef): Uint8Array {
  return encodeEnvelope(MESSAGE_KINDS.imageRef, validateForEncode(NAME, imageRefSchema, ref));
}

/** Decodes and validates; throws MessageDecodeError for bad bytes. */
export function decodeImageRef(bytes: Uint8Array): ImageRef {
  const { header, sections } = decodeEnvelope(bytes, MESSAGE_KINDS.imageRef);
  checkSchemaVersion(NAME, header, IMAGE_REF_VERSION);
  if (sections.length !== 0) throw new MessageDecodeError(NAME, 'bad-section', `expected no sections, got ${sections.length}`);
  return validateDecoded(NAME, imageRefSchema, header);
}

export const imageRefCodec: Codec<ImageRef> = {
  kind: MESSAGE_KINDS.imageRef,
  name: NAME,
  encode: encodeImageRef,
  decode: decodeImageRef,
};

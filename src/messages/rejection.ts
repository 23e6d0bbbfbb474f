// Rejection (topic `distillery.rejected`, key = image id): an image the teacher filtered out, and why.
import { z } from 'zod';
import { MessageDecodeError } from './errors.ts';
import { MESSAGE_KINDS, checkSchemaVersion, decodeEnvelope, encodeEnvelope, validateDecoded, validateForEncode, type Codec } from './envelope.ts';
import { imageRefSchema } from './image_ref.ts';

export const REJECTION_VERSION = 1;

/** Reasons stages use today; the schema accepts any non-empty string so new ones need no version bump. */
export const REJECTION_REASONS = {
  /** SAD's filter: no detection at or above the score threshold after NMS. */
  noDetections: 'no-detections',
} as const;

export const rejectionSchema = z.object({
  v: z.literal(REJECTION_VERSION),
  ref: imageRefSchema,
  reason: z.string().min(1),
  /** Highest class score the teacher gave any anchor (after NMS), to tune the threshold from the rejected set. */
  maxScore: z.number().finite().min(0).max(1),
  /** Stage that rejected it, e.g. 'teacher'. */
  stage: z.string().min(1),
});

export type Rejection = z.infer<typeof rejectionSchema>;

const NAME = 'Rejection';

export function encodeRejection(rejection: Rejection): Uint8Array {
  return encodeEnvelope(MESSAGE_KINDS.rejection, validateForEncode(NAME, rejectionSchema, rejection));
}

export function decodeRejection(bytes: Uint8Array): Rejection {
  const { header, sections } = decodeEnvelope(bytes, MESSAGE_KINDS.rejection);
  checkSchemaVersion(NAME, header, REJECTION_VERSION);
  if (sections.length !== 0) throw new MessageDecodeError(NAME, 'bad-section', `expected no sections, got ${sections.length}`);
  return validateDecoded(NAME, rejectionSchema, header);
}

export const rejectionCodec: Codec<Rejection> = {
  kind: MESSAGE_KINDS.rejection,
  name: NAME,
  encode: encodeRejection,
  decode: decodeRejection,
};

// Sample (topic `distillery.samples`, key = image id): the letterboxed image, hard and soft labels, teacher lineage.
//
// On the wire (see envelope.ts) the header is the Sample without its byte fields, followed by the sections
// [image.bytes, soft.values] and, for sparse soft labels, soft.mask.
import { z } from 'zod';
import { MessageDecodeError } from './errors.ts';
import { MESSAGE_KINDS, checkSchemaVersion, decodeEnvelope, encodeEnvelope, validateDecoded, validateForEncode, type Codec } from './envelope.ts';
import { boxSchema, classIdSchema, imageRefSchema } from './image_ref.ts';
import { softLabelsSchema, type SoftLabels } from './soft_labels.ts';

export const SAMPLE_VERSION = 1;

const finite = z.number().finite();

/**
 * The model-input image: the original scaled by `scale` and padded by (padX, padY) to width × height.
 * A model-input point (x, y) is the original point ((x − padX) / scale, (y − padY) / scale).
 */
export const letterboxedImageSchema = z.object({
  format: z.literal('jpeg'),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  bytes: z.instanceof(Uint8Array, { message: 'expected a Uint8Array' }).refine((b) => b.length > 0, { message: 'image bytes are empty' }),
  scale: finite.positive(),
  padX: finite.min(0),
  padY: finite.min(0),
});

/** A hard label in model-input pixels (after NMS and the score threshold; ground truth for labeled images). */
export const hardLabelSchema = z.object({
  box: boxSchema,
  classId: classIdSchema,
  score: finite.min(0).max(1),
});

export const teacherAnchorConfigSchema = z.object({
  levels: z.array(z.number().int().min(0)).min(1),
  sizeFactor: finite.positive(),
  ratios: z.array(finite.positive()).min(1),
  scalesPerOctave: z.number().int().positive(),
  /** Square model input size in pixels. */
  inputSize: z.number().int().positive(),
});

export const teacherLineageSchema = z.object({
  modelId: z.string().min(1),
  /** Content hash of the teacher weights: soft labels from different weights must not be mixed unknowingly. */
  modelHash: z.string().min(1),
  scoreThreshold: finite.min(0).max(1),
  nmsIou: finite.min(0).max(1),
  anchorConfig: teacherAnchorConfigSchema,
});

export const sampleSchema = z
  .object({
    v: z.literal(SAMPLE_VERSION),
    ref: imageRefSchema,
    image: letterboxedImageSchema,
    hard: z.array(hardLabelSchema),
    soft: softLabelsSchema,
    teacher: teacherLineageSchema,
  })
  .superRefine((sample, ctx) => {
    sample.hard.forEach((h, i) => {
      if (h.classId >= sample.soft.classes) {
        ctx.addIssue({ code: 'custom', path: ['hard', i, 'classId'], message: `class ${h.classId} ≥ soft.classes (${sample.soft.classes})` });
      }
    });
  });

export type LetterboxedImage = z.infer<typeof letterboxedImageSchema>;
export type HardLabel = z.infer<typeof hardLabelSchema>;
export type TeacherAnchorConfig = z.infer<typeof teacherAnchorConfigSchema>;
export type TeacherLineage = z.infer<typeof teacherLineageSchema>;
export type Sample = Omit<z.infer<typeof sampleSchema>, 'soft'> & { soft: SoftLabels };

const NAME = 'Sample';

/** Validates (throws MessageValidationError) and encodes. */
export function encodeSample(sample: Sample): Uint8Array {
  const valid = validateForEncode(NAME, sampleSchema, sample);
  const { bytes, ...image } = valid.image;
  const { values, mask, ...soft } = valid.soft;
  const header = { ...valid, image, soft };
  return encodeEnvelope(MESSAGE_KINDS.sample, header, mask === undefined ? [bytes, values] : [bytes, values, mask]);
}

/** Decodes and validates; throws MessageDecodeError for bad bytes. Byte fields are views into `bytes`. */
export function decodeSample(bytes: Uint8Array): Sample {
  const { header, sections } = decodeEnvelope(bytes, MESSAGE_KINDS.sample);
  checkSchemaVersion(NAME, header, SAMPLE_VERSION);
  const h = header as { image?: unknown; soft?: { layout?: unknown } };
  if (typeof h.image !== 'object' || h.image === null || typeof h.soft !== 'object' || h.soft === null) {
    throw new MessageDecodeError(NAME, 'schema', 'image and soft must be objects');
  }
  const sparse = h.soft.layout === 'sparse';
  const expected = sparse ? 3 : 2;
  if (sections.length !== expected) {
    throw new MessageDecodeError(NAME, 'bad-section', `expected ${expected} sections for ${sparse ? 'sparse' : 'dense'} soft labels, got ${sections.length}`);
  }
  const message = {
    ...h,
    image: { ...h.image, bytes: sections[0] },
    soft: sparse ? { ...h.soft, values: sections[1], mask: sections[2] } : { ...h.soft, values: sections[1] },
  };
  return validateDecoded(NAME, sampleSchema, message) as Sample;
}

export const sampleCodec: Codec<Sample> = {
  kind: MESSAGE_KINDS.sample,
  name: NAME,
  encode: encodeSample,
  decode: decodeSample,
};

// Teacher results → the Sample and Rejection messages it publishes (key = image id).
import { encodeJpeg } from '../../image/letterbox.ts';
import type { ImageRef } from '../../messages/image_ref.ts';
import { encodeRejection, REJECTION_VERSION } from '../../messages/rejection.ts';
import { encodeSample, SAMPLE_VERSION, type HardLabel, type Sample, type TeacherLineage } from '../../messages/sample.ts';
import { quantizeSoftLabels } from '../../messages/soft_labels.ts';
import type { ThresholdConfig } from '../../topology/types.ts';
import type { OutgoingMessage } from '../../transport/transport.ts';
import type { PreparedImage } from './prepare_image.ts';
import type { TeacherIdentity } from './teacher_inference.ts';

/**
 * Header carrying why an image was unusable (the decode or store error). The Rejection schema has no field for it
 * yet; a header keeps the message schema unchanged and is still visible to anyone reading the topic.
 */
export const REJECTION_DETAIL_HEADER = 'distillery.rejection.detail';
const MAX_DETAIL = 1000;

/** JPEG quality of the model-input image a Sample carries (the student decodes it back to pixels). */
export const SAMPLE_JPEG_QUALITY = 90;

export function teacherLineage(teacher: TeacherIdentity, thresholds: ThresholdConfig): TeacherLineage {
  const a = teacher.anchorConfig;
  return {
    modelId: teacher.modelId,
    modelHash: teacher.modelHash,
    scoreThreshold: thresholds.hardLabel,
    nmsIou: thresholds.nmsIou,
    anchorConfig: { levels: [...a.levels], sizeFactor: a.sizeFactor, ratios: [...a.ratios], scalesPerOctave: a.scalesPerOctave, inputSize: teacher.inputSize },
  };
}

export interface SampleInput {
  image: PreparedImage;
  hard: HardLabel[];
  /** This image's q, [anchors, classes]. */
  probs: Float32Array;
  anchors: number;
  classes: number;
  lineage: TeacherLineage;
  softEpsilon: number;
}

/** Builds the Sample: the letterboxed pixels re-encoded as JPEG, hard labels, quantized soft labels, lineage. */
export async function buildSample(input: SampleInput): Promise<Sample> {
  const { image, lineage } = input;
  const t = image.transform;
  const ref: ImageRef = { ...image.ref, width: image.ref.width ?? t.width, height: image.ref.height ?? t.height };
  return {
    v: SAMPLE_VERSION,
    ref,
    image: {
      format: 'jpeg',
      width: t.size,
      height: t.size,
      // sharp's output lives in a plain ArrayBuffer; the schema's type only spells that out.
      bytes: (await encodeJpeg(image.pixels, t.size, SAMPLE_JPEG_QUALITY)) as Uint8Array<ArrayBuffer>,
      scale: t.scale,
      padX: t.padX,
      padY: t.padY,
    },
    hard: input.hard,
    soft: quantizeSoftLabels(input.probs, input.anchors, input.classes, { epsilon: input.softEpsilon }),
    teacher: lineage,
  };
}

export function sampleMessage(sample: Sample): OutgoingMessage {
  return { key: sample.ref.imageId, value: encodeSample(sample) };
}

export function rejectionMessage(ref: ImageRef, reason: string, maxScore: number, stage: string, detail?: string): OutgoingMessage {
  const value = encodeRejection({ v: REJECTION_VERSION, ref, reason, maxScore, stage });
  const headers = detail === undefined ? undefined : { [REJECTION_DETAIL_HEADER]: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail };
  return headers === undefined ? { key: ref.imageId, value } : { key: ref.imageId, value, headers };
}

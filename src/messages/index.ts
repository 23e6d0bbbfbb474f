// The four topics' messages: default topic names, schemas, types and codecs (one import for stages).
export { DEFAULT_TOPICS, type TopicRole } from './topics.ts';
export { MessageDecodeError, MessageTooLargeError, MessageValidationError, formatIssues, type DecodeFailureReason } from './errors.ts';
export { ENVELOPE_VERSION, MAGIC, MAX_MESSAGE_BYTES, MESSAGE_KINDS, decodeEnvelope, encodeEnvelope, kindName, type Codec, type Envelope, type MessageKind } from './envelope.ts';
export {
  IMAGE_REF_VERSION,
  boxSchema,
  decodeImageRef,
  encodeImageRef,
  groundTruthSchema,
  imageRefCodec,
  imageRefSchema,
  splitSchema,
  type Box,
  type GroundTruth,
  type ImageRef,
  type Split,
} from './image_ref.ts';
export {
  QUANTIZATION_ERROR_BOUND,
  SOFT_LABEL_BITS,
  dequantizeSoftLabels,
  keptAnchors,
  quantizeSoftLabels,
  softLabelBytes,
  softLabelsSchema,
  type QuantizeOptions,
  type SoftLabelLayout,
  type SoftLabels,
} from './soft_labels.ts';
export {
  SAMPLE_VERSION,
  decodeSample,
  encodeSample,
  hardLabelSchema,
  letterboxedImageSchema,
  sampleCodec,
  sampleSchema,
  teacherAnchorConfigSchema,
  teacherLineageSchema,
  type HardLabel,
  type LetterboxedImage,
  type Sample,
  type TeacherAnchorConfig,
  type TeacherLineage,
} from './sample.ts';
export { REJECTION_REASONS, REJECTION_VERSION, decodeRejection, encodeRejection, rejectionCodec, rejectionSchema, type Rejection } from './rejection.ts';
export { DLQ_HEADERS, MAX_ERROR_MESSAGE_LENGTH, buildDlqRecord, readDlqRecord, type DlqInput, type DlqRecord, type DlqSource } from './dlq.ts';

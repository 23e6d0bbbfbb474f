// Public API of the teacher stage: the runner and its steps (load, prepare, infer, label, build outputs).
export { takeFromBatch, type TakeDecision } from './batching.ts';
export { inferTeacher, type TeacherOutputs } from './infer.ts';
export { decideLabels, hardLabelsFromDetections, hardLabelsFromGroundTruth, maxProbability, type LabelDecision } from './labels.ts';
export { REJECTION_DETAIL_HEADER, SAMPLE_JPEG_QUALITY, buildSample, rejectionMessage, sampleMessage, teacherLineage, type SampleInput } from './outputs.ts';
export {
  TEACHER_REJECTION_REASONS,
  prepareImage,
  type PrepareOptions,
  type Prepared,
  type PreparedImage,
  type TeacherRejectionReason,
  type UnusableImage,
} from './prepare_image.ts';
export { RetriesExhaustedError, backoffDelay, isRetriableError, withRetry, type RetryOptions } from './retry.ts';
export { MODEL_BATCHES_PER_FETCH, TEACHER_COUNTERS, checkTeacherOptions, runTeacherStage, type TeacherStageConfig, type TeacherStageHooks } from './run_teacher.ts';
export { loadTeacher, type TeacherModel } from './teacher_model.ts';

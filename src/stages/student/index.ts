// Public API of the student stage: the runner and its steps (admit, buffer, batch, offsets).
export { SampleMismatchError, admitSample, checkSampleFits, type Admission, type SampleMismatchReason, type StudentLayout } from './admit_sample.ts';
export { ConsumedOffsets, offsetKey, offsetsForTopic, offsetsRecord, parseOffsetKey, rewindGroup, seekGroup } from './offsets.ts';
export {
  CONTINUOUS_HISTORY_STEPS,
  FRESH_BATCHES,
  STUDENT_COUNTERS,
  checkStudentOptions,
  runStudentStage,
  type StudentCheckpointInfo,
  type StudentRunningStage,
  type StudentStageConfig,
  type StudentStageHooks,
} from './run_student.ts';
export { assembleBatch, disposeSampleBatch, type AssembleOptions, type BatchSample, type SampleBatch } from './sample_batch.ts';
export { POOLS, SampleBuffer, type BatchSlots, type BufferedSample, type Pool, type SampleBufferOptions, type SampleSource } from './sample_buffer.ts';
export { HEARTBEAT_MS, SampleIntake, type SampleIntakeOptions } from './sample_intake.ts';

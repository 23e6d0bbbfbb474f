// Public API of the ingest stage: the runner, and the COCO helpers the student and evaluation share with it.
export { buildAnnotationIndex, cocoBboxToBox, imageKeyFor, loadAnnotationIndex, type AnnotatedImage, type AnnotationIndex } from './annotations.ts';
export { buildImageRef, type ImageRefContext, type ImageRefOutcome } from './image_ref_builder.ts';
export { CURSOR_VERSION, cursorKey, readCursor, writeCursor, type IngestCursor } from './cursor.ts';
export { INGEST_COUNTERS, checkIngestOptions, runIngestStage, type IngestStageConfig } from './run_ingest.ts';

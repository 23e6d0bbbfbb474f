// Where the teacher's forward pass and NMS run: on the stage's own thread, or in a worker thread of its own.
import type { AnchorConfig } from '../../boxes/anchor_config.ts';
import type { ObjectStore } from '../../io/object_store.ts';
import type { DetectorConfig } from '../../model/detector_config.ts';
import type { ThresholdConfig } from '../../topology/types.ts';
import { inferTeacher, type InferStepTimer, type TeacherOutputs } from './infer.ts';
import { InferenceThread } from './inference_thread.ts';
import { loadTeacher } from './teacher_model.ts';

/** What the stage needs to know of its teacher besides running it (lineage, filter, input size). */
export interface TeacherIdentity {
  modelId: string;
  modelHash: string;
  anchorConfig: AnchorConfig;
  inputSize: number;
  numClasses: number;
}

export interface TeacherInference extends TeacherIdentity {
  /** Forward passes the caller may have outstanding at once: a worker thread queues the next batch while it runs one. */
  readonly concurrency: number;
  /** inferTeacher's contract: letterboxed RGB images in, probabilities and detections out, no tensor left behind. */
  infer(images: readonly Uint8Array[], thresholds: ThresholdConfig, onStep?: InferStepTimer): Promise<TeacherOutputs>;
  /** Share of the time since opening that the worker thread was busy; undefined when inference runs on the stage's thread. */
  threadBusy(): number | undefined;
  /** Frees the model (and ends the worker); waits for the forward passes already asked for. */
  close(): Promise<void>;
}

export interface OpenTeacherOptions {
  /** Run the teacher in a worker thread (its own TensorFlow context), so inference overlaps the event loop's work. */
  thread: boolean;
}

/** Loads the teacher checkpoint (validated against the topology) where `options.thread` says. */
export async function openTeacherInference(
  store: ObjectStore,
  checkpoint: string,
  expected: { anchors: AnchorConfig; teacher: DetectorConfig },
  options: OpenTeacherOptions,
): Promise<TeacherInference> {
  if (options.thread) return InferenceThread.open(store, checkpoint, expected);
  const teacher = await loadTeacher(store, checkpoint, expected);
  return {
    modelId: teacher.modelId,
    modelHash: teacher.modelHash,
    anchorConfig: teacher.anchorConfig,
    inputSize: teacher.inputSize,
    numClasses: teacher.numClasses,
    concurrency: 1,
    infer: (images, thresholds, onStep) => inferTeacher(teacher, images, thresholds, onStep),
    threadBusy: () => undefined,
    close: async () => teacher.dispose(),
  };
}

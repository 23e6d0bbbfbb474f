// Messages between the teacher stage and its inference worker thread (structured-clone data only).
import type { AnchorConfig } from '../../boxes/anchor_config.ts';
import type { BackendName } from '../../backend/backend.ts';
import type { DetectorConfig } from '../../model/detector_config.ts';
import type { ThresholdConfig } from '../../topology/types.ts';
import type { TeacherOutputs } from './infer.ts';
import type { TeacherIdentity } from './teacher_inference.ts';

export type WorkerRequest =
  | {
      type: 'open';
      /** The stage thread's active backend: the worker starts the same one. */
      backend: BackendName;
      /** The checkpoint's files (model.json and its shards) read by the stage, keyed as in its store. */
      files: Record<string, Uint8Array>;
      /** The store's description, so the worker's errors name the store the files came from. */
      storeDescription: string;
      checkpoint: string;
      expected: { anchors: AnchorConfig; teacher: DetectorConfig };
    }
  | { type: 'infer'; id: number; images: Uint8Array[]; thresholds: ThresholdConfig }
  | { type: 'close' };

/** An error as it crosses the thread boundary (class names and stacks do not survive structured clone reliably). */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
}

export type WorkerResponse =
  | { type: 'opened'; identity: TeacherIdentity; backend: string }
  | { type: 'inferred'; id: number; outputs: TeacherOutputs; seconds: { infer: number; nms: number }; numTensors: number }
  | { type: 'failed'; id?: number; error: WireError }
  | { type: 'closed'; numTensors: number };

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: String(error) };
}

/** The worker's error rebuilt on the stage's thread: same name and message, the worker's stack as the cause. */
export function fromWireError(wire: WireError, context: string): Error {
  const error = new Error(`${context}: ${wire.message}`, { cause: wire.stack });
  error.name = wire.name;
  return error;
}

// Messages between the teacher stage and its inference worker thread (structured-clone data only).
import type { AnchorConfig } from '../../boxes/anchor_config.ts';
import type { BackendName } from '../../backend/backend.ts';
import type { DetectorConfig } from '../../model/detector_config.ts';
import type { ThresholdConfig } from '../../topology/types.ts';
import type { TeacherOutputs } from './infer.ts';
import type { WireError } from '../../util/wire_error.ts';
import type { TeacherIdentity } from './teacher_inference.ts';

export type WorkerRequest =
  | {
      type: 'open';
      id?: undefined;
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
  | { type: 'close'; id?: undefined };

export type WorkerResponse =
  | { type: 'opened'; identity: TeacherIdentity; backend: string }
  | { type: 'inferred'; id: number; outputs: TeacherOutputs; seconds: { infer: number; nms: number }; numTensors: number }
  | { type: 'failed'; id?: number; error: WireError }
  | { type: 'closed'; numTensors: number };

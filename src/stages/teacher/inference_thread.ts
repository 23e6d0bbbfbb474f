// The teacher run in a worker thread: the stage posts batches of letterboxed images and awaits their outputs.
import * as tf from '@tensorflow/tfjs';
import type { AnchorConfig } from '../../boxes/anchor_config.ts';
import type { BackendName } from '../../backend/backend.ts';
import { joinKey, ObjectNotFoundError, type ObjectStore } from '../../io/object_store.ts';
import type { DetectorConfig } from '../../model/detector_config.ts';
import type { ThresholdConfig } from '../../topology/types.ts';
import { startModuleWorker } from '../../util/start_worker.ts';
import type { InferStepTimer, TeacherOutputs } from './infer.ts';
import { WorkerChannel } from '../../util/worker_channel.ts';
import type { WorkerRequest, WorkerResponse } from './inference_protocol.ts';
import type { TeacherIdentity, TeacherInference } from './teacher_inference.ts';

/**
 * One worker thread holding the teacher. Every `infer` is answered exactly once: with its outputs, with the error
 * the worker hit for that batch, or — when the worker dies — with that failure (as is every later call). `close`
 * waits for the batches already posted, frees the model and ends the thread.
 */
export class InferenceThread implements TeacherInference {
  readonly concurrency = 2;

  private constructor(
    private readonly channel: WorkerChannel<WorkerRequest>,
    readonly identity: TeacherIdentity,
  ) {}

  /** Tensors alive in the worker after its last answer (a leak there would grow this). */
  get workerTensors(): number {
    return this.channel.workerTensors;
  }

  threadBusy(): number | undefined {
    return this.channel.busy();
  }

  get modelId(): string {
    return this.identity.modelId;
  }
  get modelHash(): string {
    return this.identity.modelHash;
  }
  get anchorConfig(): AnchorConfig {
    return this.identity.anchorConfig;
  }
  get inputSize(): number {
    return this.identity.inputSize;
  }
  get numClasses(): number {
    return this.identity.numClasses;
  }

  /** Reads the checkpoint's files, starts the worker on this thread's backend and loads the teacher there. */
  static async open(store: ObjectStore, checkpoint: string, expected: { anchors: AnchorConfig; teacher: DetectorConfig }): Promise<InferenceThread> {
    const files = await checkpointFiles(store, checkpoint);
    const worker = startModuleWorker(import.meta.url, 'inference_worker');
    const request: WorkerRequest = { type: 'open', backend: tf.getBackend() as BackendName, files, storeDescription: store.describe(), checkpoint, expected };
    const { channel, reply } = await WorkerChannel.open(worker, 'teacher inference thread', request, 'opened');
    return new InferenceThread(channel, (reply as Extract<WorkerResponse, { type: 'opened' }>).identity);
  }

  async infer(images: readonly Uint8Array[], thresholds: ThresholdConfig, onStep?: InferStepTimer): Promise<TeacherOutputs> {
    const reply = (await this.channel.request((id) => ({ type: 'infer', id, images: [...images], thresholds }))) as Extract<WorkerResponse, { type: 'inferred' }>;
    onStep?.('infer', reply.seconds.infer);
    onStep?.('nms', reply.seconds.nms);
    return reply.outputs;
  }

  close(): Promise<void> {
    return this.channel.close({ type: 'close' });
  }
}

/** model.json and the weight shards it lists, as stored under `checkpoint`; a missing one is left for loadTeacher to report. */
async function checkpointFiles(store: ObjectStore, checkpoint: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  const read = async (key: string): Promise<void> => {
    try {
      files[key] = await store.get(key);
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err;
    }
  };
  const modelKey = joinKey(checkpoint, 'model.json');
  await read(modelKey);
  let manifest: Array<{ paths?: unknown }> = [];
  try {
    manifest = (JSON.parse(new TextDecoder().decode(files[modelKey])) as { weightsManifest?: Array<{ paths?: unknown }> }).weightsManifest ?? [];
  } catch {
    // Missing or not JSON: loadTeacher in the worker reports it with its usual message.
  }
  for (const group of manifest) for (const p of Array.isArray(group.paths) ? group.paths : []) await read(joinKey(checkpoint, String(p)));
  return files;
}

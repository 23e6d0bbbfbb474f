// The teacher run in a worker thread: the stage posts batches of letterboxed images and awaits their outputs.
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { AnchorConfig } from '../../boxes/anchor_config.ts';
import type { BackendName } from '../../backend/backend.ts';
import { joinKey, ObjectNotFoundError, type ObjectStore } from '../../io/object_store.ts';
import type { DetectorConfig } from '../../model/detector_config.ts';
import type { ThresholdConfig } from '../../topology/types.ts';
import { startModuleWorker } from '../../util/start_worker.ts';
import type { InferStepTimer, TeacherOutputs } from './infer.ts';
import { fromWireError, type WorkerRequest, type WorkerResponse } from './inference_protocol.ts';
import type { TeacherIdentity, TeacherInference } from './teacher_inference.ts';

interface Pending {
  resolve: (outputs: TeacherOutputs) => void;
  reject: (error: Error) => void;
  onStep?: InferStepTimer;
}

/**
 * One worker thread holding the teacher. Every `infer` is answered exactly once: with its outputs, with the error
 * the worker hit for that batch, or — when the worker dies — with that failure (as is every later call). `close`
 * waits for the batches already posted, frees the model and ends the thread.
 */
export class InferenceThread implements TeacherInference {
  readonly concurrency = 2;
  /** Tensors alive in the worker after its last answer (a leak there would grow this). */
  workerTensors = 0;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  private onClosed: ((numTensors: number) => void) | undefined;
  private readonly busyFrom: EventLoopUtilization;

  private constructor(
    private readonly worker: Worker,
    readonly identity: TeacherIdentity,
  ) {
    this.busyFrom = worker.performance.eventLoopUtilization();
  }

  threadBusy(): number | undefined {
    return this.worker.performance.eventLoopUtilization(this.busyFrom).utilization;
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
    const opened = new Promise<TeacherIdentity>((resolve, reject) => {
      const onMessage = (m: WorkerResponse): void => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (m.type === 'opened') resolve(m.identity);
        else if (m.type === 'failed') reject(fromWireError(m.error, 'teacher inference thread'));
        else reject(new Error(`teacher inference thread: unexpected '${m.type}' while loading`));
      };
      const onExit = (code: number): void => reject(new Error(`teacher inference thread exited with code ${code} while loading the teacher`));
      worker.once('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', onExit);
    });
    const request: WorkerRequest = { type: 'open', backend: tf.getBackend() as BackendName, files, storeDescription: store.describe(), checkpoint, expected };
    worker.postMessage(request);
    let identity: TeacherIdentity;
    try {
      identity = await opened;
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    const thread = new InferenceThread(worker, identity);
    thread.listen();
    return thread;
  }

  infer(images: readonly Uint8Array[], thresholds: ThresholdConfig, onStep?: InferStepTimer): Promise<TeacherOutputs> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error('teacher inference thread is closed'));
    const id = this.nextId++;
    return new Promise<TeacherOutputs>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onStep });
      const request: WorkerRequest = { type: 'infer', id, images: [...images], thresholds };
      try {
        this.worker.postMessage(request);
      } catch (error) {
        // Not sent (e.g. not cloneable): nothing will answer it.
        this.pending.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.failure) {
      await this.worker.terminate();
      return;
    }
    // The worker answers in order: 'closed' comes after every batch posted before it.
    const closed = new Promise<number>((resolve) => (this.onClosed = resolve));
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const request: WorkerRequest = { type: 'close' };
    this.worker.postMessage(request);
    const outcome = await Promise.race([closed, exited.then(() => undefined)]);
    if (outcome !== undefined) this.workerTensors = outcome;
    await exited;
  }

  private listen(): void {
    this.worker.on('message', (m: WorkerResponse) => {
      if (m.type === 'closed') {
        this.onClosed?.(m.numTensors);
        return;
      }
      if (m.type === 'opened') return;
      if (m.type === 'failed' && m.id === undefined) return this.fail(fromWireError(m.error, 'teacher inference thread'));
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (p === undefined || m.id === undefined) return;
      this.pending.delete(m.id);
      if (m.type === 'failed') return p.reject(fromWireError(m.error, 'teacher inference'));
      this.workerTensors = m.numTensors;
      p.onStep?.('infer', m.seconds.infer);
      p.onStep?.('nms', m.seconds.nms);
      p.resolve(m.outputs);
    });
    this.worker.on('error', (error) => this.fail(error instanceof Error ? error : new Error(String(error))));
    this.worker.on('exit', (code) => {
      if (this.pending.size > 0 || (this.closing === undefined && this.failure === undefined)) this.fail(new Error(`teacher inference thread exited with code ${code}`));
    });
  }

  /** The worker is gone or broken: every outstanding and later call fails with this error. */
  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
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

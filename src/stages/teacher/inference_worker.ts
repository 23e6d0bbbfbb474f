// The teacher's inference worker thread: loads the checkpoint it is handed, runs inferTeacher batch by batch.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/backend.ts';
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore } from '../../io/object_store.ts';
import { inferTeacher } from './infer.ts';
import { toWireError, type WorkerRequest, type WorkerResponse } from './inference_protocol.ts';
import { loadTeacher, type TeacherModel } from './teacher_model.ts';

/** The checkpoint's files as the stage read them: a read-only store for loadTeacher. */
class FilesStore implements ObjectStore {
  constructor(
    private readonly files: Record<string, Uint8Array>,
    private readonly description: string,
  ) {}
  async get(key: string): Promise<Uint8Array> {
    const bytes = this.files[key];
    if (bytes === undefined) throw new ObjectNotFoundError(this.description, key);
    return bytes;
  }
  async head(key: string): Promise<ObjectInfo | undefined> {
    const bytes = this.files[key];
    return bytes === undefined ? undefined : { key, size: bytes.length, etag: '', lastModified: new Date(0) };
  }
  async list(prefix: string): Promise<{ objects: ObjectInfo[] }> {
    const keys = Object.keys(this.files).filter((k) => k.startsWith(prefix)).sort();
    return { objects: keys.map((key) => ({ key, size: this.files[key].length, etag: '', lastModified: new Date(0) })) };
  }
  put(): Promise<void> {
    return Promise.reject(new Error('the inference worker never writes to the store'));
  }
  delete(): Promise<void> {
    return Promise.reject(new Error('the inference worker never writes to the store'));
  }
  describe(): string {
    return this.description;
  }
}

if (parentPort === null) throw new Error('inference_worker.ts runs as a worker thread');
const port = parentPort;
let teacher: TeacherModel | undefined;
const reply = (response: WorkerResponse, transfer: ArrayBuffer[] = []): void => port.postMessage(response, transfer);

// Requests are handled one at a time, in order: the stage may queue the next batch while this one runs.
let queue = Promise.resolve();
port.on('message', (request: WorkerRequest) => {
  queue = queue.then(() => handle(request));
});

async function handle(request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case 'open':
      try {
        const backend = await initBackend(request.backend);
        teacher = await loadTeacher(new FilesStore(request.files, request.storeDescription), request.checkpoint, request.expected);
        const { modelId, modelHash, anchorConfig, inputSize, numClasses } = teacher;
        reply({ type: 'opened', identity: { modelId, modelHash, anchorConfig, inputSize, numClasses }, backend: backend.name });
      } catch (error) {
        reply({ type: 'failed', error: toWireError(error) });
      }
      return;
    case 'infer':
      try {
        if (teacher === undefined) throw new Error('no teacher loaded');
        const seconds = { infer: 0, nms: 0 };
        const outputs = await inferTeacher(teacher, request.images, request.thresholds, (step, s) => (seconds[step] = s));
        // Hand the probabilities over without a copy, unless they are a view into memory the backend keeps (wasm's heap).
        const p = outputs.probs;
        const own = p.buffer instanceof ArrayBuffer && p.byteOffset === 0 && p.byteLength === p.buffer.byteLength;
        const probs = own ? p : p.slice();
        reply({ type: 'inferred', id: request.id, outputs: { ...outputs, probs }, seconds, numTensors: tf.memory().numTensors }, [probs.buffer as ArrayBuffer]);
      } catch (error) {
        reply({ type: 'failed', id: request.id, error: toWireError(error) });
      }
      return;
    case 'close':
      teacher?.dispose();
      teacher = undefined;
      reply({ type: 'closed', numTensors: tf.memory().numTensors });
      port.close();
      return;
  }
}

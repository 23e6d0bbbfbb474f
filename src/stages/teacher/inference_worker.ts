// The teacher's inference worker thread: loads the checkpoint it is handed, runs inferTeacher batch by batch.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/backend.ts';
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore } from '../../io/object_store.ts';
import { inferTeacher } from './infer.ts';
import { serveInOrder, type Served } from '../../util/worker_channel.ts';
import type { WorkerRequest, WorkerResponse } from './inference_protocol.ts';
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
let teacher: TeacherModel | undefined;

serveInOrder<WorkerRequest>(parentPort, async (request): Promise<Served> => {
  switch (request.type) {
    case 'open': {
      const backend = await initBackend(request.backend);
      teacher = await loadTeacher(new FilesStore(request.files, request.storeDescription), request.checkpoint, request.expected);
      const { modelId, modelHash, anchorConfig, inputSize, numClasses } = teacher;
      const reply: WorkerResponse = { type: 'opened', identity: { modelId, modelHash, anchorConfig, inputSize, numClasses }, backend: backend.name };
      return { reply };
    }
    case 'infer': {
      if (teacher === undefined) throw new Error('no teacher loaded');
      const seconds = { infer: 0, nms: 0 };
      const outputs = await inferTeacher(teacher, request.images, request.thresholds, (step, s) => (seconds[step] = s));
      // Hand the probabilities over without a copy, unless they are a view into memory the backend keeps (wasm's heap).
      const p = outputs.probs;
      const own = p.buffer instanceof ArrayBuffer && p.byteOffset === 0 && p.byteLength === p.buffer.byteLength;
      const probs = own ? p : p.slice();
      const reply: WorkerResponse = { type: 'inferred', id: request.id, outputs: { ...outputs, probs }, seconds, numTensors: tf.memory().numTensors };
      return { reply, transfer: [probs.buffer as ArrayBuffer] };
    }
    case 'close':
      teacher?.dispose();
      teacher = undefined;
      return { reply: { type: 'closed', numTensors: tf.memory().numTensors }, last: true };
  }
});

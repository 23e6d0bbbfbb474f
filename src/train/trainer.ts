// Where a detector's optimizer steps run: inline on the caller's thread, in a training thread, or in data-parallel replicas.
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { AnchorSet } from '../boxes/anchors.ts';
import { resolveTrainingBackend, WASM_THREADS_ENV, type BackendName } from '../backend/backend.ts';
import type { Detector } from '../model/detector.ts';
import type { NamedTensor, ResumableAdam } from './adam.ts';
import { encodeOptimizerState, restoreOptimizer } from './checkpoint.ts';
import type { ObjectiveConfig } from './objective.ts';
import { trainableVariables, trainStep, type StepLosses } from './step.ts';
import { startModuleWorker } from '../util/start_worker.ts';
import { WorkerChannel } from '../util/worker_channel.ts';
import { batchTensors, disposeTensorBatch, type PackedBatch } from './packed_batch.ts';
import type { EncodedWeights, TrainingRequest, TrainingResponse } from './training_protocol.ts';

/**
 * Runs a detector's optimizer steps. The caller keeps its detector and optimizer for evaluation, checkpoints and the
 * best model; `sync` brings them to the trainer's state first (a no-op inline, where they are what trains).
 */
export interface DetectorTrainer {
  /** True when steps run in a worker thread (they do not block the stage's event loop). */
  readonly threaded: boolean;
  /** One step at `learningRate` on the batch; rejects as trainStep does (e.g. a diverged loss) with the weights untouched. */
  step(batch: PackedBatch, learningRate: number): Promise<StepLosses>;
  /** Copies the trained weights and optimizer state into the stage's detector and optimizer. */
  sync(): Promise<void>;
  /** Share of the time since opening that the training thread was busy; undefined inline. */
  threadBusy(): number | undefined;
  /** The compute backend of the training threads; undefined inline (the caller's). */
  readonly workerBackend: string | undefined;
  /** Compute threads of the backend in each training thread (wasm: XNNPACK threads; tensorflow: its pool); undefined inline. */
  readonly workerThreads: number | undefined;
  /** Tensors alive in the training thread after its last step (undefined inline: the stage's own count covers it). */
  workerTensors(): number | undefined;
  /** Ends the thread (after the steps already asked for); the stage's detector and optimizer stay the caller's. */
  close(): Promise<void>;
}

export interface TrainerOptions {
  /** Train in a worker thread with its own TensorFlow context. */
  thread: boolean;
  /**
   * Training threads stepping together (data-parallel; needs `thread`): each computes the gradients of its share of
   * the batch (every replicas-th sample), the stage averages them (weighted by share), clips them by their global norm
   * and every replica applies the same update, so the replicas stay identical. Default 1.
   */
  replicas?: number;
  /**
   * Compute backend of the training threads (a named one needs `thread`; default: the caller's active backend). 'auto'
   * is resolved here by resolveTrainingBackend; inline it means the caller's backend.
   */
  backend?: BackendName | 'auto';
  anchors: AnchorSet;
  objective: ObjectiveConfig;
  clipNorm: number;
}

/** A trainer over the stage's detector and optimizer (which it never disposes). */
export async function openDetectorTrainer(detector: Detector, optimizer: ResumableAdam, options: TrainerOptions): Promise<DetectorTrainer> {
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`student: trainingReplicas must be an integer ≥ 1, got ${replicas}`);
  if (replicas > 1 && !options.thread) throw new Error('student: trainingReplicas > 1 needs trainingThread: true');
  if (options.backend !== undefined && options.backend !== 'auto' && !options.thread) throw new Error('student: trainingBackend needs trainingThread: true');
  const threads = { ...options, backend: options.thread ? resolveTrainingBackend(options.backend) : undefined };
  if (replicas > 1) return ReplicatedTrainer.open(detector, optimizer, threads, replicas);
  if (options.thread) return TrainingThread.open(detector, optimizer, threads);
  const { anchors, objective, clipNorm } = options;
  const numClasses = detector.config.numClasses;
  return {
    threaded: false,
    workerBackend: undefined,
    workerThreads: undefined,
    async step(packed, learningRate) {
      optimizer.learningRate = learningRate;
      const batch = batchTensors(packed, { anchors, numClasses });
      try {
        return await trainStep(detector, optimizer, batch.images, batch.targets, batch.teacherProbs, objective, { clipNorm });
      } finally {
        disposeTensorBatch(batch);
      }
    },
    sync: async () => undefined,
    threadBusy: () => undefined,
    workerTensors: () => undefined,
    close: async () => undefined,
  };
}

/** The steps in a worker thread on a copy of the caller's detector and optimizer. */
class TrainingThread implements DetectorTrainer {
  readonly threaded = true;

  private constructor(
    private readonly channel: WorkerChannel<TrainingRequest>,
    private readonly detector: Detector,
    private readonly optimizer: ResumableAdam,
    readonly workerBackend: string,
    readonly workerThreads: number,
  ) {}

  /** `wasmThreads`: the worker's wasm threads (undefined: the backend's default). */
  static async open(detector: Detector, optimizer: ResumableAdam, options: TrainerOptions, wasmThreads?: number): Promise<TrainingThread> {
    let model: tf.io.ModelArtifacts | undefined;
    await detector.model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        model = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    if (model === undefined) throw new Error('training thread: the detector saved nothing');
    const request: TrainingRequest = {
      type: 'open',
      backend: options.backend === undefined || options.backend === 'auto' ? (tf.getBackend() as BackendName) : options.backend,
      ...(wasmThreads === undefined ? {} : { wasmThreads }),
      config: detector.config,
      model,
      adam: { learningRate: optimizer.learningRate, beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.epsilon },
      optimizer: await encodeOptimizerState(optimizer),
      objective: options.objective,
      clipNorm: options.clipNorm,
    };
    const worker = startModuleWorker(import.meta.url, 'training_worker');
    const { channel, reply } = await WorkerChannel.open(worker, 'training thread', request, 'opened');
    const opened = reply as Extract<TrainingResponse, { type: 'opened' }>;
    return new TrainingThread(channel, detector, optimizer, opened.backend, opened.threads);
  }

  async step(batch: PackedBatch, learningRate: number): Promise<StepLosses> {
    const reply = (await this.channel.request((id) => ({ type: 'step', id, learningRate, batch }), batchBuffers(batch))) as Extract<TrainingResponse, { type: 'stepped' }>;
    this.optimizer.learningRate = learningRate;
    return reply.losses;
  }

  /** A replica's share of a data-parallel step: its loss terms and flat gradients, nothing applied. */
  async grads(batch: PackedBatch): Promise<{ losses: StepLosses; grads: Float32Array }> {
    const reply = (await this.channel.request((id) => ({ type: 'grads', id, batch }), batchBuffers(batch))) as Extract<TrainingResponse, { type: 'grads' }>;
    return { losses: reply.losses, grads: reply.grads };
  }

  /** Applies combined flat gradients at `learningRate` (the array is transferred: do not use it afterwards). */
  async apply(grads: Float32Array, learningRate: number): Promise<void> {
    await this.channel.request((id) => ({ type: 'apply', id, learningRate, grads }), [grads.buffer as ArrayBuffer]);
    this.optimizer.learningRate = learningRate;
  }

  async sync(): Promise<void> {
    const reply = (await this.channel.request((id) => ({ type: 'snapshot', id }))) as Extract<TrainingResponse, { type: 'snapshot' }>;
    setModelWeights(this.detector, reply.weights);
    await restoreOptimizer(this.optimizer, reply.optimizer);
  }

  threadBusy(): number {
    return this.channel.busy();
  }

  workerTensors(): number {
    return this.channel.workerTensors;
  }

  close(): Promise<void> {
    return this.channel.close({ type: 'close' });
  }
}

/** Data-parallel steps over several training threads that stay identical (see TrainerOptions.replicas). */
class ReplicatedTrainer implements DetectorTrainer {
  readonly threaded = true;

  /**
   * The last step's update, posted but not awaited: each replica applies it before the next step's gradients (a worker
   * serves in order), so the stage packs the next batch while the replicas apply. Its failure surfaces at the next
   * step, sync or close.
   */
  private applying: Promise<void> | undefined;

  private constructor(
    private readonly replicas: TrainingThread[],
    private readonly clipNorm: number,
  ) {}

  static async open(detector: Detector, optimizer: ResumableAdam, options: TrainerOptions, count: number): Promise<ReplicatedTrainer> {
    const wasmThreads = replicaWasmThreads(count);
    const opened = await Promise.allSettled(Array.from({ length: count }, () => TrainingThread.open(detector, optimizer, options, wasmThreads)));
    const replicas = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(replicas.map((r) => r.close()));
      throw failed.reason;
    }
    return new ReplicatedTrainer(replicas, options.clipNorm);
  }

  async step(batch: PackedBatch, learningRate: number): Promise<StepLosses> {
    const shards = shardBatch(batch, this.replicas.length);
    const gathered = Promise.all(shards.map((shard, i) => this.replicas[i].grads(shard)));
    const [applied, computed] = await Promise.allSettled([this.settleApply(), gathered]);
    if (applied.status === 'rejected') throw applied.reason;
    if (computed.status === 'rejected') throw computed.reason;
    const results = computed.value;
    const combined = new Float32Array(results[0].grads.length);
    const losses: StepLosses = { total: 0, focal: 0, distillation: 0, localization: 0 };
    results.forEach((r, i) => {
      const w = shards[i].size / batch.size;
      for (let k = 0; k < combined.length; k++) combined[k] += w * r.grads[k];
      losses.total += w * r.losses.total;
      losses.focal += w * r.losses.focal;
      losses.distillation += w * r.losses.distillation;
      losses.localization += w * r.losses.localization;
    });
    if (this.clipNorm > 0) {
      let sum = 0;
      for (let k = 0; k < combined.length; k++) sum += combined[k] * combined[k];
      const norm = Math.sqrt(sum);
      if (!Number.isFinite(norm)) throw new Error(`training thread: training diverged: gradient norm is ${norm} (loss ${losses.total})`);
      if (norm > this.clipNorm) {
        const scale = this.clipNorm / norm;
        for (let k = 0; k < combined.length; k++) combined[k] *= scale;
      }
      losses.gradNorm = norm;
    }
    const last = this.replicas.length - 1;
    const applying = Promise.all(this.replicas.map((r, i) => r.apply(i === last ? combined : combined.slice(), learningRate))).then(() => undefined);
    // Observed by settleApply; without a handler here a failure before then would count as unhandled.
    applying.catch(() => undefined);
    this.applying = applying;
    return losses;
  }

  /** Waits for the last step's update (rejects if it failed; once). */
  private async settleApply(): Promise<void> {
    const applying = this.applying;
    this.applying = undefined;
    await applying;
  }

  get workerThreads(): number {
    return this.replicas[0].workerThreads;
  }

  get workerBackend(): string {
    return this.replicas[0].workerBackend;
  }

  /** The replicas are identical: the first one's state (after the last update) is the stage's. */
  async sync(): Promise<void> {
    await this.settleApply();
    await this.replicas[0].sync();
  }

  /** The mean busy share of the training threads. */
  threadBusy(): number {
    return this.replicas.reduce((s, r) => s + r.threadBusy(), 0) / this.replicas.length;
  }

  workerTensors(): number {
    return this.replicas[0].workerTensors();
  }

  async close(): Promise<void> {
    try {
      await this.settleApply();
    } finally {
      await Promise.all(this.replicas.map((r) => r.close()));
    }
  }
}

/**
 * wasm threads for each of `replicas` training threads: the cores split between them (wasm's XNNPACK pool would
 * otherwise start one thread per core in every replica, and two replicas of two threads on two cores ran 2.4x slower
 * than two of one: bench/student_cores.ts). Undefined when DISTILLERY_WASM_THREADS is set (it applies to every
 * replica) or for a single training thread (the backend's default). tensorflow ignores it.
 */
export function replicaWasmThreads(replicas: number, cores = os.availableParallelism(), env: NodeJS.ProcessEnv = process.env): number | undefined {
  const fromEnv = env[WASM_THREADS_ENV];
  if (replicas <= 1 || (fromEnv !== undefined && fromEnv !== '')) return undefined;
  return Math.max(1, Math.floor(cores / replicas));
}

/** Splits a batch into up to `n` shards, sample i to shard i mod n, so each keeps the batch's labeled:unlabeled mix. */
export function shardBatch(batch: PackedBatch, n: number): PackedBatch[] {
  const count = Math.min(n, batch.size);
  const plane = batch.inputSize * batch.inputSize * 3;
  const perImage = batch.probs === undefined ? 0 : batch.probs.length / batch.size;
  return Array.from({ length: count }, (_, r) => {
    const members = Array.from({ length: batch.size }, (_, i) => i).filter((i) => i % count === r);
    const pixels = new Float32Array(members.length * plane);
    const probs = batch.probs === undefined ? undefined : new Float32Array(members.length * perImage);
    members.forEach((i, j) => {
      pixels.set(batch.pixels.subarray(i * plane, (i + 1) * plane), j * plane);
      probs?.set((batch.probs as Float32Array).subarray(i * perImage, (i + 1) * perImage), j * perImage);
    });
    // The pool of each sample is not carried in a packed batch; the shares only serve counters, kept on the whole batch.
    return { size: members.length, inputSize: batch.inputSize, pixels, probs, hard: members.map((i) => batch.hard[i]), labeled: 0, unlabeled: members.length };
  });
}

function batchBuffers(batch: PackedBatch): ArrayBuffer[] {
  return [batch.pixels.buffer as ArrayBuffer, ...(batch.probs === undefined ? [] : [batch.probs.buffer as ArrayBuffer])];
}

/** The model's weights in `getWeights()` order, packed (the worker's side of a snapshot). */
export async function encodeModelWeights(detector: Detector): Promise<EncodedWeights> {
  const weights = detector.model.getWeights().map((tensor, i) => ({ name: `w${i}`, tensor }));
  return tf.io.encodeWeights(weights);
}

/** Sets every weight of the detector from a snapshot of a model with the same architecture. */
function setModelWeights(detector: Detector, encoded: EncodedWeights): void {
  const count = detector.model.weights.length;
  if (encoded.specs.length !== count) throw new Error(`training thread: snapshot has ${encoded.specs.length} weights, the detector ${count}`);
  const map = tf.io.decodeWeights(encoded.data, encoded.specs);
  try {
    detector.model.setWeights(encoded.specs.map((s) => map[s.name]));
  } finally {
    tf.dispose(Object.values(map));
  }
}

/** The gradients of every trainable variable, in `trainableVariables` order, as one flat array. */
export function flattenGradients(detector: Detector, grads: tf.NamedTensorMap): Float32Array {
  const variables = trainableVariables(detector);
  const flat = new Float32Array(variables.reduce((n, v) => n + v.size, 0));
  let at = 0;
  for (const v of variables) {
    const g = grads[v.name];
    if (g === undefined) throw new Error(`no gradient for ${v.name}`);
    flat.set(g.dataSync() as Float32Array, at);
    at += v.size;
  }
  return flat;
}

/** A flat gradient array back as one tensor per trainable variable (the caller disposes them). */
export function unflattenGradients(detector: Detector, flat: Float32Array): NamedTensor[] {
  const variables = trainableVariables(detector);
  const total = variables.reduce((n, v) => n + v.size, 0);
  if (flat.length !== total) throw new Error(`gradients: ${flat.length} values for ${total} trainable parameters`);
  let at = 0;
  return variables.map((v) => {
    const tensor = tf.tensor(flat.subarray(at, at + v.size), v.shape, 'float32');
    at += v.size;
    return { name: v.name, tensor };
  });
}

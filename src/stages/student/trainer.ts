// Where the student's steps run: inline on the stage's thread, or in a training worker thread of its own.
import * as tf from '@tensorflow/tfjs';
import type { AnchorSet } from '../../boxes/anchors.ts';
import type { BackendName } from '../../backend/backend.ts';
import type { Detector } from '../../model/detector.ts';
import type { ResumableAdam } from '../../train/adam.ts';
import { encodeOptimizerState, restoreOptimizer } from '../../train/checkpoint.ts';
import type { ObjectiveConfig } from '../../train/objective.ts';
import { trainStep, type StepLosses } from '../../train/step.ts';
import { startModuleWorker } from '../../util/start_worker.ts';
import { WorkerChannel } from '../../util/worker_channel.ts';
import { batchTensors, disposeSampleBatch, type PackedBatch } from './sample_batch.ts';
import type { EncodedWeights, TrainingRequest, TrainingResponse } from './training_protocol.ts';

/**
 * Runs the student's optimizer steps. The stage keeps its detector and optimizer for evaluation, checkpoints and the
 * best model; `sync` brings them to the trainer's state first (a no-op inline, where they are what trains).
 */
export interface StudentTrainer {
  /** True when steps run in a worker thread (they do not block the stage's event loop). */
  readonly threaded: boolean;
  /** One step at `learningRate` on the batch; rejects as trainStep does (e.g. a diverged loss) with the weights untouched. */
  step(batch: PackedBatch, learningRate: number): Promise<StepLosses>;
  /** Copies the trained weights and optimizer state into the stage's detector and optimizer. */
  sync(): Promise<void>;
  /** Share of the time since opening that the training thread was busy; undefined inline. */
  threadBusy(): number | undefined;
  /** Tensors alive in the training thread after its last step (undefined inline: the stage's own count covers it). */
  workerTensors(): number | undefined;
  /** Ends the thread (after the steps already asked for); the stage's detector and optimizer stay the caller's. */
  close(): Promise<void>;
}

export interface TrainerOptions {
  /** Train in a worker thread with its own TensorFlow context. */
  thread: boolean;
  anchors: AnchorSet;
  objective: ObjectiveConfig;
  clipNorm: number;
}

/** A trainer over the stage's detector and optimizer (which it never disposes). */
export async function openStudentTrainer(detector: Detector, optimizer: ResumableAdam, options: TrainerOptions): Promise<StudentTrainer> {
  if (options.thread) return TrainingThread.open(detector, optimizer, options);
  const { anchors, objective, clipNorm } = options;
  const numClasses = detector.config.numClasses;
  return {
    threaded: false,
    async step(packed, learningRate) {
      optimizer.learningRate = learningRate;
      const batch = batchTensors(packed, { anchors, numClasses });
      try {
        return await trainStep(detector, optimizer, batch.images, batch.targets, batch.teacherProbs, objective, { clipNorm });
      } finally {
        disposeSampleBatch(batch);
      }
    },
    sync: async () => undefined,
    threadBusy: () => undefined,
    workerTensors: () => undefined,
    close: async () => undefined,
  };
}

/** The student's steps in a worker thread on a copy of the stage's detector and optimizer. */
class TrainingThread implements StudentTrainer {
  readonly threaded = true;

  private constructor(
    private readonly channel: WorkerChannel<TrainingRequest>,
    private readonly detector: Detector,
    private readonly optimizer: ResumableAdam,
  ) {}

  static async open(detector: Detector, optimizer: ResumableAdam, options: TrainerOptions): Promise<TrainingThread> {
    let model: tf.io.ModelArtifacts | undefined;
    await detector.model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        model = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    if (model === undefined) throw new Error('student training thread: the detector saved nothing');
    const request: TrainingRequest = {
      type: 'open',
      backend: tf.getBackend() as BackendName,
      config: detector.config,
      model,
      adam: { learningRate: optimizer.learningRate, beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.epsilon },
      optimizer: await encodeOptimizerState(optimizer),
      objective: options.objective,
      clipNorm: options.clipNorm,
    };
    const worker = startModuleWorker(import.meta.url, 'training_worker');
    const { channel } = await WorkerChannel.open(worker, 'student training thread', request, 'opened');
    return new TrainingThread(channel, detector, optimizer);
  }

  async step(batch: PackedBatch, learningRate: number): Promise<StepLosses> {
    const transfer = [batch.pixels.buffer as ArrayBuffer, ...(batch.probs === undefined ? [] : [batch.probs.buffer as ArrayBuffer])];
    const reply = (await this.channel.request((id) => ({ type: 'step', id, learningRate, batch }), transfer)) as Extract<TrainingResponse, { type: 'stepped' }>;
    this.optimizer.learningRate = learningRate;
    return reply.losses;
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

/** The model's weights in `getWeights()` order, packed (the worker's side of a snapshot). */
export async function encodeModelWeights(detector: Detector): Promise<EncodedWeights> {
  const weights = detector.model.getWeights().map((tensor, i) => ({ name: `w${i}`, tensor }));
  return tf.io.encodeWeights(weights);
}

/** Sets every weight of the detector from a snapshot of a model with the same architecture. */
function setModelWeights(detector: Detector, encoded: EncodedWeights): void {
  const count = detector.model.weights.length;
  if (encoded.specs.length !== count) throw new Error(`student training thread: snapshot has ${encoded.specs.length} weights, the detector ${count}`);
  const map = tf.io.decodeWeights(encoded.data, encoded.specs);
  try {
    detector.model.setWeights(encoded.specs.map((s) => map[s.name]));
  } finally {
    tf.dispose(Object.values(map));
  }
}

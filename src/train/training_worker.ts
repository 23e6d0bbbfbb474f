// A training worker thread: holds a copy of a detector and its optimizer, runs the steps it is sent.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { generateAnchors, type AnchorSet } from '../boxes/anchors.ts';
import { initBackend } from '../backend/backend.ts';
import { disposeLayersModel, type Detector } from '../model/detector.ts';
import { detectorAnchorConfig } from '../model/detector_config.ts';
import { ResumableAdam } from './adam.ts';
import { encodeOptimizerState, restoreOptimizer } from './checkpoint.ts';
import type { ObjectiveConfig } from './objective.ts';
import { computeGradients, trainStep, type StepLosses } from './step.ts';
import { serveInOrder, type Served } from '../util/worker_channel.ts';
import { batchTensors, disposeTensorBatch } from './packed_batch.ts';
import { encodeModelWeights, flattenGradients, unflattenGradients } from './trainer.ts';
import type { TrainingRequest, TrainingResponse } from './training_protocol.ts';

if (parentPort === null) throw new Error('training_worker.ts runs as a worker thread');

interface Training {
  detector: Detector;
  optimizer: ResumableAdam;
  anchors: AnchorSet;
  objective: ObjectiveConfig;
  clipNorm: number;
}
let training: Training | undefined;

const reply = (response: TrainingResponse, transfer?: ArrayBuffer[]): Served => ({ reply: response, transfer });

serveInOrder<TrainingRequest>(parentPort, async (request): Promise<Served> => {
  switch (request.type) {
    case 'open': {
      const backend = await initBackend(request.backend, { threads: request.wasmThreads });
      const model = await tf.loadLayersModel(tf.io.fromMemory(request.model));
      const detector: Detector = { config: request.config, model };
      const optimizer = new ResumableAdam(request.adam);
      try {
        await restoreOptimizer(optimizer, request.optimizer);
      } catch (error) {
        optimizer.dispose();
        disposeLayersModel(model);
        throw error;
      }
      const config = request.config;
      const anchors = generateAnchors(detectorAnchorConfig(config), config.inputSize, config.inputSize);
      training = { detector, optimizer, anchors, objective: request.objective, clipNorm: request.clipNorm };
      return reply({ type: 'opened', backend: backend.name, threads: backend.threads, numTensors: tf.memory().numTensors });
    }
    case 'step': {
      if (training === undefined) throw new Error('no detector loaded');
      const { detector, optimizer, anchors, objective, clipNorm } = training;
      optimizer.learningRate = request.learningRate;
      const batch = batchTensors(request.batch, { anchors, numClasses: detector.config.numClasses });
      let losses: StepLosses;
      try {
        losses = await trainStep(detector, optimizer, batch.images, batch.targets, batch.teacherProbs, objective, { clipNorm });
      } finally {
        disposeTensorBatch(batch);
      }
      return reply({ type: 'stepped', id: request.id, losses, numTensors: tf.memory().numTensors });
    }
    case 'grads': {
      if (training === undefined) throw new Error('no detector loaded');
      const { detector, anchors, objective } = training;
      const batch = batchTensors(request.batch, { anchors, numClasses: detector.config.numClasses });
      let computed: Awaited<ReturnType<typeof computeGradients>>;
      try {
        computed = await computeGradients(detector, batch.images, batch.targets, batch.teacherProbs, objective);
      } finally {
        disposeTensorBatch(batch);
      }
      const grads = flattenGradients(detector, computed.grads);
      tf.dispose(computed.grads);
      return reply({ type: 'grads', id: request.id, losses: computed.losses, grads, numTensors: tf.memory().numTensors }, [grads.buffer as ArrayBuffer]);
    }
    case 'apply': {
      if (training === undefined) throw new Error('no detector loaded');
      const { detector, optimizer } = training;
      optimizer.learningRate = request.learningRate;
      const grads = unflattenGradients(detector, request.grads);
      try {
        optimizer.applyGradients(grads);
      } finally {
        tf.dispose(grads.map((g) => g.tensor));
      }
      return reply({ type: 'applied', id: request.id, numTensors: tf.memory().numTensors });
    }
    case 'snapshot': {
      if (training === undefined) throw new Error('no detector loaded');
      const weights = await encodeModelWeights(training.detector);
      const optimizer = await encodeOptimizerState(training.optimizer);
      return reply({ type: 'snapshot', id: request.id, weights, optimizer, numTensors: tf.memory().numTensors }, [weights.data, optimizer.data]);
    }
    case 'close': {
      if (training !== undefined) {
        training.optimizer.dispose();
        disposeLayersModel(training.detector.model);
        training = undefined;
      }
      return { ...reply({ type: 'closed', numTensors: tf.memory().numTensors }), last: true };
    }
  }
});

// Messages between a trainer and its training worker thread (structured-clone data only).
import type * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../backend/backend.ts';
import type { DetectorConfig } from '../model/detector_config.ts';
import type { AdamOptions } from './adam.ts';
import type { SavedOptimizerState } from './checkpoint.ts';
import type { ObjectiveConfig } from './objective.ts';
import type { StepLosses } from './step.ts';
import type { WireError } from '../util/wire_error.ts';
import type { PackedBatch } from './packed_batch.ts';

/** The model's weights in `model.getWeights()` order, as `tf.io.encodeWeights` packs them. */
export interface EncodedWeights {
  data: ArrayBuffer;
  specs: tf.io.WeightsManifestEntry[];
}

export type TrainingRequest =
  | {
      type: 'open';
      id?: undefined;
      /** The stage thread's active backend: the worker starts the same one. */
      backend: BackendName;
      /** wasm only: the worker's XNNPACK threads (absent: DISTILLERY_WASM_THREADS, else one per core). */
      wasmThreads?: number;
      config: DetectorConfig;
      /** The stage's detector as `model.save` hands it over (topology + weights): the worker trains an exact copy. */
      model: tf.io.ModelArtifacts;
      adam: AdamOptions;
      /** The stage optimizer's state (moments, iterations) to continue from. */
      optimizer: SavedOptimizerState;
      objective: ObjectiveConfig;
      clipNorm: number;
    }
  | { type: 'step'; id: number; learningRate: number; batch: PackedBatch }
  /** A replica's share of a data-parallel step: loss terms and gradients of its shard, nothing applied. */
  | { type: 'grads'; id: number; batch: PackedBatch }
  /** The combined gradients (flat, in trainable-variable order), applied by every replica alike. */
  | { type: 'apply'; id: number; learningRate: number; grads: Float32Array }
  | { type: 'snapshot'; id: number }
  | { type: 'close'; id?: undefined };

export type TrainingResponse =
  | { type: 'opened'; backend: string; threads: number; numTensors: number }
  | { type: 'stepped'; id: number; losses: StepLosses; numTensors: number }
  | { type: 'grads'; id: number; losses: StepLosses; grads: Float32Array; numTensors: number }
  | { type: 'applied'; id: number; numTensors: number }
  | { type: 'snapshot'; id: number; weights: EncodedWeights; optimizer: SavedOptimizerState; numTensors: number }
  | { type: 'failed'; id?: number; error: WireError }
  | { type: 'closed'; numTensors: number };

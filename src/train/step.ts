// One optimizer step of a detector on a batch: forward, objective, backward, update — leak-free.
import * as tf from '@tensorflow/tfjs';
import { forward, type Detector } from '../model/detector.ts';
import { detectorObjective, type ObjectiveConfig } from './objective.ts';
import type { BatchTargets } from './targets.ts';

export interface StepLosses {
  total: number;
  focal: number;
  distillation: number;
  localization: number;
  /** Global L2 norm of the gradients before clipping; only computed when clipping is on. */
  gradNorm?: number;
}

export interface TrainStepOptions {
  /** Rescale the gradients so their global L2 norm is at most this (0 or absent = no clipping). */
  clipNorm?: number;
}

/** Trainable variables of a detector, in a stable order (optimizer state follows this order). */
export function trainableVariables(detector: Detector): tf.Variable[] {
  return detector.model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * Runs one step and returns the loss terms. `images` are preprocessed [batch, size, size, 3];
 * `teacherProbs` [batch, anchors, classes] is needed unless the objective has no distillation term.
 * With `options.clipNorm`, the gradients are rescaled to at most that global norm before the update.
 */
export async function trainStep(
  detector: Detector,
  optimizer: tf.Optimizer,
  images: tf.Tensor4D,
  targets: BatchTargets,
  teacherProbs: tf.Tensor3D | undefined,
  objective: ObjectiveConfig,
  options: TrainStepOptions = {},
): Promise<StepLosses> {
  const { losses, grads } = await computeGradients(detector, images, targets, teacherProbs, objective);
  const gradNorm = await applyGradients(optimizer, grads, options, losses.total);
  return gradNorm === undefined ? losses : { ...losses, gradNorm };
}

/**
 * The loss terms and the gradients of every trainable variable (keyed by variable name; the caller disposes them)
 * of one batch, nothing applied. Throws, leaving nothing behind, when the loss is not finite.
 */
export async function computeGradients(
  detector: Detector,
  images: tf.Tensor4D,
  targets: BatchTargets,
  teacherProbs: tf.Tensor3D | undefined,
  objective: ObjectiveConfig,
): Promise<{ losses: StepLosses; grads: tf.NamedTensorMap }> {
  let parts: tf.Scalar[] = [];
  const { value: total, grads } = tf.variableGrads(() => {
    const terms = detectorObjective(forward(detector, images, true), targets, teacherProbs, objective);
    // The components escape variableGrads' tidy so they can be logged.
    parts = [tf.keep(terms.focal), tf.keep(terms.distillation), tf.keep(terms.localization)];
    return terms.total;
  }, trainableVariables(detector));
  const values = await Promise.all([total, ...parts].map(async (t) => (await t.data())[0]));
  tf.dispose([total, ...parts]);
  if (!Number.isFinite(values[0])) {
    // Checked before any update so a bad batch cannot poison the weights.
    tf.dispose(grads);
    throw new Error(`training diverged: loss is ${values[0]} (focal ${values[1]}, distillation ${values[2]}, localization ${values[3]})`);
  }
  return { losses: { total: values[0], focal: values[1], distillation: values[2], localization: values[3] }, grads };
}

/**
 * Clips `grads` to `options.clipNorm` (when > 0) by their global norm, applies them and disposes them. Returns the
 * norm before clipping when clipping is on. `loss` only serves the error message of a non-finite norm.
 */
export async function applyGradients(optimizer: tf.Optimizer, grads: tf.NamedTensorMap, options: TrainStepOptions, loss: number): Promise<number | undefined> {
  const clipNorm = options.clipNorm ?? 0;
  let applied = grads;
  let norm: number | undefined;
  if (clipNorm > 0) {
    norm = await globalNorm(grads);
    if (!Number.isFinite(norm)) {
      tf.dispose(grads);
      throw new Error(`training diverged: gradient norm is ${norm} (loss ${loss})`);
    }
    if (norm > clipNorm) {
      const scale = clipNorm / norm;
      applied = tf.tidy(() => Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, g.mul(scale)])));
      tf.dispose(grads);
    }
  }
  optimizer.applyGradients(applied);
  tf.dispose(applied);
  return norm;
}

/** √(Σ‖g‖²) over every gradient, as one number. */
async function globalNorm(grads: tf.NamedTensorMap): Promise<number> {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))));
  const value = (await norm.data())[0];
  norm.dispose();
  return value;
}

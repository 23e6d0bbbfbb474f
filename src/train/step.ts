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
    // Checked before the update so a bad batch cannot poison the weights.
    tf.dispose(grads);
    throw new Error(`training diverged: loss is ${values[0]} (focal ${values[1]}, distillation ${values[2]}, localization ${values[3]})`);
  }
  const losses: StepLosses = { total: values[0], focal: values[1], distillation: values[2], localization: values[3] };
  const clipNorm = options.clipNorm ?? 0;
  let applied = grads;
  if (clipNorm > 0) {
    const norm = await globalNorm(grads);
    losses.gradNorm = norm;
    if (!Number.isFinite(norm)) {
      tf.dispose(grads);
      throw new Error(`training diverged: gradient norm is ${norm} (loss ${values[0]})`);
    }
    if (norm > clipNorm) {
      const scale = clipNorm / norm;
      applied = tf.tidy(() => Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, g.mul(scale)])));
      tf.dispose(grads);
    }
  }
  optimizer.applyGradients(applied);
  tf.dispose(applied);
  return losses;
}

/** √(Σ‖g‖²) over every gradient, as one number. */
async function globalNorm(grads: tf.NamedTensorMap): Promise<number> {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))));
  const value = (await norm.data())[0];
  norm.dispose();
  return value;
}

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
}

/** Trainable variables of a detector, in a stable order (optimizer state follows this order). */
export function trainableVariables(detector: Detector): tf.Variable[] {
  return detector.model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * Runs one step and returns the loss terms. `images` are preprocessed [batch, size, size, 3];
 * `teacherProbs` [batch, anchors, classes] is needed unless the objective has no distillation term.
 */
export async function trainStep(
  detector: Detector,
  optimizer: tf.Optimizer,
  images: tf.Tensor4D,
  targets: BatchTargets,
  teacherProbs: tf.Tensor3D | undefined,
  objective: ObjectiveConfig,
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
  optimizer.applyGradients(grads);
  tf.dispose(grads);
  return { total: values[0], focal: values[1], distillation: values[2], localization: values[3] };
}

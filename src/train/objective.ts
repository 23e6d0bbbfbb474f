// The student objective L = FL + λ·D + L_loc, with D the chosen distillation loss (ADL by default).
import * as tf from '@tensorflow/tfjs';
import {
  adaptiveDistillationLoss,
  focalDistillationLoss,
  focalLoss,
  klDistillationLoss,
  smoothL1Loss,
} from '../losses/index.ts';
import type { DetectorOutput } from '../model/detector.ts';
import type { BatchTargets } from './targets.ts';

/** Which distillation term to add: the paper's ADL, its baselines, or none (plain detection training). */
export type DistillationKind = 'adl' | 'kld' | 'fdl' | 'none';

export interface ObjectiveConfig {
  distillation: DistillationKind;
  /** Weight λ of the distillation term. */
  lambda: number;
  focalAlpha: number;
  focalGamma: number;
  adlBeta: number;
  adlGamma: number;
  adlTheta: number;
  smoothL1Beta: number;
}

export const DEFAULT_OBJECTIVE: ObjectiveConfig = {
  distillation: 'adl',
  lambda: 1,
  focalAlpha: 0.25,
  focalGamma: 2,
  adlBeta: 1,
  adlGamma: 2,
  adlTheta: 1.8,
  smoothL1Beta: 0.11,
};

export interface LossTerms {
  total: tf.Scalar;
  focal: tf.Scalar;
  distillation: tf.Scalar;
  localization: tf.Scalar;
}

/**
 * Computes the loss terms of one batch. `teacherProbs` [batch, anchors, classes] is required unless the
 * distillation kind is 'none'. Call inside `tf.tidy`/`optimizer.minimize`; the result tensors are fresh.
 */
export function detectorObjective(output: DetectorOutput, targets: BatchTargets, teacherProbs: tf.Tensor3D | undefined, config: ObjectiveConfig): LossTerms {
  const mask = targets.valid;
  const focal = focalLoss(output.classLogits, targets.classTargets, { alpha: config.focalAlpha, gamma: config.focalGamma, mask });
  const localization = smoothL1Loss(output.boxDeltas, targets.boxTargets, targets.positive, { beta: config.smoothL1Beta });
  let distillation: tf.Scalar;
  if (config.distillation === 'none') {
    distillation = tf.scalar(0);
  } else {
    if (!teacherProbs) throw new Error(`distillation '${config.distillation}' needs teacher probabilities`);
    switch (config.distillation) {
      case 'adl':
        distillation = adaptiveDistillationLoss(output.classLogits, teacherProbs, { beta: config.adlBeta, gamma: config.adlGamma, theta: config.adlTheta, mask });
        break;
      case 'kld':
        distillation = klDistillationLoss(output.classLogits, teacherProbs, { theta: config.adlTheta, mask });
        break;
      case 'fdl':
        distillation = focalDistillationLoss(output.classLogits, teacherProbs, targets.classTargets, { gamma: config.adlGamma, theta: config.adlTheta, mask });
        break;
    }
  }
  const total = focal.add(localization).add(distillation.mul(config.lambda)) as tf.Scalar;
  return { total, focal, distillation, localization };
}

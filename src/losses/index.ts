// The losses of DESIGN §3 (FL, ADL, KLD, FDL, smooth-L1) and their elementwise helpers.
export { focalLoss, oneMinusPt, type FocalLossOptions } from './focal_loss.ts';
export {
  adaptiveDistillationLoss,
  adaptiveDistillationWeight,
  type AdaptiveDistillationLossOptions,
} from './adaptive_distillation_loss.ts';
export { klDistillationLoss, type KlDistillationLossOptions } from './kl_distillation_loss.ts';
export { focalDistillationLoss, type FocalDistillationLossOptions } from './focal_distillation_loss.ts';
export { smoothL1Loss, type SmoothL1LossOptions } from './smooth_l1_loss.ts';
export { klFromLogits, teacherEntropy, clampTeacherProbs, Q_EPS } from './kl_divergence.ts';
export { distillationNormaliser } from './distillation_normaliser.ts';
export { anchorShape, countPositiveAnchors } from './anchor_axes.ts';

// distillery's library API: the detector, the SAD losses, anchors and post-processing, COCO evaluation, backends.
//
// Typical use in your own TF.js training code:
//
//   import * as tf from '@tensorflow/tfjs';
//   import { initBackend, adaptiveDistillationLoss, focalLoss, evaluateCoco } from 'distillery';
//   await initBackend('wasm');                       // registers the training kernels tfjs-backend-wasm lacks
//   const loss = tf.tidy(() => focalLoss(logits, hard).add(adaptiveDistillationLoss(logits, teacherProbs)));
//   const metrics = evaluateCoco(groundTruth, detections);   // the twelve COCO numbers, pycocotools-exact
//
// Shapes follow the detector: class logits [batch, anchors, classes], box deltas [batch, anchors, 4],
// per-anchor masks [batch, anchors]. Boxes are [x1, y1, x2, y2] in model-input pixels unless stated.

// Compute backends: 'wasm' (default on CPU, with our training kernels), 'cpu', 'tensorflow' (tfjs-node, when installed).
export { initBackend, resolveBackendName, BACKEND_NAMES, BACKEND_ENV, DEFAULT_BACKEND, type BackendName, type BackendInfo, type BackendOptions } from './backend/backend.ts';
export { registerWasmTrainingKernels } from './backend/wasm/register.ts';

// Losses of DESIGN §3 (Tang et al. 2019): values and gradients match float64 references to 1e-4 relative.
export {
  focalLoss,
  adaptiveDistillationLoss,
  adaptiveDistillationWeight,
  klDistillationLoss,
  focalDistillationLoss,
  smoothL1Loss,
  klFromLogits,
  teacherEntropy,
  distillationNormaliser,
  type FocalLossOptions,
  type AdaptiveDistillationLossOptions,
  type KlDistillationLossOptions,
  type FocalDistillationLossOptions,
  type SmoothL1LossOptions,
} from './losses/index.ts';

// The detector: one builder for teacher and student sizes, TF.js save/load through any object store.
export { buildDetector, forward, preprocessImages, disposeLayersModel, type Detector, type DetectorOutput, type BuildOptions } from './model/detector.ts';
export {
  resolveDetectorConfig,
  detectorAnchorConfig,
  totalAnchors,
  TEACHER_PRESET,
  STUDENT_PRESET,
  PRESETS,
  type DetectorConfig,
  type DetectorOptions,
  type PresetName,
} from './model/detector_config.ts';
export { modelCost, type ModelCost } from './model/flops.ts';
export { saveDetector, loadDetector, storeIOHandler, type LoadedDetector } from './model/store_io.ts';

// Anchors, IoU, box coding and anchor assignment (positive ≥ 0.5, negative < 0.4, ignore between).
export { resolveAnchorConfig, anchorConfigsEqual, DEFAULT_ANCHOR_CONFIG, type AnchorConfig, type AnchorOptions } from './boxes/anchor_config.ts';
export { generateAnchors, type AnchorSet, type AnchorLevel, type LevelRange } from './boxes/anchors.ts';
export { iouMatrix, boxIou } from './boxes/iou.ts';
export { encodeBoxes, decodeBoxes, decodeBoxesTensor, type BoxCoderWeights } from './boxes/box_coder.ts';
export { assignAnchors, BACKGROUND, IGNORE, type AnchorAssignment, type AssignOptions } from './boxes/assign.ts';
export type { Box } from './boxes/box.ts';

// Post-processing: score threshold, top-k per level, class-wise NMS, max detections — batched and leak-free.
export { postprocess, type Detection, type PostprocessOptions, type NmsStrategy } from './postprocess/detections.ts';

// COCO evaluation (bbox), number-for-number with pycocotools.
export { evaluateCoco, COCO_STAT_NAMES, type CocoMetrics, type CocoEvalOptions, type CocoCategoryMetrics, type CocoStatName } from './eval/coco_eval.ts';
export { formatCocoSummary, formatCocoPerCategory } from './eval/coco_summary.ts';
export { toCocoResults, type InMemoryDetection } from './eval/coco_results.ts';
export {
  parseCocoGroundTruth,
  parseCocoDetections,
  CocoValidationError,
  type CocoGroundTruth,
  type CocoDetection,
  type CocoAnnotation,
  type CocoImage,
  type CocoCategory,
} from './eval/coco_types.ts';
export { categoryMap, type CategoryMap } from './eval/coco_categories.ts';

// Training pieces: batched anchor targets, the FL + λ·D + L_loc objective, one leak-free optimizer step.
export { buildTargets, disposeTargets, type BatchTargets, type ImageBoxes } from './train/targets.ts';
export { detectorObjective, DEFAULT_OBJECTIVE, type ObjectiveConfig, type DistillationKind, type LossTerms } from './train/objective.ts';
export { trainStep, trainableVariables, type StepLosses } from './train/step.ts';

// Object stores.
export { ObjectNotFoundError, listAll, joinKey, type ObjectStore, type ObjectInfo, type ListOptions, type ListPage } from './io/object_store.ts';
export { LocalStore, type LocalStoreOptions } from './io/local_store.ts';

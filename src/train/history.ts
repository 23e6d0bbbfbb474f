// What a training run records per step and per evaluation; saved in checkpoints and returned to callers.
import type { CocoMetrics } from '../eval/coco_eval.ts';
import type { StepLosses } from './step.ts';

export interface StepRecord {
  /** 1-based: the number of steps completed after this one. */
  step: number;
  lr: number;
  total: number;
  focal: number;
  distillation: number;
  localization: number;
  gradNorm?: number;
  /** Wall time of the step (batch assembly + forward/backward/update). */
  ms: number;
}

export interface EvalRecord {
  step: number;
  AP: number;
  AP50: number;
  AP75: number;
  APs: number;
  APm: number;
  APl: number;
  AR100: number;
  images: number;
  seconds: number;
}

export interface TrainHistory {
  steps: StepRecord[];
  evals: EvalRecord[];
}

export function emptyHistory(): TrainHistory {
  return { steps: [], evals: [] };
}

export function stepRecord(step: number, lr: number, losses: StepLosses, ms: number): StepRecord {
  const record: StepRecord = { step, lr, total: losses.total, focal: losses.focal, distillation: losses.distillation, localization: losses.localization, ms };
  if (losses.gradNorm !== undefined) record.gradNorm = losses.gradNorm;
  return record;
}

export function evalRecord(step: number, metrics: CocoMetrics, seconds: number): EvalRecord {
  const { AP, AP50, AP75, APs, APm, APl, AR100 } = metrics;
  return { step, AP, AP50, AP75, APs, APm, APl, AR100, images: metrics.numImages, seconds };
}

/** Mean total loss over the records with step in (from, to]. NaN when there are none. */
export function meanLoss(history: TrainHistory, from: number, to: number): number {
  const picked = history.steps.filter((r) => r.step > from && r.step <= to);
  return picked.reduce((a, r) => a + r.total, 0) / picked.length;
}

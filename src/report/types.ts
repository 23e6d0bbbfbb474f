// The input of the run report: everything the main job measured, in plain data (no tensors, no classes).
import type { Box } from '../boxes/box.ts';
import type { CocoStatName } from '../eval/coco_eval.ts';

/** The 12 COCO numbers (AP, AP50, …, ARl); -1 where pycocotools had nothing to average. `CocoMetrics` fits. */
export type CocoStats = Readonly<Record<CocoStatName, number>>;

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  /** `process.version`, e.g. 'v20.19.0'. */
  node: string;
  /** tfjs backend actually in use: 'wasm', 'cpu', 'tensorflow'. */
  backend: string;
  /** Threads the backend computes with (wasm XNNPACK threads; 1 for cpu; 0 when unknown). */
  threads: number;
  /** e.g. 'linux x64'. */
  platform?: string;
}

export interface CorpusSplitSummary {
  /** 'labeled' | 'test' | 'unlabeled', or any name a real data set uses. */
  split: string;
  images: number;
  /** Images without any ground-truth object; omitted when unknown (unlabeled data with no ground truth). */
  emptyImages?: number;
  /** Ground-truth boxes, when known. */
  annotations?: number;
}

export interface CorpusSummary {
  splits: CorpusSplitSummary[];
}

/** Images of one group and how many of them the filter kept (published as samples). */
export interface KeptCount {
  images: number;
  kept: number;
}

/**
 * What the teacher stage and its at-least-one-detection filter did. Shares are derived from these
 * counts by the report, so they cannot disagree with them.
 */
export interface FilterStats {
  /** Images the ingest stage published (all splits that went through the teacher). */
  imagesIngested: number;
  /** Samples the teacher published (labeled + kept unlabeled). */
  samples: number;
  /** Rejection records by reason, e.g. { 'no-detections': 412 }. */
  rejectedByReason: Readonly<Record<string, number>>;
  /** Messages any stage sent to the dead-letter queue. */
  dlq: number;
  /** Unlabeled images the teacher saw, and how many became samples. */
  unlabeled: KeptCount;
  /**
   * The same split by ground truth, when the unlabeled corpus has it (the synthetic benchmark does):
   * the filter should drop most truly empty images and keep most non-empty ones.
   */
  unlabeledByTruth?: { empty: KeptCount; nonEmpty: KeptCount };
  /** Hard-label score threshold τ the filter applied, when known. */
  scoreThreshold?: number;
}

export interface ModelReport {
  /** Short model id shown in tables, e.g. 'teacher-r18' (defaults to the role name). */
  name?: string;
  parameters: number;
  /** Forward-pass FLOPs per image (a multiply-add counts as 2), as `modelCost` reports. */
  flopsPerImage: number;
  /** Final COCO metrics on the test split. */
  metrics: CocoStats;
}

/** One optimizer step. `StepRecord` from train/history.ts fits (extra fields are ignored). */
export interface LossPoint {
  step: number;
  total: number;
  focal: number;
  distillation: number;
  localization: number;
  lr: number;
}

/** One rolling evaluation. `EvalRecord` from train/history.ts fits. */
export interface EvalPoint {
  step: number;
  AP: number;
  AP50: number;
}

export interface TrainingHistory {
  steps: readonly LossPoint[];
  evals: readonly EvalPoint[];
}

/** Where a student's weights started: random, the run's labeled-only baseline, or another saved model (store key). */
export type StudentInitReport = { from: 'random' } | { from: 'baseline' | 'model'; key: string };

export interface StudentReport extends ModelReport {
  history: TrainingHistory;
  /** Absent: not recorded (read as random weights). */
  init?: StudentInitReport;
}

/** A box to draw: ground truth has no score. */
export interface ReportBox {
  /** [x1, y1, x2, y2] in pixels of the image bytes it is drawn over. */
  box: Box | readonly [number, number, number, number];
  classId: number;
  score?: number;
}

export interface GridImage {
  /** Image id or object key, shown as the row caption. */
  id: string;
  /** Encoded image (JPEG unless `mime` says otherwise): the model input or the original. */
  bytes: Uint8Array;
  mime?: 'image/jpeg' | 'image/png' | 'image/webp';
  /** Pixel size of `bytes`; every box of this row is in these pixels. */
  width: number;
  height: number;
  groundTruth: readonly ReportBox[];
  teacher: readonly ReportBox[];
  baseline: readonly ReportBox[];
  distilled: readonly ReportBox[];
}

export interface ImageGrid {
  /** Indexed by `classId`. */
  classNames: readonly string[];
  images: readonly GridImage[];
  /** Detections below this score are not drawn (counted in the cell caption). Default 0.3. */
  minScore?: number;
  /** Rows shown at most. Default 12. */
  maxImages?: number;
}

export interface RunReport {
  runId: string;
  /** ISO-8601 timestamps. */
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  topology: { name: string; description: string };
  corpus: CorpusSummary;
  filter: FilterStats;
  models: {
    teacher: ModelReport;
    /** Trained on labeled data only, for the same number of steps as the distilled student. */
    baseline: StudentReport;
    /** Trained with SAD (FL + ADL + L_loc) on labeled + teacher-labeled data. */
    distilled: StudentReport;
  };
  grid: ImageGrid;
}

export const MODEL_ROLES = ['teacher', 'baseline', 'distilled'] as const;
export type ModelRole = (typeof MODEL_ROLES)[number];

export const MODEL_ROLE_LABELS: Readonly<Record<ModelRole, string>> = {
  teacher: 'teacher',
  baseline: 'baseline student',
  distilled: 'distilled student',
};

// model-card.json: where a trained detector came from and everything needed to run it without distillery.
import { z } from 'zod';
import type { AnchorConfig } from '../boxes/anchor_config.ts';
import { DEFAULT_BOX_WEIGHTS } from '../boxes/box_coder.ts';
import { PAD_VALUE } from '../image/letterbox.ts';
import type { ObjectiveConfig } from '../train/objective.ts';
import type { EvalRecord } from '../train/history.ts';
import type { ThresholdConfig } from '../topology/types.ts';
import { detectorAnchorConfig, totalAnchors, type DetectorConfig } from './detector_config.ts';
import type { ModelCost } from './flops.ts';

export const MODEL_CARD_FILE = 'model-card.json';
export const MODEL_CARD_VERSION = 1;

export interface ModelCard {
  v: number;
  name: string;
  /** 'graph-model' for `distillery export`, 'layers-model' for best/ (which needs the layers API to load). */
  format: 'graph-model' | 'layers-model';
  createdAt: string;
  /** The checkpoint the weights are from. */
  source: { checkpoint: string; step: number };
  /** The teacher models whose samples trained this student: id (`<name>@<checkpoint>`) and `sha256:` of the weight shards. */
  teachers: TeacherLineage[];
  /** Store key of the model the training started from (e.g. the labeled-only baseline); null: random weights. */
  initFrom: string | null;
  /** Post-processing and labeling thresholds of the run (null when unknown). */
  thresholds: ThresholdConfig | null;
  /** Loss terms and weights (λ, focal α/γ, ADL β/γ/θ) of the run (null when unknown). */
  loss: ObjectiveConfig | null;
  /** Optimizer steps done and the input positions (topic:partition → next offset) they consumed. */
  training: { steps: number; offsets: Record<string, string> };
  /** COCO AP etc. on the test split at `step` (null when never evaluated). */
  evaluation: (EvalRecord & { annotations?: string }) | null;
  parameters: number;
  flopsPerImage: number;
  detector: DetectorConfig;
  anchors: AnchorConfig;
  /** What the model takes: letterboxed RGB, NHWC float32, pixel / 127.5 − 1. */
  input: { size: number; layout: 'NHWC'; channels: 'RGB'; letterboxPadValue: number; scale: number; offset: number; name: string };
  /** What it returns: class logits (sigmoid → scores) and RetinaNet box deltas per anchor, anchors level by level. */
  outputs: { classLogits: { name: string; shape: [number, number, number] }; boxDeltas: { name: string; shape: [number, number, number]; coderWeights: readonly number[] } };
  /** Class index → COCO category id and name. */
  classes: Array<{ index: number; categoryId: number; name: string }>;
}

export interface TeacherLineage {
  /** `<config name>@<checkpoint prefix>`, as samples name their teacher; '' when only the hash is known. */
  id: string;
  hash: string;
}

export interface ModelCardInput {
  format: ModelCard['format'];
  detector: DetectorConfig;
  cost: ModelCost;
  checkpoint: string;
  step: number;
  teachers: TeacherLineage[];
  /** Absent: random weights (or unknown, for checkpoints that predate recording it). */
  initFrom?: string;
  thresholds: ThresholdConfig | undefined;
  loss: ObjectiveConfig | undefined;
  offsets: Record<string, string>;
  evaluation: (EvalRecord & { annotations?: string }) | undefined;
  /** From the test split's categories; default ids index + 1 and names "class <index>". */
  categories?: { categoryIds: readonly number[]; names: readonly string[] };
}

/** Assembles a card; `inputName`/output names are the detector's layer names, shared by the layers and graph forms. */
export function buildModelCard(input: ModelCardInput): ModelCard {
  const d = input.detector;
  const anchors = totalAnchors(d);
  const classes = Array.from({ length: d.numClasses }, (_, index) => ({
    index,
    categoryId: input.categories?.categoryIds[index] ?? index + 1,
    name: input.categories?.names[index] ?? `class ${index}`,
  }));
  return {
    v: MODEL_CARD_VERSION,
    name: d.name,
    format: input.format,
    createdAt: new Date().toISOString(),
    source: { checkpoint: input.checkpoint, step: input.step },
    teachers: input.teachers.map((t) => ({ ...t })),
    initFrom: input.initFrom ?? null,
    thresholds: input.thresholds ?? null,
    loss: input.loss ?? null,
    training: { steps: input.step, offsets: { ...input.offsets } },
    evaluation: input.evaluation ?? null,
    parameters: input.cost.parameters,
    flopsPerImage: input.cost.flopsPerImage,
    detector: d,
    anchors: detectorAnchorConfig(d),
    input: { size: d.inputSize, layout: 'NHWC', channels: 'RGB', letterboxPadValue: PAD_VALUE, scale: 1 / 127.5, offset: -1, name: 'image' },
    outputs: {
      classLogits: { name: 'class_logits', shape: [-1, anchors, d.numClasses] },
      boxDeltas: { name: 'box_deltas', shape: [-1, anchors, 4], coderWeights: DEFAULT_BOX_WEIGHTS },
    },
    classes,
  };
}

const cardSchema = z
  .object({
    v: z.literal(MODEL_CARD_VERSION),
    name: z.string(),
    detector: z.record(z.string(), z.unknown()),
    classes: z.array(z.object({ index: z.number().int().min(0), categoryId: z.number().int(), name: z.string() })),
  })
  .loose();

/** Checks the fields readers rely on; the rest is informational and kept as written. */
export function parseModelCard(raw: unknown, where: string): ModelCard {
  const parsed = cardSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${where}: invalid model card: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data as unknown as ModelCard;
}

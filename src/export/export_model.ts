// Student checkpoint → self-contained TF.js graph model + model-card.json (what `distillery export` writes).
import { z } from 'zod';
import type { CategoryMap } from '../eval/coco_categories.ts';
import { evaluateDetector } from '../eval/evaluate_detector.ts';
import { joinKey, listAll, type ObjectStore } from '../io/object_store.ts';
import { disposeLayersModel } from '../model/detector.ts';
import { modelCost } from '../model/flops.ts';
import { toGraphModel } from '../model/graph_model.ts';
import { buildModelCard, MODEL_CARD_FILE, parseModelCard, type ModelCard, type TeacherLineage } from '../model/model_card.ts';
import { distilleryMetadata, loadDetector, storeIOHandler, type LoadedDetector } from '../model/store_io.ts';
import type { ThresholdConfig } from '../topology/types.ts';
import { readLatest } from '../train/checkpoint.ts';
import { loadCocoDataset } from '../train/dataset.ts';
import { evalRecord, type EvalRecord } from '../train/history.ts';
import type { ObjectiveConfig } from '../train/objective.ts';

/** What export knows about a checkpoint besides its weights. */
export interface CheckpointLineage {
  /** Key of the folder holding model.json. */
  dir: string;
  step: number;
  offsets: Record<string, string>;
  teachers: TeacherLineage[];
  initFrom: string | undefined;
  thresholds: ThresholdConfig | undefined;
  loss: ObjectiveConfig | undefined;
  /** The evaluation at exactly this step, if the run made one. */
  evaluation: (EvalRecord & { annotations?: string }) | undefined;
  /** A card already beside the weights (best/). */
  card: ModelCard | undefined;
}

const stateSchema = z
  .object({
    step: z.number().int().min(0),
    offsets: z.record(z.string(), z.string()).default({}),
    history: z.object({ evals: z.array(z.object({ step: z.number() }).loose()).default([]) }).loose().optional(),
    extra: z
      .object({
        teachers: z.array(z.string()).optional(),
        teacherModels: z.array(z.object({ id: z.string(), hash: z.string() })).optional(),
        initFrom: z.string().optional(),
        thresholds: z.record(z.string(), z.number()).optional(), loss: z.record(z.string(), z.unknown()).optional() })
      .loose()
      .optional(),
  })
  .loose();

async function readJsonIfPresent(store: ObjectStore, key: string): Promise<unknown> {
  if ((await store.head(key)) === undefined) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(await store.get(key)));
  } catch (err) {
    throw new Error(`${store.describe()}/${key}: not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Reads the lineage of the checkpoint at `prefix`: a checkpoint prefix (latest.json), one `step-<n>` folder
 * (state.json) or a best/ folder (model-card.json). A bare model.json without either is refused: export is for
 * students trained here, whose provenance the card must state.
 */
export async function readCheckpointLineage(store: ObjectStore, prefix: string): Promise<CheckpointLineage> {
  let dir = prefix;
  if ((await store.head(joinKey(dir, 'model.json'))) === undefined) {
    const latest = await readLatest(store, prefix);
    if (latest === undefined) throw new Error(`${store.describe()}/${prefix || '.'}: not a checkpoint (no model.json, no latest.json)`);
    dir = joinKey(prefix, latest.dir);
  }
  const cardRaw = await readJsonIfPresent(store, joinKey(dir, MODEL_CARD_FILE));
  if (cardRaw !== undefined) {
    const card = parseModelCard(cardRaw, `${store.describe()}/${joinKey(dir, MODEL_CARD_FILE)}`);
    return {
      dir,
      step: card.source.step,
      offsets: card.training.offsets,
      teachers: card.teachers,
      initFrom: card.initFrom ?? undefined,
      thresholds: card.thresholds ?? undefined,
      loss: card.loss ?? undefined,
      evaluation: card.evaluation ?? undefined,
      card,
    };
  }
  const stateKey = joinKey(dir, 'state.json');
  const raw = await readJsonIfPresent(store, stateKey);
  if (raw === undefined) throw new Error(`${store.describe()}/${dir}: model.json without state.json or model-card.json; export takes a student checkpoint`);
  const parsed = stateSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${store.describe()}/${stateKey}: invalid checkpoint state: ${parsed.error.issues[0].message}`);
  const state = parsed.data;
  const atStep = state.history?.evals.find((e) => e.step === state.step) as EvalRecord | undefined;
  return {
    dir,
    step: state.step,
    offsets: state.offsets,
    // Checkpoints before teacherModels was recorded know the hashes only.
    teachers: state.extra?.teacherModels ?? (state.extra?.teachers ?? []).map((hash) => ({ id: '', hash })),
    initFrom: state.extra?.initFrom,
    thresholds: state.extra?.thresholds as ThresholdConfig | undefined,
    loss: state.extra?.loss as ObjectiveConfig | undefined,
    evaluation: atStep,
    card: undefined,
  };
}

export interface ExportOptions {
  /** Evaluate on this COCO split (store key) when the checkpoint has no AP for its step, or always with `forceEval`. */
  testAnnotations?: { store: ObjectStore; key: string };
  forceEval?: boolean;
  /** Fill-ins for checkpoints that predate recording them (from the topology). */
  thresholds?: ThresholdConfig;
  loss?: ObjectiveConfig;
  onEvalProgress?: (done: number, total: number) => void;
}

export interface ExportResult {
  card: ModelCard;
  /** Keys written under the output prefix. */
  files: string[];
}

/** Loads the checkpoint, evaluates it if needed, writes `<out>/model.json` + shards (graph model), then the card. */
export async function exportStudent(src: ObjectStore, prefix: string, out: ObjectStore, outPrefix: string, options: ExportOptions = {}): Promise<ExportResult> {
  const lineage = await readCheckpointLineage(src, prefix);
  const detector = await loadDetector(src, lineage.dir);
  try {
    let evaluation = lineage.evaluation;
    let categories: CategoryMap | undefined;
    if (options.testAnnotations !== undefined && (evaluation === undefined || options.forceEval === true)) {
      const { store, key } = options.testAnnotations;
      const test = await loadCocoDataset(store, key, { inputSize: detector.config.inputSize, onProgress: options.onEvalProgress });
      categories = test.categories;
      const t = lineage.thresholds ?? options.thresholds;
      const result = await evaluateDetector(detector, test, {
        postprocess: t === undefined ? undefined : { scoreThreshold: t.candidate, topKPerLevel: t.topKPerLevel, nmsIou: t.nmsIou, maxDetections: t.maxDetections },
      });
      evaluation = { ...evalRecord(lineage.step, result.metrics, result.seconds), annotations: key };
    }
    const card = buildModelCard({
      format: 'graph-model',
      detector: detector.config,
      cost: modelCost(detector.model),
      // Where the weights came from, store included (a local path or s3://bucket/key).
      checkpoint: lineage.card?.source.checkpoint ?? `${src.describe().replace(/\/+$/, '')}/${lineage.dir}`,
      step: lineage.step,
      teachers: lineage.teachers,
      initFrom: lineage.initFrom,
      thresholds: lineage.thresholds ?? options.thresholds,
      loss: lineage.loss ?? options.loss,
      offsets: lineage.offsets,
      evaluation,
      categories:
        categories ??
        (lineage.card === undefined ? undefined : { categoryIds: lineage.card.classes.map((c) => c.categoryId), names: lineage.card.classes.map((c) => c.name) }),
    });
    const files = await writeGraphModel(detector, card, out, outPrefix);
    return { card, files };
  } finally {
    disposeLayersModel(detector.model);
  }
}

async function writeGraphModel(detector: LoadedDetector, card: ModelCard, out: ObjectStore, outPrefix: string): Promise<string[]> {
  const graph = await toGraphModel(detector.model);
  const handler = storeIOHandler(out, outPrefix);
  await handler.save?.({
    format: 'graph-model',
    generatedBy: 'distillery export: GraphDef written from the layers model',
    convertedBy: 'distillery export',
    modelTopology: graph.modelTopology,
    signature: graph.signature,
    weightSpecs: graph.weightSpecs,
    weightData: graph.weightData,
    userDefinedMetadata: distilleryMetadata(detector.config, { step: card.source.step }) as Record<string, object>,
  });
  // The card goes last: its presence marks a complete export.
  await out.put(joinKey(outPrefix, MODEL_CARD_FILE), JSON.stringify(card, null, 2), { contentType: 'application/json' });
  const files: string[] = [];
  for await (const obj of listAll(out, outPrefix)) files.push(obj.key);
  return files;
}

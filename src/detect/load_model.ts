// Opens whatever detector lives at a store prefix: a saved layers model (teacher, best/), a checkpoint folder (latest.json) or an exported graph model.
import * as tf from '@tensorflow/tfjs';
import { joinKey, type ObjectStore } from '../io/object_store.ts';
import { BOX_OUTPUT, CLASS_OUTPUT, disposeLayersModel, forward, type DetectorOutput } from '../model/detector.ts';
import { resolveDetectorConfig, type DetectorConfig } from '../model/detector_config.ts';
import { loadDetector, storeIOHandler } from '../model/store_io.ts';
import { readLatest } from '../train/checkpoint.ts';
import { MODEL_CARD_FILE, parseModelCard, type ModelCard } from '../model/model_card.ts';

export type ModelKind = 'layers-model' | 'graph-model';

/** A detector ready for inference, whatever format it was stored in. */
export interface DetectionModel {
  kind: ModelKind;
  config: DetectorConfig;
  /** Key prefix the weights were read from (a checkpoint's `step-<n>` folder when given the checkpoint prefix). */
  prefix: string;
  /** The model card beside the weights, when there is one (export and best/ write it). */
  card: ModelCard | undefined;
  /** Raw head outputs for preprocessed images [batch, size, size, 3]; the caller disposes them. */
  predict(images: tf.Tensor4D): DetectorOutput;
  dispose(): void;
}

interface ModelJsonHead {
  format?: string;
  userDefinedMetadata?: { distillery?: { detector?: unknown } };
}

async function readJson(store: ObjectStore, key: string): Promise<unknown> {
  const text = new TextDecoder().decode(await store.get(key));
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${store.describe()}/${key} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Finds the model under `prefix`: `model.json` there (layers or graph model), or the checkpoint `latest.json`
 * points to. A missing model is an error naming what was looked for.
 */
export async function loadDetectionModel(store: ObjectStore, prefix: string): Promise<DetectionModel> {
  let dir = prefix;
  if ((await store.head(joinKey(dir, 'model.json'))) === undefined) {
    const latest = await readLatest(store, prefix);
    if (latest === undefined) {
      throw new Error(`${store.describe()}/${prefix || '.'}: no model here (neither model.json nor a checkpoint latest.json)`);
    }
    dir = joinKey(prefix, latest.dir);
  }
  const head = (await readJson(store, joinKey(dir, 'model.json'))) as ModelJsonHead;
  const cardKey = joinKey(dir, MODEL_CARD_FILE);
  const card = (await store.head(cardKey)) === undefined ? undefined : parseModelCard(await readJson(store, cardKey), `${store.describe()}/${cardKey}`);
  if (head.format === 'graph-model') {
    const saved = head.userDefinedMetadata?.distillery?.detector ?? card?.detector;
    if (saved === undefined) throw new Error(`${store.describe()}/${dir}: graph model without a detector config (no distillery metadata, no model card)`);
    const config = resolveDetectorConfig(saved as Partial<DetectorConfig>);
    const graph = await tf.loadGraphModel(storeIOHandler(store, dir));
    return {
      kind: 'graph-model',
      config,
      prefix: dir,
      card,
      predict: (images) => {
        const [classLogits, boxDeltas] = graph.execute(images, [CLASS_OUTPUT, BOX_OUTPUT]) as tf.Tensor[];
        return { classLogits: classLogits as tf.Tensor3D, boxDeltas: boxDeltas as tf.Tensor3D };
      },
      dispose: () => graph.dispose(),
    };
  }
  const detector = await loadDetector(store, dir);
  return {
    kind: 'layers-model',
    config: detector.config,
    prefix: dir,
    card,
    predict: (images) => forward(detector, images),
    dispose: () => disposeLayersModel(detector.model),
  };
}

// Saves and loads detectors in the TF.js format (model.json + weight shards) through any ObjectStore.
import * as tf from '@tensorflow/tfjs';
import type { ObjectStore } from '../io/object_store.ts';
import { joinKey } from '../io/object_store.ts';
import { resolveDetectorConfig, type DetectorConfig } from './detector_config.ts';
import { disposeLayersModel, type Detector } from './detector.ts';

/** TF.js's own converter writes 4 MB shards; we do the same so converted and native models look alike. */
const SHARD_BYTES = 4 * 1024 * 1024;
const METADATA_KEY = 'distillery';
const METADATA_VERSION = 1;

interface DistilleryMetadata {
  version: number;
  detector: DetectorConfig;
  [extra: string]: unknown;
}

export interface StoreIOOptions {
  /** Shard files are `<shardPrefix>-shardNofM.bin`. Default 'group1', as TF.js names them. */
  shardPrefix?: string;
}

/** An IOHandler that writes `<prefix>/model.json` and `<prefix>/group1-shardNofM.bin` to a store. */
export function storeIOHandler(store: ObjectStore, prefix: string, options: StoreIOOptions = {}): tf.io.IOHandler {
  const modelKey = joinKey(prefix, 'model.json');
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('storeIOHandler: binary model topologies are not supported');
      }
      const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const shardCount = Math.max(1, Math.ceil(weights.byteLength / SHARD_BYTES));
      const paths: string[] = [];
      for (let i = 0; i < shardCount; i++) {
        const name = `${options.shardPrefix ?? 'group1'}-shard${i + 1}of${shardCount}.bin`;
        paths.push(name);
        const shard = new Uint8Array(weights, i * SHARD_BYTES, Math.min(SHARD_BYTES, weights.byteLength - i * SHARD_BYTES));
        await store.put(joinKey(prefix, name), shard, { contentType: 'application/octet-stream' });
      }
      const modelJson = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths, weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.signature ? { signature: artifacts.signature } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      // model.json goes last: its presence marks a complete checkpoint.
      await store.put(modelKey, JSON.stringify(modelJson), { contentType: 'application/json' });
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: weights.byteLength,
        },
      };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const text = new TextDecoder().decode(await store.get(modelKey));
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(text) as tf.io.ModelJSON;
      } catch (err) {
        throw new Error(`${store.describe()}/${modelKey} is not valid JSON: ${(err as Error).message}`);
      }
      if (json.modelTopology === undefined || !Array.isArray(json.weightsManifest)) {
        throw new Error(`${store.describe()}/${modelKey} is not a TF.js model.json (modelTopology / weightsManifest missing)`);
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          for (const p of group.paths) {
            const bytes = await store.get(joinKey(prefix, p));
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
        }
        return [manifest.flatMap((g) => g.weights), tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

/** Saves a detector with its config in the model's metadata, so loading needs nothing else. */
export async function saveDetector(
  detector: Detector,
  store: ObjectStore,
  prefix: string,
  extraMetadata: Record<string, unknown> = {},
  options: StoreIOOptions = {},
): Promise<void> {
  detector.model.setUserDefinedMetadata(distilleryMetadata(detector.config, extraMetadata));
  await detector.model.save(storeIOHandler(store, prefix, options));
}

/** The `userDefinedMetadata` distillery models carry: the detector config, so loading needs nothing else. */
export function distilleryMetadata(config: DetectorConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const metadata: DistilleryMetadata = { ...extra, version: METADATA_VERSION, detector: config };
  return { [METADATA_KEY]: metadata };
}

export interface LoadedDetector extends Detector {
  /** The distillery metadata stored beside the weights (extra fields included). */
  metadata: Record<string, unknown>;
}

/**
 * Loads a detector saved by `saveDetector`, or any TF.js layers model whose outputs follow our layout when
 * `config` (its anchor layout and sizes) is given — e.g. a teacher trained elsewhere and converted.
 */
export async function loadDetector(store: ObjectStore, prefix: string, config?: DetectorConfig): Promise<LoadedDetector> {
  const model = await tf.loadLayersModel(storeIOHandler(store, prefix));
  const meta = model.getUserDefinedMetadata() as Record<string, unknown> | undefined;
  const ours = meta?.[METADATA_KEY] as DistilleryMetadata | undefined;
  const resolved = config ?? (ours ? resolveDetectorConfig(ours.detector) : undefined);
  if (!resolved) {
    disposeLayersModel(model);
    throw new Error(`${store.describe()}/${prefix}: model has no distillery metadata; pass its detector/anchor config explicitly`);
  }
  const [cls, box] = model.outputs.map((o) => o.shape);
  if (model.outputs.length !== 2 || cls.length !== 3 || box.length !== 3 || cls[2] !== resolved.numClasses || box[2] !== 4) {
    disposeLayersModel(model);
    throw new Error(
      `${store.describe()}/${prefix}: expected outputs [batch, anchors, ${resolved.numClasses}] and [batch, anchors, 4], got ${JSON.stringify(model.outputs.map((o) => o.shape))}`,
    );
  }
  return { config: resolved, model, metadata: { ...(ours ?? {}) } };
}

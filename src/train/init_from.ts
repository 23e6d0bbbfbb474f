// Starting a training run from a saved model (a model.json folder or a checkpoint prefix) of the same architecture.
import { joinKey, type ObjectStore } from '../io/object_store.ts';
import { disposeLayersModel, type Detector } from '../model/detector.ts';
import type { DetectorConfig } from '../model/detector_config.ts';
import { loadDetector } from '../model/store_io.ts';
import { readLatest } from './checkpoint.ts';

/** The fields that decide the weights' shapes and meaning; the name and the head's prior (an initializer) do not. */
const ARCHITECTURE_FIELDS = [
  'numClasses',
  'inputSize',
  'stemChannels',
  'stageChannels',
  'blocksPerStage',
  'fpnChannels',
  'headDepth',
  'levels',
  'anchorSizeFactor',
  'anchorRatios',
  'anchorScalesPerOctave',
] as const satisfies readonly (keyof DetectorConfig)[];

export interface InitDetector {
  /** The loaded weights; the caller owns (and disposes) `detector.model`. */
  detector: Detector;
  /** Folder key the weights came from: `<prefix>` itself, or the checkpoint folder its latest.json names. */
  dir: string;
}

/** `field: saved X, wanted Y` for every architecture field that differs (empty when the two fit). */
export function architectureDifferences(saved: DetectorConfig, wanted: DetectorConfig): string[] {
  return ARCHITECTURE_FIELDS.filter((f) => JSON.stringify(saved[f]) !== JSON.stringify(wanted[f])).map(
    (f) => `${f}: saved ${JSON.stringify(saved[f])}, wanted ${JSON.stringify(wanted[f])}`,
  );
}

/** Throws a one-line error naming every architecture field where the saved model `what` differs from `wanted`. */
export function assertSameArchitecture(saved: DetectorConfig, wanted: DetectorConfig, what: string): void {
  const differences = architectureDifferences(saved, wanted);
  if (differences.length > 0) throw new Error(`${what} holds '${saved.name}', not the architecture to train ('${wanted.name}'): ${differences.join('; ')}`);
}

/**
 * Loads the model under `prefix` to start training from: `<prefix>/model.json` (a saved model) or else the checkpoint
 * `<prefix>/latest.json` points to. Throws a one-line error when there is none or its architecture is not `wanted`'s.
 */
export async function loadInitDetector(store: ObjectStore, prefix: string, wanted: DetectorConfig): Promise<InitDetector> {
  const dir = await savedModelDir(store, prefix);
  if (dir === undefined) throw new Error(`initFrom: no saved model at ${store.describe()}/${prefix} (neither model.json nor a checkpoint's latest.json)`);
  const detector = await loadDetector(store, dir);
  try {
    assertSameArchitecture(detector.config, wanted, `initFrom: ${store.describe()}/${dir}`);
  } catch (error) {
    disposeLayersModel(detector.model);
    throw error;
  }
  return { detector, dir };
}

/** The folder of the model saved under `prefix`: `prefix` itself (model.json), or the checkpoint its latest.json names. */
export async function savedModelDir(store: ObjectStore, prefix: string): Promise<string | undefined> {
  if ((await store.head(joinKey(prefix, 'model.json'))) !== undefined) return prefix;
  const latest = await readLatest(store, prefix);
  return latest === undefined ? undefined : joinKey(prefix, latest.dir);
}

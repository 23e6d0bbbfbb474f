// A saved detector's weights in the same architecture at another input size: convolutions and the heads do not depend
// on the image size, only the anchor grid does. Used to fine-tune a teacher at a higher resolution from one trained
// at a lower one (docs/results.md, "A teacher at 256 px").
import { joinKey, type ObjectStore } from '../io/object_store.ts';
import { buildDetector, disposeLayersModel } from './detector.ts';
import { resolveDetectorConfig, type DetectorConfig } from './detector_config.ts';
import { loadDetector, saveDetector } from './store_io.ts';

export interface ResizeOptions {
  inputSize: number;
  /**
   * Anchor base size ÷ stride at the new size. Absent: the saved model's, scaled by the size ratio, so an object that
   * grows with the image is still assigned to the pyramid level (and the anchors) it was trained on.
   */
  anchorSizeFactor?: number;
}

/** Writes the model under `from` to `to` at `options.inputSize`, with the same weights; returns the new config. */
export async function resizeDetector(store: ObjectStore, from: string, to: string, options: ResizeOptions): Promise<DetectorConfig> {
  if ((await store.head(joinKey(to, 'model.json'))) !== undefined) {
    throw new Error(`${store.describe()}/${to}/model.json exists: choose another --out, or delete it first`);
  }
  const source = await loadDetector(store, from);
  try {
    const old = source.config;
    const anchorSizeFactor = options.anchorSizeFactor ?? (old.anchorSizeFactor * options.inputSize) / old.inputSize;
    const config = resolveDetectorConfig({ ...old, inputSize: options.inputSize, anchorSizeFactor });
    const target = buildDetector(config);
    try {
      const weights = source.model.getWeights();
      target.model.setWeights(weights);
      await saveDetector(target, store, to, { resizedFrom: { key: from, inputSize: old.inputSize, anchorSizeFactor: old.anchorSizeFactor } });
      return config;
    } finally {
      disposeLayersModel(target.model);
    }
  } finally {
    disposeLayersModel(source.model);
  }
}

// One loader for every stored detector: a layers model folder, a checkpoint prefix (latest.json) and a graph model with its card.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { loadDetectionModel } from '../../src/detect/load_model.ts';
import { buildDetector, disposeLayersModel, forward } from '../../src/model/detector.ts';
import { toGraphModel } from '../../src/model/graph_model.ts';
import { modelCost } from '../../src/model/flops.ts';
import { buildModelCard, MODEL_CARD_FILE } from '../../src/model/model_card.ts';
import { distilleryMetadata, saveDetector, storeIOHandler } from '../../src/model/store_io.ts';
import { ResumableAdam } from '../../src/train/adam.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';
import { emptyHistory } from '../../src/train/history.ts';
import { TINY_DETECTOR, tempStore } from '../train/fixtures.ts';

await initBackend('cpu');

test('layers folder, checkpoint prefix and graph model all load and compute the same outputs', async () => {
  const { store, cleanup } = await tempStore();
  const detector = buildDetector(TINY_DETECTOR, { seed: 9 });
  const optimizer = new ResumableAdam({ learningRate: 1e-3 });
  try {
    await saveDetector(detector, store, 'plain');
    await saveCheckpoint(store, 'ckpt', detector, optimizer, { step: 3, offsets: {}, rng: {}, history: emptyHistory() });
    const graph = await toGraphModel(detector.model);
    await storeIOHandler(store, 'graph').save?.({ format: 'graph-model', ...graph, userDefinedMetadata: distilleryMetadata(detector.config) as Record<string, object> });
    const card = buildModelCard({ format: 'graph-model', detector: detector.config, cost: modelCost(detector.model), checkpoint: 'ckpt', step: 3, teachers: [], thresholds: undefined, loss: undefined, offsets: {}, evaluation: undefined });
    await store.put(`graph/${MODEL_CARD_FILE}`, JSON.stringify(card));

    const x = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const ref = forward(detector, x);
    const before = tf.memory().numTensors;
    for (const [prefix, kind, dir] of [['plain', 'layers-model', 'plain'], ['ckpt', 'layers-model', 'ckpt/step-3'], ['graph', 'graph-model', 'graph']] as const) {
      const model = await loadDetectionModel(store, prefix);
      assert.deepEqual([model.kind, model.prefix, model.config], [kind, dir, detector.config], prefix);
      assert.equal(model.card?.source.step, prefix === 'graph' ? 3 : undefined);
      const out = model.predict(x);
      const diff = tf.tidy(() => tf.maximum(out.classLogits.sub(ref.classLogits).abs().max(), out.boxDeltas.sub(ref.boxDeltas).abs().max()));
      assert.ok((await diff.data())[0] < 1e-5, prefix);
      tf.dispose([out.classLogits, out.boxDeltas, diff]);
      model.dispose();
      assert.equal(tf.memory().numTensors, before, `${prefix}: dispose frees every weight`);
    }
    tf.dispose([x, ref.classLogits, ref.boxDeltas]);

    await assert.rejects(loadDetectionModel(store, 'nothing'), /no model here \(neither model\.json nor a checkpoint latest\.json\)/);
    await store.put(`plain/${MODEL_CARD_FILE}`, JSON.stringify({ v: 1, name: 'x' }));
    await assert.rejects(loadDetectionModel(store, 'plain'), /invalid model card: detector/);
  } finally {
    optimizer.dispose();
    disposeLayersModel(detector.model);
    await cleanup();
  }
});

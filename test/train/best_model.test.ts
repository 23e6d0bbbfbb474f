// best/ replacement: shards named by step, card then manifest written last, previous shards kept for readers mid-load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { loadDetectionModel } from '../../src/detect/load_model.ts';
import { listAll, type ObjectStore } from '../../src/io/object_store.ts';
import { buildDetector, disposeLayersModel } from '../../src/model/detector.ts';
import { modelCost } from '../../src/model/flops.ts';
import { buildModelCard } from '../../src/model/model_card.ts';
import { BEST_DIR, readBestCard, saveBestModel } from '../../src/train/best_model.ts';
import { TINY_DETECTOR, tempStore } from './fixtures.ts';

await initBackend('cpu');

function cardAt(step: number, detector: ReturnType<typeof buildDetector>): ReturnType<typeof buildModelCard> {
  return buildModelCard({
    format: 'layers-model',
    detector: detector.config,
    cost: modelCost(detector.model),
    checkpoint: 'runs/x/student',
    step,
    teachers: [],
    thresholds: undefined,
    loss: undefined,
    offsets: {},
    evaluation: undefined,
  });
}

/** Records the keys put, in order. */
function recording(store: ObjectStore, puts: string[]): ObjectStore {
  return {
    get: (k) => store.get(k),
    head: (k) => store.head(k),
    list: (p, o) => store.list(p, o),
    delete: (k) => store.delete(k),
    describe: () => store.describe(),
    put: async (k, b, o) => {
      puts.push(k);
      await store.put(k, b, o);
    },
  };
}

test('each promotion writes shards, then the card, then model.json; keeps the previous shards and deletes older ones', async () => {
  const { store, cleanup } = await tempStore();
  const detector = buildDetector(TINY_DETECTOR, { seed: 2 });
  try {
    for (const step of [10, 20, 30]) {
      const puts: string[] = [];
      await saveBestModel(recording(store, puts), 'run', detector, cardAt(step, detector));
      assert.deepEqual(puts, [`run/${BEST_DIR}/step-${step}-shard1of1.bin`, `run/${BEST_DIR}/model-card.json`, `run/${BEST_DIR}/model.json`]);
    }
    const keys: string[] = [];
    for await (const o of listAll(store, `run/${BEST_DIR}/`)) keys.push(o.key.slice(`run/${BEST_DIR}/`.length));
    assert.deepEqual(keys.sort(), ['model-card.json', 'model.json', 'step-20-shard1of1.bin', 'step-30-shard1of1.bin']);
    assert.equal((await readBestCard(store, 'run'))?.source.step, 30);
    assert.equal(await readBestCard(store, 'elsewhere'), undefined);

    const before = tf.memory().numTensors;
    const model = await loadDetectionModel(store, `run/${BEST_DIR}`);
    assert.equal(model.kind, 'layers-model');
    assert.equal(model.card?.source.step, 30);
    const [a, b] = tf.tidy(() => {
      const x = tf.zeros([1, TINY_DETECTOR.inputSize, TINY_DETECTOR.inputSize, 3]) as tf.Tensor4D;
      const out = model.predict(x);
      const ref = detector.model.predict(x) as tf.Tensor[];
      return [out.classLogits.sub(ref[0]).abs().max(), out.boxDeltas.sub(ref[1]).abs().max()];
    });
    assert.deepEqual([(await a.data())[0], (await b.data())[0]], [0, 0], 'best/ holds the promoted weights');
    tf.dispose([a, b]);
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  } finally {
    disposeLayersModel(detector.model);
    await cleanup();
  }
});

// Batched detection keeps input order across batches, reports bad images in place, and leaves no tensors behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { detectImages, type DetectResult } from '../../src/detect/detect_images.ts';
import { loadDetectionModel } from '../../src/detect/load_model.ts';
import { buildDetector, disposeLayersModel } from '../../src/model/detector.ts';
import { saveDetector } from '../../src/model/store_io.ts';
import { makeScenes, renderJpeg, TINY_DETECTOR, tempStore } from '../train/fixtures.ts';

await initBackend('cpu');

test('results come in input order with errors in place; boxes lie inside each original image', async () => {
  const { store, cleanup } = await tempStore();
  const detector = buildDetector(TINY_DETECTOR, { seed: 4 });
  try {
    await saveDetector(detector, store, 'model');
    const scenes = makeScenes(4);
    for (const s of scenes) await store.put(`in/${s.id}.jpg`, await renderJpeg(s));
    await store.put('in/empty.jpg', new Uint8Array(0));
    await store.put('in/text.jpg', 'not an image');
    const names = ['1.jpg', 'empty.jpg', '2.jpg', 'missing.jpg', '3.jpg', 'text.jpg', '4.jpg'];
    const model = await loadDetectionModel(store, 'model');
    const before = tf.memory().numTensors;
    const results: DetectResult[] = [];
    // A near-zero threshold so the random model yields boxes to check.
    for await (const r of detectImages(model, names.map((name) => ({ store, key: `in/${name}`, name })), { batchSize: 3, postprocess: { scoreThreshold: 0.001 } })) results.push(r);
    assert.equal(tf.memory().numTensors, before, 'no tensors leak across batches');
    model.dispose();

    assert.deepEqual(
      results.map((r) => [r.source.name, r.kind === 'error' ? r.reason : 'image']),
      [
        ['1.jpg', 'image'],
        ['empty.jpg', 'empty-object'],
        ['2.jpg', 'image'],
        ['missing.jpg', 'missing-object'],
        ['3.jpg', 'image'],
        ['text.jpg', 'not-an-image'],
        ['4.jpg', 'image'],
      ],
    );
    const images = results.filter((r): r is Extract<DetectResult, { kind: 'image' }> => r.kind === 'image');
    assert.ok(images.some((r) => r.detections.length > 0));
    for (const r of images) {
      const scene = scenes.find((s) => `${s.id}.jpg` === r.source.name);
      assert.deepEqual([r.width, r.height], [scene?.width, scene?.height]);
      for (const d of r.detections) assert.ok(d.box[0] >= 0 && d.box[1] >= 0 && d.box[2] <= r.width && d.box[3] <= r.height && d.score > 0.001);
    }
    await assert.rejects(async () => {
      for await (const _ of detectImages(model, [], { batchSize: 0 })) void _;
    }, /batchSize must be a positive integer/);
  } finally {
    disposeLayersModel(detector.model);
    await cleanup();
  }
});

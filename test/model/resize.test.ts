import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { LocalStore } from '../../src/io/local_store.ts';
import { buildDetector, disposeLayersModel, forward } from '../../src/model/detector.ts';
import { resolveDetectorConfig, totalAnchors } from '../../src/model/detector_config.ts';
import { resizeDetector } from '../../src/model/resize.ts';
import { loadDetector, saveDetector } from '../../src/model/store_io.ts';

test('model resize: the same weights at another input size, anchors scaled with it unless given', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-resize-'));
  try {
    const store = new LocalStore({ root: dir });
    const small = buildDetector(resolveDetectorConfig({ inputSize: 64, numClasses: 3, name: 'unit', anchorSizeFactor: 2 }, 'student'), { seed: 3 });
    await saveDetector(small, store, 'models/small');

    const config = await resizeDetector(store, 'models/small', 'models/big', { inputSize: 128 });
    assert.equal(config.inputSize, 128);
    assert.equal(config.anchorSizeFactor, 4, 'scaled by 128 / 64: each object keeps its pyramid level');
    assert.deepEqual({ ...config, inputSize: 64, anchorSizeFactor: 2 }, small.config, 'nothing else changes');

    const big = await loadDetector(store, 'models/big');
    assert.deepEqual(big.config, config);
    assert.deepEqual(big.metadata.resizedFrom, { key: 'models/small', inputSize: 64, anchorSizeFactor: 2 });
    const [a, b] = [small.model.getWeights(), big.model.getWeights()];
    assert.equal(a.length, b.length);
    for (let i = 0; i < a.length; i++) assert.deepEqual(await b[i].data(), await a[i].data(), `weight ${i}`);

    // It runs at the new size, and a step of it leaves no tensor behind.
    const x = tf.randomNormal([1, 128, 128, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const shape = tf.tidy(() => forward(big, x).classLogits.shape);
    assert.deepEqual(shape, [1, totalAnchors(config), 3]);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();

    // An explicit factor wins; an existing output is never overwritten.
    assert.equal((await resizeDetector(store, 'models/small', 'models/big-own', { inputSize: 128, anchorSizeFactor: 2 })).anchorSizeFactor, 2);
    await assert.rejects(resizeDetector(store, 'models/small', 'models/big', { inputSize: 96 }), /models\/big\/model\.json exists: choose another --out/);
    await assert.rejects(resizeDetector(store, 'models/absent', 'models/x', { inputSize: 96 }));
    disposeLayersModel(small.model);
    disposeLayersModel(big.model);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { LocalStore } from '../../src/io/local_store.ts';
import { buildDetector, forward } from '../../src/model/detector.ts';
import { resolveDetectorConfig } from '../../src/model/detector_config.ts';
import { loadDetector, saveDetector, storeIOHandler } from '../../src/model/store_io.ts';

test('a detector saved to the store loads with the same config and the same outputs', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-io-'));
  try {
    const store = new LocalStore({ root: dir });
    const detector = buildDetector(resolveDetectorConfig({ inputSize: 64, numClasses: 3, name: 'unit' }, 'teacher'));
    await saveDetector(detector, store, 'ckpt/step-1', { step: 1 });
    const keys = (await store.list('ckpt/step-1/')).objects.map((o) => o.key);
    assert.deepEqual(keys, ['ckpt/step-1/group1-shard1of1.bin', 'ckpt/step-1/model.json']);

    const loaded = await loadDetector(store, 'ckpt/step-1');
    assert.deepEqual(loaded.config, detector.config);
    assert.equal(loaded.metadata.step, 1);
    const x = tf.randomNormal([1, 64, 64, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const diff = tf.tidy(() => {
      const a = forward(detector, x);
      const b = forward(loaded, x);
      return tf.maximum(tf.abs(a.classLogits.sub(b.classLogits)).max(), tf.abs(a.boxDeltas.sub(b.boxDeltas)).max());
    });
    assert.equal((await diff.data())[0], 0);
    diff.dispose();
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    detector.model.dispose();
    loaded.model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('weights larger than 4 MB are sharded and reassembled', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-io-'));
  try {
    const store = new LocalStore({ root: dir });
    const input = tf.input({ shape: [1200] });
    const out = tf.layers.dense({ units: 1000 }).apply(input) as tf.SymbolicTensor; // 1.2 M floats = 4.8 MB
    const model = tf.model({ inputs: input, outputs: out });
    await model.save(storeIOHandler(store, 'big'));
    const shards = (await store.list('big/')).objects.filter((o) => o.key.endsWith('.bin'));
    assert.equal(shards.length, 2);
    const back = await tf.loadLayersModel(storeIOHandler(store, 'big'));
    const same = tf.tidy(() => tf.abs(model.getWeights()[0].sub(back.getWeights()[0])).max());
    assert.equal((await same.data())[0], 0);
    same.dispose();
    model.dispose();
    back.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loading a missing or foreign model gives a clear error', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-io-'));
  try {
    const store = new LocalStore({ root: dir });
    await assert.rejects(loadDetector(store, 'absent'), /object not found: absent\/model.json/);
    await store.put('bad/model.json', '{not json');
    await assert.rejects(loadDetector(store, 'bad'), /not valid JSON/);
    const input = tf.input({ shape: [4] });
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor });
    await model.save(storeIOHandler(store, 'foreign'));
    await assert.rejects(loadDetector(store, 'foreign'), /no distillery metadata/);
    model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

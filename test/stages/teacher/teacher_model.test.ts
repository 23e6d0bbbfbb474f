// Tests for loading the teacher: lineage hash of the shard bytes, anchor/input checks, converted models without metadata.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { resolveAnchorConfig } from '../../../src/boxes/anchor_config.ts';
import { buildDetector } from '../../../src/model/detector.ts';
import { detectorAnchorConfig } from '../../../src/model/detector_config.ts';
import { storeIOHandler } from '../../../src/model/store_io.ts';
import { disposeLayersModel } from '../../../src/model/detector.ts';
import { loadTeacher } from '../../../src/stages/teacher/teacher_model.ts';
import { tempStore, tinyTeacherConfig } from '../ingest/topology_fixture.ts';
import { saveTinyTeacher, useCpuBackend } from './fixtures.ts';

await useCpuBackend();

test('loads a saved teacher with its anchors, id and the sha256 of its weight shards', async () => {
  const { store, cleanup } = await tempStore();
  try {
    const config = await saveTinyTeacher(store, 'models/t1');
    const before = tf.memory().numTensors;
    const teacher = await loadTeacher(store, 'models/t1', { anchors: detectorAnchorConfig(config), teacher: config });
    try {
      const shard = await store.get('models/t1/group1-shard1of1.bin');
      assert.equal(teacher.modelHash, `sha256:${createHash('sha256').update(shard).digest('hex')}`);
      assert.equal(teacher.modelId, 'tiny-teacher@models/t1');
      assert.equal(teacher.anchors.numAnchors, (8 * 8 + 4 * 4 + 2 * 2) * 9);
      assert.deepEqual([teacher.inputSize, teacher.numClasses], [64, 3]);
    } finally {
      teacher.dispose();
    }
    assert.equal(tf.memory().numTensors, before);

    // Different weights, different hash.
    await saveTinyTeacher(store, 'models/t2');
    const other = await loadTeacher(store, 'models/t2', { anchors: detectorAnchorConfig(config), teacher: config });
    assert.notEqual(other.modelHash, teacher.modelHash);
    other.dispose();
  } finally {
    await cleanup();
  }
});

test('a teacher whose anchors, input size or classes differ from the topology is refused with a clear error', async () => {
  const { store, cleanup } = await tempStore();
  try {
    const config = await saveTinyTeacher(store, 'models/t');
    const before = tf.memory().numTensors;
    await assert.rejects(
      loadTeacher(store, 'models/t', { anchors: resolveAnchorConfig({ ...detectorAnchorConfig(config), scalesPerOctave: 2 }), teacher: config }),
      /anchor layout .* differs from the topology's anchors .*scalesPerOctave":2.*teacher and student must share anchors/,
    );
    await assert.rejects(
      loadTeacher(store, 'models/t', { anchors: detectorAnchorConfig(config), teacher: { ...config, inputSize: 128 } }),
      /input 64 px with 3 classes, but the topology's teacher has 128 px with 3 classes/,
    );
    await assert.rejects(loadTeacher(store, 'models/none', { anchors: detectorAnchorConfig(config), teacher: config }), /cannot read models\/none\/model\.json/);
    assert.equal(tf.memory().numTensors, before, 'a refused model is disposed');
  } finally {
    await cleanup();
  }
});

test('a converted model without distillery metadata is read with the topology teacher config', async () => {
  const { store, cleanup } = await tempStore();
  try {
    const config = tinyTeacherConfig();
    const detector = buildDetector(config);
    await detector.model.save(storeIOHandler(store, 'converted'));
    disposeLayersModel(detector.model);
    const teacher = await loadTeacher(store, 'converted', { anchors: detectorAnchorConfig(config), teacher: config });
    assert.deepEqual(teacher.detector.config, config);
    teacher.dispose();
  } finally {
    await cleanup();
  }
});

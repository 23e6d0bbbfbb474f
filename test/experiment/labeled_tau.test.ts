// Choosing τ from labeled images only: the quantile rule, and scoring a labeled split as it is or in the shifted look.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import type { Box } from '../../src/boxes/box.ts';
import { scoreLabeled, tauKeeping } from '../../src/experiment/labeled_tau.ts';
import type { ImageScores } from '../../src/experiment/filter_curve.ts';
import { keepRates } from '../../src/experiment/filter_curve.ts';
import { loadTeacher } from '../../src/stages/teacher/teacher_model.ts';
import { compileTopology } from '../../src/topology/index.ts';
import type { DetectionDataset } from '../../src/train/dataset.ts';
import { DOMAIN_SHIFT } from '../../src/train/shift_augment.ts';
import { saveTinyTeacher } from '../stages/teacher/fixtures.ts';
import { tinyTopologyYaml } from '../runner/tiny_topology.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const image = (key: string, objects: number, classMax: number[]): ImageScores => ({ key, objects, classMax });

test('tauKeeping: the largest τ keeping the share of non-empty images; empty images do not count', () => {
  const images = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05].map((s, i) => image(`k${i}`, 1, [s / 2, s]));
  images.push(image('empty', 0, [0.01, 0.01]));
  assert.equal(tauKeeping(images, 0.9), 0.1);
  assert.equal(keepRates(images, tauKeeping(images, 0.9)).nonEmptyKept, 9);
  assert.equal(tauKeeping(images, 0.5), 0.5);
  assert.equal(tauKeeping(images, 1), 0.05);
  assert.equal(tauKeeping(images, 0.01), 0.9);
  assert.throws(() => tauKeeping([image('e', 0, [0.3])], 0.9), /no labeled image with objects/);
  assert.throws(() => tauKeeping(images, 0), /share must be in \(0, 1\]/);
});

test('scoreLabeled: one entry per image with its box count; the shifted look is deterministic and changes the scores; no tensors left', async () => {
  await initBackend('cpu');
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-labeled-tau-'));
  try {
    const yaml = tinyTopologyYaml({ name: 'tiny-tau', storeRoot: path.join(root, 'store'), steps: 1, checkpointPrefix: 'runs/x/student', evalEvery: 0 });
    const topology = compileTopology(yaml, 'tiny.yaml', { env: {} });
    const store = new LocalStore({ root: path.join(root, 'store') });
    await saveTinyTeacher(store, 'models/teacher', { config: topology.teacher });
    const teacher = await loadTeacher(store, 'models/teacher', topology);
    const size = teacher.inputSize;
    const images = Array.from({ length: 5 }, (_, i) => {
      const pixels = new Uint8Array(size * size * 3);
      for (let j = 0; j < pixels.length; j++) pixels[j] = 150 + ((j * (i + 5)) % 90);
      const boxes: Box[] = i === 4 ? [] : [[4, 4, 4 + size / 3, 4 + size / 3]];
      return { id: i + 1, key: `img${i}`, pixels, transform: { scale: 1, padX: 0, padY: 0, width: size, height: size, size }, boxes, classIds: boxes.map(() => 0) };
    });
    const dataset = { annotationsKey: 'a.json', inputSize: size, categories: { numClasses: teacher.numClasses }, gt: {}, images, skipped: [] } as unknown as DetectionDataset;
    const thresholds = { ...topology.thresholds, candidate: 0.01 };
    try {
      const before = tf.memory().numTensors;
      const plain = await scoreLabeled(teacher, dataset, { thresholds, batchSize: 2 });
      const shifted = await scoreLabeled(teacher, dataset, { thresholds, batchSize: 3, shift: DOMAIN_SHIFT, seed: 4 });
      const again = await scoreLabeled(teacher, dataset, { thresholds, batchSize: 3, shift: DOMAIN_SHIFT, seed: 4 });
      assert.equal(tf.memory().numTensors, before);
      assert.deepEqual(plain.map((s) => [s.key, s.objects]), images.map((im) => [im.key, im.boxes.length]));
      for (const s of plain) assert.equal(s.classMax.length, teacher.numClasses);
      assert.deepEqual(again, shifted);
      assert.notDeepEqual(shifted.map((s) => s.classMax), plain.map((s) => s.classMax));
      await assert.rejects(scoreLabeled(teacher, { ...dataset, inputSize: size * 2 }, { thresholds, batchSize: 2 }), /letterboxed to \d+ px but the teacher takes/);
    } finally {
      teacher.dispose();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

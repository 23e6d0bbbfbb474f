// The public API: everything a user's own TF.js code needs is exported from the package entry and works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as api from '../src/index.ts';

test('the entry exports the documented functions', () => {
  for (const name of [
    'initBackend', 'focalLoss', 'adaptiveDistillationLoss', 'klDistillationLoss', 'focalDistillationLoss', 'smoothL1Loss',
    'buildDetector', 'forward', 'saveDetector', 'loadDetector', 'generateAnchors', 'assignAnchors', 'postprocess',
    'evaluateCoco', 'formatCocoSummary', 'trainStep', 'LocalStore',
  ] as const) {
    assert.equal(typeof api[name], 'function', name);
  }
});

test('losses and the evaluator work through the entry, without leaking tensors', async () => {
  // Importing the entry registers the wasm backend, so a backend must be initialised first (as documented).
  await api.initBackend('wasm');
  const before = tf.memory().numTensors;
  const value = tf.tidy(() => {
    const logits = tf.tensor3d([[[2, -3], [-1, 0.5]]]);
    const q = tf.tensor3d([[[0.9, 0.01], [0.2, 0.6]]]);
    const hard = tf.tensor3d([[[1, 0], [0, 1]]]);
    return api.focalLoss(logits, hard).add(api.adaptiveDistillationLoss(logits, q)).arraySync() as number;
  });
  assert.ok(Number.isFinite(value) && value > 0);
  assert.equal(tf.memory().numTensors, before);
  const gt: api.CocoGroundTruth = {
    images: [{ id: 1, width: 100, height: 100 }],
    annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 30, 30], area: 900, iscrowd: 0 }],
    categories: [{ id: 1, name: 'thing' }],
  };
  const metrics = api.evaluateCoco(gt, [{ image_id: 1, category_id: 1, bbox: [10, 10, 30, 30], score: 0.9 }]);
  assert.ok(Math.abs(metrics.AP - 1) < 1e-12, String(metrics.AP));
});

// Tests for hard labels (detections ≥ τ, ground truth in model-input pixels) and the at-least-one-detection filter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { letterboxTransform, toInputBox } from '../../../src/image/letterbox.ts';
import type { Detection } from '../../../src/postprocess/detections.ts';
import { decideLabels, hardLabelsFromDetections, hardLabelsFromGroundTruth, maxProbability } from '../../../src/stages/teacher/labels.ts';
import { imageRef } from './fixtures.ts';

const dets: Detection[] = [
  { box: [1, 2, 10, 12], score: 0.9, classId: 2 },
  { box: [5, 5, 20, 20], score: 0.5, classId: 0 },
  { box: [0, 0, 3, 3], score: 0.49, classId: 1 },
];

test('hard labels are the detections at or above the threshold', () => {
  assert.deepEqual(hardLabelsFromDetections(dets, 0.5), [
    { box: [1, 2, 10, 12], classId: 2, score: 0.9 },
    { box: [5, 5, 20, 20], classId: 0, score: 0.5 },
  ]);
  assert.deepEqual(hardLabelsFromDetections(dets, 0.95), []);
});

test('ground truth maps into model-input pixels, clipped; crowd and empty boxes are dropped; unknown classes throw', () => {
  const t = letterboxTransform(80, 60, 64); // scale 0.8, padY 8
  assert.deepEqual([t.scale, t.padX, t.padY], [0.8, 0, 8]);
  const hard = hardLabelsFromGroundTruth(
    [
      { box: [10, 10, 30, 40], classId: 1 },
      { box: [70, 50, 90, 70], classId: 0 }, // runs off the image
      { box: [0, 0, 5, 5], classId: 2, iscrowd: true },
      { box: [20, 20, 20, 30], classId: 0 }, // no width
    ],
    t,
    3,
  );
  assert.deepEqual(hard, [
    { box: toInputBox([10, 10, 30, 40], t), classId: 1, score: 1 },
    { box: [56, 48, 64, 64], classId: 0, score: 1 },
  ]);
  assert.deepEqual(hard[0].box, [8, 16, 24, 40]);
  assert.throws(() => hardLabelsFromGroundTruth([{ box: [0, 0, 1, 1], classId: 3 }], t, 3), /class 3 is outside the teacher's 3 classes/);
});

test('the filter rejects unlabeled images without a hard label and reports the best score', () => {
  const t = letterboxTransform(64, 64, 64);
  const probs = Float32Array.from([0.01, 0.2, 0.03, 0.4, 0.05, 0.001]);
  const ref = imageRef('u.jpg');
  assert.deepEqual(decideLabels({ ref, transform: t, detections: dets, probs }, { hardLabel: 0.95, numClasses: 3 }), {
    kind: 'rejected',
    reason: 'no-detections',
    maxScore: probs[3],
  });
  assert.equal(maxProbability(probs), probs[3]);
  const kept = decideLabels({ ref, transform: t, detections: dets, probs }, { hardLabel: 0.5, numClasses: 3 });
  assert.equal(kept.kind, 'sample');
  assert.equal(kept.kind === 'sample' && kept.source, 'teacher');
  assert.equal(kept.kind === 'sample' && kept.hard.length, 2);
});

test('with the filter off, an unlabeled image without a hard label is a sample with none (soft labels only)', () => {
  const t = letterboxTransform(64, 64, 64);
  const probs = Float32Array.from([0.01, 0.2, 0.03, 0.4, 0.05, 0.001]);
  assert.deepEqual(decideLabels({ ref: imageRef('u.jpg'), transform: t, detections: dets, probs }, { hardLabel: 0.95, numClasses: 3, filter: false }), {
    kind: 'sample',
    hard: [],
    source: 'teacher',
  });
});

test('labeled and test images keep their ground truth as hard labels, even with no detections or no objects', () => {
  const t = letterboxTransform(64, 64, 64);
  const probs = new Float32Array(6);
  for (const split of ['labeled', 'test'] as const) {
    const ref = imageRef('l.jpg', { split, gt: [{ box: [1, 1, 9, 9], classId: 2 }] });
    assert.deepEqual(decideLabels({ ref, transform: t, detections: [], probs }, { hardLabel: 0.5, numClasses: 3 }), {
      kind: 'sample',
      hard: [{ box: [1, 1, 9, 9], classId: 2, score: 1 }],
      source: 'ground-truth',
    });
  }
  const empty = decideLabels({ ref: imageRef('e.jpg', { split: 'labeled', gt: [] }), transform: t, detections: dets, probs }, { hardLabel: 0.5, numClasses: 3 });
  assert.deepEqual(empty, { kind: 'sample', hard: [], source: 'ground-truth' });
});

// The model card: everything a user needs to run the model without distillery, and a check of the fields readers rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STUDENT_PRESET, totalAnchors } from '../../src/model/detector_config.ts';
import { buildModelCard, parseModelCard } from '../../src/model/model_card.ts';

const BASE = {
  format: 'graph-model' as const,
  detector: STUDENT_PRESET,
  cost: { parameters: 121_000, flopsPerImage: 46.7e6, byPart: {} },
  checkpoint: 's3://bucket/runs/1/student/step-40',
  step: 40,
  teachers: [{ id: 'teacher@models/teacher', hash: 'sha256:aa' }],
  thresholds: undefined,
  loss: undefined,
  offsets: { 'distillery.samples:0': '12' },
  evaluation: undefined,
};

test('a card states input, outputs, anchors and classes; unknown lineage is null, not invented', () => {
  const card = buildModelCard(BASE);
  assert.deepEqual(card.input, { size: 128, layout: 'NHWC', channels: 'RGB', letterboxPadValue: 114, scale: 1 / 127.5, offset: -1, name: 'image' });
  assert.deepEqual(card.outputs.classLogits, { name: 'class_logits', shape: [-1, totalAnchors(STUDENT_PRESET), 4] });
  assert.deepEqual(card.anchors.levels, [3, 4, 5]);
  assert.deepEqual(card.classes[3], { index: 3, categoryId: 4, name: 'class 3' });
  assert.deepEqual([card.thresholds, card.loss, card.evaluation], [null, null, null]);
  assert.deepEqual(card.training, { steps: 40, offsets: { 'distillery.samples:0': '12' } });

  const named = buildModelCard({ ...BASE, categories: { categoryIds: [5, 6, 7, 8], names: ['a', 'b', 'c', 'd'] } });
  assert.deepEqual(named.classes[0], { index: 0, categoryId: 5, name: 'a' });
  assert.deepEqual(parseModelCard(JSON.parse(JSON.stringify(named)), 'card'), JSON.parse(JSON.stringify(named)));
});

test('a card missing what readers rely on is refused with the field named', () => {
  assert.throws(() => parseModelCard({ v: 1, name: 'x', detector: {} }, 'best/model-card.json'), /best\/model-card\.json: invalid model card: classes/);
  assert.throws(() => parseModelCard({ v: 2 }, 'c'), /invalid model card: v/);
});

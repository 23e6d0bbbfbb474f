import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emaSmooth, smoothingWindow, trainingCharts } from '../../src/report/training_charts.ts';
import { syntheticReport } from './fixtures.ts';

test('emaSmooth starts at the first value and leaves NaN as gaps', () => {
  // window 3 → alpha 0.5
  assert.deepEqual(emaSmooth([[1, 1], [2, 3], [3, NaN], [4, 5]], 3), [[1, 1], [2, 2], [3, NaN], [4, 3.5]]);
  assert.deepEqual(emaSmooth([[1, 4], [2, 8]], 1), [[1, 4], [2, 8]]);
  assert.deepEqual(emaSmooth([[1, NaN], [2, 8]], 3), [[1, NaN], [2, 8]]);
  assert.equal(smoothingWindow(400), 10);
  assert.equal(smoothingWindow(10), 1);
});

test('charts: four loss terms, learning rate, AP and AP50 with the teacher reference', () => {
  const charts = trainingCharts(syntheticReport({ steps: 200 }));
  assert.equal(charts.losses.length, 4);
  for (const [i, id] of ['loss-total', 'loss-focal', 'loss-distillation', 'loss-localization'].entries()) assert.ok(charts.losses[i].startsWith(`<svg id="${id}"`));
  assert.ok(charts.learningRate.startsWith('<svg id="lr"'));
  assert.equal(charts.accuracy.length, 2);
  assert.ok(charts.accuracy[0].includes('data-name="teacher (0.412)"'));
  assert.ok(charts.accuracy[1].includes('data-name="teacher (0.700)"'));
  // 200 steps are smoothed: a faint per-step series and a bold smoothed one per student.
  assert.equal(charts.losses[0].split('<g class="series"').length - 1, 4);
  assert.ok(charts.losses[0].includes('data-name="baseline (per step)"'));
});

test('few steps are drawn raw; no evaluations and -1 AP leave the accuracy charts empty', () => {
  const report = syntheticReport({ steps: 10 });
  report.models.baseline.history = { steps: report.models.baseline.history.steps, evals: [] };
  report.models.distilled.history = { steps: report.models.distilled.history.steps, evals: [{ step: 5, AP: -1, AP50: -1 }] };
  report.models.teacher = { ...report.models.teacher, metrics: { ...report.models.teacher.metrics, AP: -1 } };
  const charts = trainingCharts(report);
  assert.equal(charts.losses[0].split('<g class="series"').length - 1, 2);
  assert.ok(charts.accuracy[0].includes('>no evaluations recorded</text>'));
  assert.ok(!charts.accuracy[0].includes('class="ref"'));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COCO_STAT_NAMES, type CocoMetrics } from '../../src/eval/coco_eval.ts';
import { buildMetricsJson } from '../../src/report/metrics_json.ts';
import type { StudentReport } from '../../src/report/types.ts';
import { emptyHistory, evalRecord, stepRecord } from '../../src/train/history.ts';
import { syntheticReport } from './fixtures.ts';

test('the trainer\'s TrainHistory and the evaluator\'s CocoMetrics plug into a StudentReport as they are', () => {
  const stats = COCO_STAT_NAMES.map((_, i) => i / 20);
  const [AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl] = stats;
  const metrics: CocoMetrics = { AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl, stats, perCategory: [], numImages: 7 };
  const history = emptyHistory();
  history.steps.push(stepRecord(1, 1e-3, { total: 1.5, focal: 1, distillation: 0.25, localization: 0.25, gradNorm: 2 }, 40));
  history.evals.push(evalRecord(1, metrics, 0.5));
  const student: StudentReport = { parameters: 10, flopsPerImage: 100, metrics, history }; // compiles: the types fit
  const report = syntheticReport({ steps: 1 });
  report.models.distilled = student;
  const json = buildMetricsJson(report);
  assert.deepEqual(json.models.distilled.history.steps, [{ step: 1, total: 1.5, focal: 1, distillation: 0.25, localization: 0.25, lr: 1e-3 }]);
  assert.deepEqual(json.models.distilled.history.evals, [{ step: 1, AP: 0, AP50: 0.05 }]);
  assert.equal(json.models.distilled.metrics.ARl, 0.55);
  assert.equal(json.models.distilled.name, null);
});

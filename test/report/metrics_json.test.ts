import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COCO_STAT_NAMES } from '../../src/eval/coco_eval.ts';
import { buildMetricsJson, formatMetricsJson, METRICS_JSON_VERSION, stringifyCompact } from '../../src/report/metrics_json.ts';
import { syntheticReport } from './fixtures.ts';

interface Parsed {
  v: number;
  runId: string;
  durationSeconds: number;
  machine: { cores: number; backend: string };
  corpus: { splits: { split: string; emptyShare: number | null }[] };
  filter: { rejectedTotal: number; unlabeledKeptShare: number; emptyKeptShare: number; nonEmptyKeptShare: number; rejectedByReason: Record<string, number> };
  models: Record<'teacher' | 'baseline' | 'distilled', { parameters: number; flopsPerImage: number; metrics: Record<string, number>; history?: { steps: Record<string, number | null>[]; evals: Record<string, number>[] } }>;
  comparison: { apDelta: number; gapClosed: number; flopsReduction: number };
  grid: { images: string[] };
}

test('metrics.json parses and gives back every number of the report exactly', () => {
  const report = syntheticReport({ steps: 40 });
  const parsed = JSON.parse(formatMetricsJson(report)) as Parsed;
  assert.equal(parsed.v, METRICS_JSON_VERSION);
  assert.equal(parsed.runId, report.runId);
  assert.equal(parsed.durationSeconds, report.durationSeconds);
  assert.deepEqual(parsed.machine, report.machine);
  for (const role of ['teacher', 'baseline', 'distilled'] as const) {
    const m = report.models[role];
    assert.equal(parsed.models[role].parameters, m.parameters);
    assert.equal(parsed.models[role].flopsPerImage, m.flopsPerImage);
    assert.deepEqual(Object.keys(parsed.models[role].metrics), [...COCO_STAT_NAMES]);
    for (const k of COCO_STAT_NAMES) assert.equal(parsed.models[role].metrics[k], m.metrics[k], `${role}.${k}`);
  }
  const steps = parsed.models.distilled.history?.steps ?? [];
  assert.equal(steps.length, 40);
  steps.forEach((s, i) => assert.deepEqual(s, { ...report.models.distilled.history.steps[i] }));
  assert.deepEqual(parsed.models.baseline.history?.evals, report.models.baseline.history.evals);
  assert.deepEqual(parsed.filter.rejectedByReason, report.filter.rejectedByReason);
  assert.deepEqual(parsed.grid.images, report.grid.images.map((i) => i.id));
  assert.ok(!formatMetricsJson(report).includes(Buffer.from(report.grid.images[0].bytes).toString('base64')), 'no image bytes');
});

test('derived numbers: rejected total, kept shares, AP delta, gap closed, FLOPs reduction', () => {
  const parsed = JSON.parse(formatMetricsJson(syntheticReport({ steps: 5 }))) as Parsed;
  assert.equal(parsed.filter.rejectedTotal, 778);
  assert.equal(parsed.filter.unlabeledKeptShare, 1220 / 1998);
  assert.equal(parsed.filter.emptyKeptShare, 61 / 799);
  assert.equal(parsed.filter.nonEmptyKeptShare, 1159 / 1199);
  assert.equal(parsed.comparison.apDelta, 0.245 - 0.201);
  assert.equal(parsed.comparison.gapClosed, (0.245 - 0.201) / (0.412 - 0.201));
  assert.equal(parsed.comparison.flopsReduction, 1_234_567_890 / 181_234_567);
  assert.equal(parsed.corpus.splits[2].emptyShare, 0.4);
});

test('NaN losses become null and fields beyond the declared ones are dropped', () => {
  const report = syntheticReport({ steps: 3 });
  const withExtras = { ...report.models.baseline.history.steps[1], total: NaN, ms: 12.5, gradNorm: 3 };
  report.models.baseline = {
    ...report.models.baseline,
    history: { ...report.models.baseline.history, steps: [report.models.baseline.history.steps[0], withExtras] },
    metrics: { ...report.models.baseline.metrics, stats: [1, 2], perCategory: [] } as typeof report.models.baseline.metrics,
  };
  const parsed = JSON.parse(formatMetricsJson(report)) as Parsed;
  const step = parsed.models.baseline.history?.steps[1];
  assert.equal(step?.total, null);
  assert.deepEqual(Object.keys(step ?? {}), ['step', 'total', 'focal', 'distillation', 'localization', 'lr']);
  assert.deepEqual(Object.keys(parsed.models.baseline.metrics), [...COCO_STAT_NAMES]);
});

test('no ground truth for the unlabeled split: its empty share and the by-truth shares are null', () => {
  const report = syntheticReport({ steps: 2 });
  delete report.filter.unlabeledByTruth;
  report.corpus.splits[2] = { split: 'unlabeled', images: 2000 };
  const json = buildMetricsJson(report);
  assert.equal(json.filter.emptyKeptShare, null);
  assert.equal(json.filter.nonEmptyKeptShare, null);
  assert.equal(json.corpus.splits[2].emptyShare, null);
  assert.equal(json.corpus.splits[2].emptyImages, null);
});

test('stringifyCompact is JSON.stringify with scalar-only objects and arrays on one line', () => {
  const value = { a: 1, b: [1, 2, { c: 'x"y', d: [true, null] }], e: { f: { g: 2 } }, h: [], n: NaN, u: undefined, s: [{ step: 1, v: 0.5 }, { step: 2, v: 0.25 }] };
  const text = stringifyCompact(value);
  assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
  assert.ok(text.includes('\n    {"step":1,"v":0.5},\n    {"step":2,"v":0.25}\n'), text);
  assert.ok(text.includes('"f": {"g":2}'));
  assert.ok(text.includes('"h": []'));
  assert.ok(!text.includes('"u"'));
  assert.equal(stringifyCompact([1, 2]), '[1,2]');
  assert.equal(stringifyCompact(NaN), 'null');
});

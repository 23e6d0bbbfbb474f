// deploy/grafana/distillery-dashboard.json: valid dashboard JSON whose queries use only metrics the registry defines,
// and that charts every metric the stages export (so neither side can drift).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { PipelineMetrics } from '../../src/observability/metrics.ts';

const FILE = new URL('../../deploy/grafana/distillery-dashboard.json', import.meta.url);

interface Target {
  refId: string;
  expr: string;
  datasource?: unknown;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string }[] };
}

/** Names a query may use: every metric of the registry, with a histogram's series suffixes. */
async function definedNames(): Promise<{ all: Set<string>; stageMetrics: string[] }> {
  const metrics = new PipelineMetrics({ process: 'test' });
  const all = new Set<string>();
  const stageMetrics: string[] = [];
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const names = String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => m.name + s) : [m.name];
    names.forEach((n) => all.add(n));
    // prom-client's process and Node.js metrics are optional on a dashboard; ours are not.
    if (!/^distillery_(process|nodejs)_/.test(m.name)) stageMetrics.push(m.name);
  }
  return { all, stageMetrics };
}

test('the dashboard is well-formed Grafana JSON', async () => {
  const dash = JSON.parse(await readFile(FILE, 'utf8')) as Dashboard;
  assert.equal(dash.uid, 'distillery');
  assert.ok(dash.title.length > 0);
  assert.ok(Number.isInteger(dash.schemaVersion) && dash.schemaVersion >= 30);
  assert.deepEqual(dash.templating.list.map((v) => v.name), ['datasource', 'stage']);
  const ids = dash.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dash.panels) {
    assert.ok(p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the 24-column grid`);
    if (p.type === 'row') continue;
    assert.equal(p.type, 'timeseries', p.title);
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
    assert.ok(p.targets && p.targets.length > 0, `${p.title} has queries`);
    const refIds = p.targets.map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `${p.title}: refIds unique`);
    for (const t of p.targets) {
      let depth = 0;
      for (const ch of t.expr) {
        depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
        assert.ok(depth >= 0, `${p.title}: unbalanced ${t.expr}`);
      }
      assert.equal(depth, 0, `${p.title}: unbalanced ${t.expr}`);
    }
  }
});

test('every query uses metrics the registry defines, and every stage metric is charted', async () => {
  const dash = JSON.parse(await readFile(FILE, 'utf8')) as Dashboard;
  const { all, stageMetrics } = await definedNames();
  const used = new Set<string>();
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
  exprs.push(...[...JSON.stringify(dash.templating).matchAll(/label_values\((\w+)/g)].map((m) => ({ panel: 'templating', expr: m[1] })));
  for (const { panel, expr } of exprs) {
    const names = expr.match(/\bdistillery_[a-z0-9_]+/g) ?? [];
    assert.ok(names.length > 0, `${panel}: ${expr} uses no distillery metric`);
    for (const name of names) {
      assert.ok(all.has(name), `${panel}: ${name} is not a metric the registry defines`);
      used.add(name.replace(/_(bucket|sum|count)$/, ''));
    }
  }
  const missing = stageMetrics.filter((name) => !used.has(name));
  assert.deepEqual(missing, [], 'metrics with no panel');
  assert.ok(exprs.some((e) => /histogram_quantile\(0\.95, sum by \(le, step\) \(rate\(distillery_teacher_step_seconds_bucket/.test(e.expr)), 'latency quantiles');
});

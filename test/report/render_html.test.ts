import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderReportHtml, REPORT_SECTIONS } from '../../src/report/render_html.ts';
import type { RunReport } from '../../src/report/types.ts';
import { gridImage, syntheticReport } from './fixtures.ts';

const EVIL = '<script>alert("x")</script>';

function evilReport(): RunReport {
  const report = syntheticReport({ steps: 30, images: [gridImage(`img ${EVIL}`)] });
  report.runId = `run-${EVIL}`;
  report.topology = { name: EVIL, description: `stage ${EVIL}` };
  report.machine = { ...report.machine, cpuModel: EVIL, backend: EVIL };
  report.corpus.splits[0] = { ...report.corpus.splits[0], split: EVIL };
  report.filter = { ...report.filter, rejectedByReason: { [EVIL]: 3 } };
  report.models.teacher = { ...report.models.teacher, name: EVIL };
  report.grid = { ...report.grid, classNames: [EVIL, 'square', 'diamond', 'triangle'] };
  return report;
}

test('the page has every section, in order, with a table of contents', () => {
  const html = renderReportHtml(syntheticReport({ steps: 30 }));
  let last = -1;
  for (const { id, title } of REPORT_SECTIONS) {
    const at = html.indexOf(`<section id="${id}"><h2>${title}</h2>`);
    assert.ok(at > last, `section ${id}`);
    last = at;
    assert.ok(html.includes(`<a href="#${id}">${title}</a>`));
  }
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.ok(html.trimEnd().endsWith('</html>'));
});

test('summary, filter, corpus, topology and machine sections carry the numbers', () => {
  const report = syntheticReport({ steps: 30 });
  const html = renderReportHtml(report);
  const section = (id: string): string => {
    const start = html.indexOf(`<section id="${id}">`);
    return html.slice(start, html.indexOf('</section>', start));
  };
  const summary = section('summary');
  for (const text of ['0.412', '0.201', '0.245', '+0.044', '1.23 GFLOPs', '181 MFLOPs', '2.35 M', '312 k', 'distilled − baseline', '6.8×']) {
    assert.ok(summary.includes(text), `summary has ${text}`);
  }
  for (const head of ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'FLOPs / image', 'params', 'AR100']) assert.ok(summary.includes(`<th>${head}</th>`));
  const filter = section('filter');
  for (const text of ['2200', '1420', '778', 'rejected: no-detections', '1220 (61.1 %)', '61 (7.6 %)', '1159 (96.7 %)', 'score ≥ 0.5']) {
    assert.ok(filter.includes(text), `filter has ${text}`);
  }
  assert.ok(section('corpus').includes('<td>40.0 %</td>'));
  assert.ok(section('topology').includes('<pre class="describe">topology embedded-shapes (embedded runner)\n  ingest  --distillery.images--&gt;  teacher x1'));
  assert.ok(section('machine').includes('Intel(R) Xeon(R) CPU @ 2.20GHz (2 cores)'));
  assert.ok(section('machine').includes('wasm, 2 threads'));
  assert.ok(html.includes('duration <b>41 min 18 s</b>'));
});

test('training section has the accuracy charts, four loss charts and the learning rate', () => {
  const html = renderReportHtml(syntheticReport({ steps: 30 }));
  for (const id of ['eval-AP', 'eval-AP50', 'loss-total', 'loss-focal', 'loss-distillation', 'loss-localization', 'lr']) {
    assert.equal(html.split(`<svg id="${id}" class="chart"`).length - 1, 1, id);
  }
});

test('one <image> per grid cell', () => {
  const html = renderReportHtml(syntheticReport({ steps: 5, images: [gridImage('a'), gridImage('b')] }));
  assert.equal(html.split('<image ').length - 1, 8);
});

test('every user-supplied text is escaped: no <script> anywhere', () => {
  const html = renderReportHtml(evilReport());
  assert.ok(!/<script/i.test(html), 'no script element');
  assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
  assert.ok(html.includes(`<title>distillery run run-&lt;script&gt;`));
});

test('self-contained: no scripts, links, external URLs or src attributes', () => {
  const html = renderReportHtml(syntheticReport({ steps: 30 }));
  assert.ok(!/<script|<link|<iframe|\ssrc=|@import|url\(http/i.test(html));
  const urls = [...html.matchAll(/https?:\/\/[^\s"')<]+/g)].map((m) => m[0]);
  assert.deepEqual([...new Set(urls)], ['http://www.w3.org/2000/svg'], 'only the SVG namespace');
});

test('missing data reads as n/a or a note, never NaN or undefined', () => {
  const report = syntheticReport({ steps: 0, images: [] });
  delete report.filter.unlabeledByTruth;
  delete report.filter.scoreThreshold;
  report.corpus.splits = [{ split: 'unlabeled', images: 0 }];
  report.filter = { ...report.filter, unlabeled: { images: 0, kept: 0 } };
  report.machine = { ...report.machine, threads: 0 };
  report.models.baseline.metrics = { ...report.models.baseline.metrics, AP: NaN };
  const html = renderReportHtml(report);
  assert.ok(!/NaN|undefined|Infinity/.test(html));
  assert.ok(html.includes('no training steps recorded'));
  assert.ok(html.includes('No test images were recorded'));
  assert.ok(html.includes('the unlabeled corpus has no ground truth'));
  assert.ok(html.includes('threads unknown'));
});

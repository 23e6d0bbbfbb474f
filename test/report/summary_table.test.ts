import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummaryTable } from '../../src/report/summary_table.ts';
import { cocoStats, syntheticReport } from './fixtures.ts';

test('one row per model with AP, AP50, FLOPs and params, then the distilled − baseline delta', () => {
  const report = syntheticReport({ steps: 10 });
  const lines = formatSummaryTable(report).split('\n');
  assert.equal(lines.length, 6);
  assert.match(lines[0], /^model\s+AP\s+AP50\s+FLOPs\/image\s+params$/);
  assert.match(lines[1], /^teacher \(teacher-w64\)\s+0\.412\s+0\.700\s+1\.23 GFLOPs\s+2\.35 M$/);
  assert.match(lines[2], /^baseline student \(student-w16\)\s+0\.201\s+0\.342\s+181 MFLOPs\s+312 k$/);
  assert.match(lines[3], /^distilled student \(student-w16\)\s+0\.245\s+0\.416\s+181 MFLOPs\s+312 k$/);
  assert.equal(lines[4], 'distilled - baseline: AP +0.044, AP50 +0.075; distilled student costs 6.8x fewer FLOPs than the teacher');
  assert.equal(lines[5], 'distilled student initialised from: random weights', 'no recorded start reads as random');
});

test('the last line names where the distilled student started', () => {
  const report = syntheticReport({ steps: 10 });
  report.models.distilled = { ...report.models.distilled, init: { from: 'baseline', key: 'runs/r1/baseline' } };
  assert.equal(formatSummaryTable(report).split('\n').at(-1), 'distilled student initialised from: the labeled-only baseline (runs/r1/baseline)');
  report.models.distilled = { ...report.models.distilled, init: { from: 'model', key: 'models/mine' } };
  assert.equal(formatSummaryTable(report).split('\n').at(-1), 'distilled student initialised from: the saved model models/mine');
});

test('numeric columns are right-aligned under their headers', () => {
  const lines = formatSummaryTable(syntheticReport({ steps: 10 })).split('\n').slice(0, 4);
  const endOf = (line: string, text: string, from = 0): number => line.indexOf(text, from) + text.length;
  const apEnd = endOf(lines[0], 'AP');
  const ap50End = endOf(lines[0], 'AP50');
  assert.equal(endOf(lines[1], '0.412'), apEnd);
  assert.equal(endOf(lines[2], '0.201'), apEnd);
  assert.equal(endOf(lines[3], '0.416'), ap50End);
  assert.equal(lines[1].length, lines[0].length, 'last column right-aligned too');
});

test('a worse distilled student shows a negative delta; missing metrics show n/a; unnamed models use the role', () => {
  const report = syntheticReport({ steps: 10 });
  report.models.distilled = { ...report.models.distilled, metrics: cocoStats(0.191) };
  delete report.models.teacher.name;
  let text = formatSummaryTable(report);
  assert.match(text, /AP -0\.010/);
  assert.match(text.split('\n')[1], /^teacher\s+0\.412/);
  report.models.baseline = { ...report.models.baseline, metrics: { ...cocoStats(0.2), AP: -1 } };
  text = formatSummaryTable(report);
  assert.match(text.split('\n')[2], /\sn\/a\s/);
  assert.match(text, /AP n\/a, AP50/);
});

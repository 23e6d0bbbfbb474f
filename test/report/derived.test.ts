import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareModels, share, summarizeFilter } from '../../src/report/derived.ts';
import { cocoStats, syntheticReport } from './fixtures.ts';

test('share is null for an empty whole', () => {
  assert.equal(share(1, 4), 0.25);
  assert.equal(share(0, 0), null);
  assert.equal(share(NaN, 3), null);
});

test('summarizeFilter adds up rejections over reasons', () => {
  const f = syntheticReport({ steps: 1 }).filter;
  const s = summarizeFilter({ ...f, rejectedByReason: { 'no-detections': 5, 'too-small': 2 } });
  assert.equal(s.rejectedTotal, 7);
  assert.equal(s.unlabeledKeptShare, 1220 / 1998);
  assert.equal(summarizeFilter({ ...f, rejectedByReason: {} }).rejectedTotal, 0);
});

test('compareModels: gap closed only when the teacher leads; -1 metrics give null', () => {
  const report = syntheticReport({ steps: 1 });
  assert.equal(compareModels(report).gapClosed, (0.245 - 0.201) / (0.412 - 0.201));
  report.models.teacher = { ...report.models.teacher, metrics: cocoStats(0.1) };
  assert.equal(compareModels(report).gapClosed, null);
  report.models.distilled = { ...report.models.distilled, metrics: { ...cocoStats(0.2), AP: -1 } };
  assert.equal(compareModels(report).apDelta, null);
});

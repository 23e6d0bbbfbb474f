import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReport } from '../../src/report/write_report.ts';
import { gridImage, syntheticReport } from './fixtures.ts';

test('writeReport creates the directory and writes report.html and metrics.json', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'distillery-report-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'runs', 'abc');
  const report = syntheticReport({ steps: 20 });
  const paths = await writeReport(dir, report);
  assert.deepEqual(paths, { html: join(dir, 'report.html'), metrics: join(dir, 'metrics.json') });
  assert.deepEqual((await readdir(dir)).sort(), ['metrics.json', 'report.html'], 'no temporary files left');
  const html = await readFile(paths.html, 'utf8');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.equal(html.split('<image ').length - 1, 4 * report.grid.images.length);
  const metrics = JSON.parse(await readFile(paths.metrics, 'utf8')) as { runId: string; models: { distilled: { metrics: { AP: number } } } };
  assert.equal(metrics.runId, report.runId);
  assert.equal(metrics.models.distilled.metrics.AP, report.models.distilled.metrics.AP);
});

test('writing again replaces both files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'distillery-report-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeReport(dir, syntheticReport({ steps: 5 }));
  const second = { ...syntheticReport({ steps: 5 }), runId: 'second-run' };
  const paths = await writeReport(dir, second);
  assert.ok((await readFile(paths.html, 'utf8')).includes('distillery run second-run'));
  assert.equal((JSON.parse(await readFile(paths.metrics, 'utf8')) as { runId: string }).runId, 'second-run');
});

test('an invalid report writes nothing', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'distillery-report-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const report = syntheticReport({ steps: 5, images: [{ ...gridImage('bad'), height: -1 }] });
  await assert.rejects(writeReport(join(root, 'out'), report), /grid image bad/);
  assert.deepEqual(await readdir(root), []);
});

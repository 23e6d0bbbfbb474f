// Writes report.html and metrics.json of a run into a local directory.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatMetricsJson } from './metrics_json.ts';
import { renderReportHtml } from './render_html.ts';
import type { RunReport } from './types.ts';

export const REPORT_HTML = 'report.html';
export const METRICS_JSON = 'metrics.json';

/** Write-then-rename, so a reader (or a crash mid-write) never sees half a file. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, 'utf8');
  await rename(tmp, path);
}

/** Creates `dir` if needed and writes both files; returns their paths. */
export async function writeReport(dir: string, report: RunReport): Promise<{ html: string; metrics: string }> {
  // Render both before touching the disk: a bad input must not leave one file new and the other stale.
  const html = renderReportHtml(report);
  const metrics = formatMetricsJson(report);
  await mkdir(dir, { recursive: true });
  const paths = { html: join(dir, REPORT_HTML), metrics: join(dir, METRICS_JSON) };
  await writeAtomic(paths.metrics, metrics);
  await writeAtomic(paths.html, html);
  return paths;
}

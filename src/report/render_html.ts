// report.html: one self-contained page (inline CSS, SVG charts, base64 images; no scripts, no external assets).
import { COCO_STAT_NAMES } from '../eval/coco_eval.ts';
import { compareModels, summarizeFilter } from './derived.ts';
import { escapeHtml } from './escape.ts';
import { formatDuration, formatFlops, formatMetric, formatMetricDelta, formatParams, formatShare, formatStudentInit } from './format.ts';
import { renderImageGrid } from './image_grid.ts';
import { ROLE_COLORS, smoothingWindow, trainingCharts } from './training_charts.ts';
import { MODEL_ROLES, MODEL_ROLE_LABELS, type RunReport } from './types.ts';

/** Section ids, in page order (tests and the table of contents rely on them). */
export const REPORT_SECTIONS = [
  { id: 'summary', title: 'Results' },
  { id: 'training', title: 'Training' },
  { id: 'filter', title: 'Teacher filter' },
  { id: 'corpus', title: 'Corpus' },
  { id: 'topology', title: 'Topology' },
  { id: 'images', title: 'Test images' },
  { id: 'machine', title: 'Machine' },
] as const;

const CSS = `
:root{--fg:#1d232b;--muted:#68717d;--line:#dde1e6;--bg-alt:#f5f7f9;--accent:#1f5fbf}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;font:14px/1.5 system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif}
main{max-width:1010px;margin:0 auto;padding:28px 24px 48px}
header{border-bottom:2px solid var(--fg);padding-bottom:12px;margin-bottom:8px}
h1{font-size:24px;margin:0 0 4px;letter-spacing:-.01em}
h2{font-size:18px;margin:34px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:18px 0 6px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em}
p{margin:6px 0}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.muted{color:var(--muted)}
.meta{display:flex;flex-wrap:wrap;gap:4px 22px;color:var(--muted)}
.meta b{color:var(--fg);font-weight:600}
nav{margin:10px 0 0;font-size:13px}
nav a{color:var(--accent);text-decoration:none;margin-right:14px}
.headline{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0 4px}
.kpi{flex:1 1 180px;border:1px solid var(--line);border-radius:6px;padding:10px 14px;background:var(--bg-alt)}
.kpi .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.kpi .k{font-size:12px;color:var(--muted)}
.kpi.good .v{color:#1e7a34}.kpi.bad .v{color:#b3261e}
table{border-collapse:collapse;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{padding:5px 12px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600;background:var(--bg-alt);border-bottom:1px solid #c9ced4}
th:first-child,td:first-child{text-align:left}
tr.delta td{font-weight:600;border-top:1.5px solid #c9ced4}
td.role i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:7px;vertical-align:-1px}
table.kv td:first-child{color:var(--fg)}
table.kv td.note{color:var(--muted);text-align:left;white-space:normal}
.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:10px 22px}
.charts svg.chart{width:100%;height:auto;display:block}
pre.describe{background:var(--bg-alt);border:1px solid var(--line);border-radius:6px;padding:12px 14px;overflow-x:auto;white-space:pre;line-height:1.4}
.legend-line{display:flex;flex-wrap:wrap;gap:4px 16px}
.swatch i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.image-grid{margin-top:8px}
.grid-row{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:6px 12px;margin-bottom:14px;break-inside:avoid;page-break-inside:avoid}
.grid-header{margin-bottom:2px}
.grid-head{font-weight:600;font-size:12.5px;text-align:center;border-bottom:1px solid var(--line);padding-bottom:3px}
.row-caption{grid-column:1 / -1;font-size:12.5px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;border-bottom:1px dashed var(--line)}
figure{margin:0}
svg.cell{width:100%;height:auto;aspect-ratio:1;display:block;background:#eee;border:1px solid #cfd4da;border-radius:3px}
svg.cell text{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-weight:600}
figcaption{font-size:11.5px;text-align:center;color:var(--fg)}
footer{margin-top:40px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:8px}
@media screen and (max-width:760px){.charts{grid-template-columns:1fr}.grid-row{grid-template-columns:repeat(2,minmax(0,1fr))}}
@page{size:A4;margin:14mm 12mm}
@media print{
  body{font-size:11.5px}
  main{max-width:none;padding:0}
  nav{display:none}
  h2,h3{break-after:avoid;page-break-after:avoid}
  h2{margin-top:22px}
  section{break-inside:auto}
  table,.kpi,figure,.charts>svg,pre.describe{break-inside:avoid;page-break-inside:avoid}
  .charts{gap:6px 14px}
  .kpi{flex-basis:110px;padding:6px 10px}
  .kpi .v{font-size:18px}
  .kpi,th,pre.describe{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  svg.cell,.swatch i,td.role i{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
`;

function table(header: readonly string[], rows: readonly (readonly string[])[], cls = ''): string {
  const head = `<tr>${header.map((h) => `<th>${h}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return `<table${cls ? ` class="${cls}"` : ''}><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

function roleCell(role: (typeof MODEL_ROLES)[number], name: string | undefined): string {
  const label = escapeHtml(MODEL_ROLE_LABELS[role]) + (name ? ` <span class="muted">${escapeHtml(name)}</span>` : '');
  return `<td class="role"><i style="background:${ROLE_COLORS[role]}"></i>${label}</td>`;
}

function headline(report: RunReport): string {
  const { teacher, baseline, distilled } = report.models;
  const cmp = compareModels(report);
  const kpi = (value: string, key: string, tone = ''): string =>
    `<div class="kpi${tone ? ` ${tone}` : ''}"><div class="v">${escapeHtml(value)}</div><div class="k">${escapeHtml(key)}</div></div>`;
  const tone = cmp.apDelta === null ? '' : cmp.apDelta > 0 ? 'good' : cmp.apDelta < 0 ? 'bad' : '';
  return (
    `<div class="headline">` +
    kpi(formatMetric(distilled.metrics.AP), 'distilled student AP') +
    kpi(formatMetricDelta(distilled.metrics.AP, baseline.metrics.AP), 'AP vs labeled-only baseline', tone) +
    kpi(formatMetric(teacher.metrics.AP), 'teacher AP') +
    kpi(cmp.gapClosed === null ? 'n/a' : `${(100 * cmp.gapClosed).toFixed(0)} %`, 'of the teacher–baseline AP gap closed') +
    kpi(cmp.flopsReduction === null ? 'n/a' : `${cmp.flopsReduction.toFixed(1)}×`, 'fewer FLOPs than the teacher') +
    `</div>`
  );
}

function summarySection(report: RunReport): string {
  const { baseline, distilled } = report.models;
  const cols = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'] as const;
  const rows = MODEL_ROLES.map((role) => {
    const m = report.models[role];
    const cells = [...cols.map((c) => formatMetric(m.metrics[c])), formatFlops(m.flopsPerImage), formatParams(m.parameters)];
    return `<tr>${roleCell(role, m.name)}${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
  });
  const delta = cols.map((c) => formatMetricDelta(distilled.metrics[c], baseline.metrics[c]));
  rows.push(`<tr class="delta"><td>distilled − baseline</td>${delta.map((d) => `<td>${escapeHtml(d)}</td>`).join('')}<td></td><td></td></tr>`);
  const head = `<tr><th>model</th>${[...cols, 'FLOPs / image', 'params'].map((h) => `<th>${h}</th>`).join('')}</tr>`;
  const main = `<table class="summary"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;

  const allHead = ['model', ...COCO_STAT_NAMES];
  const allRows = MODEL_ROLES.map((role) => [escapeHtml(MODEL_ROLE_LABELS[role]), ...COCO_STAT_NAMES.map((k) => formatMetric(report.models[role].metrics[k]))]);
  return (
    headline(report) +
    `<h3>COCO metrics on the test split</h3>${main}` +
    `<p class="muted">AP is averaged over IoU 0.50:0.95; s/m/l are objects under 32², up to 96², and above 96² pixels. ` +
    `FLOPs count a multiply-add as 2. n/a: nothing to average (no ground truth in that range).</p>` +
    `<h3>All 12 COCO numbers</h3>${table(allHead, allRows)}`
  );
}

function trainingSection(report: RunReport): string {
  const charts = trainingCharts(report);
  const steps = Math.max(report.models.baseline.history.steps.length, report.models.distilled.history.steps.length);
  const window = smoothingWindow(steps);
  const smoothNote = window > 1 ? ` Thin lines: every step; bold: moving average over about ${window} steps.` : '';
  return (
    `<p class="muted">Both students have the same architecture and step budget; the baseline sees labeled images only, ` +
    `the distilled student also the teacher-labeled unlabeled images (FL + λ·ADL + L_loc). ` +
    `The distilled student started from ${escapeHtml(formatStudentInit(report.models.distilled.init))}.</p>` +
    `<h3>Accuracy during training</h3><div class="charts">${charts.accuracy.join('')}</div>` +
    `<h3>Losses</h3><p class="muted">${escapeHtml(`Per-step training losses.${smoothNote}`)}</p>` +
    `<div class="charts">${charts.losses.join('')}${charts.learningRate}</div>`
  );
}

function filterSection(report: RunReport): string {
  const f = report.filter;
  const s = summarizeFilter(f);
  const pct = (x: number | null): string => (x === null ? 'n/a' : `${(100 * x).toFixed(1)} %`);
  const rows: string[][] = [
    ['images ingested', String(f.imagesIngested), ''],
    ['samples published', String(f.samples), 'labeled images plus the unlabeled images the filter kept'],
    ['rejected', String(s.rejectedTotal), f.scoreThreshold === undefined ? 'no hard label after NMS' : `no hard label with score ≥ ${f.scoreThreshold}`],
    ...Object.entries(f.rejectedByReason)
      .sort((a, b) => b[1] - a[1])
      .map(([reason, count]) => [`  rejected: ${reason}`, String(count), formatShare(count, s.rejectedTotal) + ' of rejections']),
    ['dead-letter queue', String(f.dlq), 'inputs no stage could process'],
    ['unlabeled images seen', String(f.unlabeled.images), ''],
    ['unlabeled kept', `${f.unlabeled.kept} (${pct(s.unlabeledKeptShare)})`, 'share of unlabeled images turned into samples'],
  ];
  if (f.unlabeledByTruth) {
    const { empty, nonEmpty } = f.unlabeledByTruth;
    rows.push([`kept among truly empty (${empty.images})`, `${empty.kept} (${pct(s.emptyKeptShare)})`, 'lower is better: images with no object']);
    rows.push([`kept among non-empty (${nonEmpty.images})`, `${nonEmpty.kept} (${pct(s.nonEmptyKeptShare)})`, 'higher is better: images with at least one object']);
  } else {
    rows.push(['kept by ground truth', 'n/a', 'the unlabeled corpus has no ground truth']);
  }
  const body = rows
    .map(([k, v, note]) => `<tr><td>${escapeHtml(k).replace(/^ {2}/, '&emsp;')}</td><td>${escapeHtml(v)}</td><td class="note">${escapeHtml(note)}</td></tr>`)
    .join('');
  return (
    `<p class="muted">The teacher labels every image; an unlabeled image becomes a training sample only if at least one ` +
    `detection survives NMS above the score threshold (SAD's filter).</p>` +
    `<table class="kv"><thead><tr><th>statistic</th><th>value</th><th></th></tr></thead><tbody>${body}</tbody></table>`
  );
}

function corpusSection(report: RunReport): string {
  const rows = report.corpus.splits.map((s) => [
    escapeHtml(s.split),
    String(s.images),
    s.emptyImages === undefined ? 'n/a' : String(s.emptyImages),
    s.emptyImages === undefined ? 'n/a' : escapeHtml(formatShare(s.emptyImages, s.images)),
    s.annotations === undefined ? 'n/a' : String(s.annotations),
  ]);
  return table(['split', 'images', 'empty images', 'empty share', 'boxes'], rows);
}

function machineSection(report: RunReport): string {
  const m = report.machine;
  const rows = [
    ['CPU', `${m.cpuModel} (${m.cores} cores)`],
    ['Node.js', m.node],
    ['tfjs backend', `${m.backend}, ${m.threads > 0 ? `${m.threads} thread${m.threads === 1 ? '' : 's'}` : 'threads unknown'}`],
    ...(m.platform ? [['platform', m.platform]] : []),
  ];
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td style="text-align:left">${escapeHtml(v)}</td></tr>`).join('')}</tbody></table>`;
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

export function renderReportHtml(report: RunReport): string {
  const bodies: Record<(typeof REPORT_SECTIONS)[number]['id'], string> = {
    summary: summarySection(report),
    training: trainingSection(report),
    filter: filterSection(report),
    corpus: corpusSection(report),
    topology: `<p>Topology <b>${escapeHtml(report.topology.name)}</b>, as the runner described it at start-up:</p><pre class="describe">${escapeHtml(report.topology.description)}</pre>`,
    images: renderImageGrid(report.grid),
    machine: machineSection(report),
  };
  const nav = REPORT_SECTIONS.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join('');
  const meta = [
    ['run', report.runId],
    ['started', report.startedAt],
    ['finished', report.finishedAt],
    ['duration', formatDuration(report.durationSeconds)],
    ['topology', report.topology.name],
    ['backend', `${report.machine.backend} · ${report.machine.cores} cores`],
  ]
    .map(([k, v]) => `<span>${escapeHtml(k)} <b>${escapeHtml(v)}</b></span>`)
    .join('');
  const title = `distillery run ${report.runId}`;
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body><main>` +
    `<header><h1>${escapeHtml(title)}</h1><div class="meta">${meta}</div><nav>${nav}</nav></header>` +
    REPORT_SECTIONS.map((s) => section(s.id, s.title, bodies[s.id])).join('\n') +
    `<footer>Generated by distillery · Semi-supervised Adaptive Distillation (Tang et al. 2019) · metrics.json holds every number of this page.</footer>` +
    `</main></body></html>\n`
  );
}

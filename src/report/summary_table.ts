// The plain-text results table the main job prints when it finishes (teacher, baseline, distilled student).
import { compareModels } from './derived.ts';
import { formatFlops, formatMetric, formatMetricDelta, formatParams, formatStudentInit } from './format.ts';
import { MODEL_ROLES, MODEL_ROLE_LABELS, type RunReport } from './types.ts';

/**
 * e.g.
 * ```
 * model              AP     AP50   FLOPs/image     params
 * teacher            0.412  0.705  1.23 GFLOPs    2.31 M
 * baseline student   0.201  0.455  182 MFLOPs     312 k
 * distilled student  0.245  0.512  182 MFLOPs     312 k
 * distilled - baseline: AP +0.044, AP50 +0.057
 * distilled student initialised from: random weights
 * ```
 */
export function formatSummaryTable(report: RunReport): string {
  const header = ['model', 'AP', 'AP50', 'FLOPs/image', 'params'];
  const rows = MODEL_ROLES.map((role) => {
    const m = report.models[role];
    const label = m.name ? `${MODEL_ROLE_LABELS[role]} (${m.name})` : MODEL_ROLE_LABELS[role];
    return [label, formatMetric(m.metrics.AP), formatMetric(m.metrics.AP50), formatFlops(m.flopsPerImage), formatParams(m.parameters)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  // Text left-aligned, numbers right-aligned so decimal points line up.
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const { baseline, distilled } = report.models;
  const cmp = compareModels(report);
  const reduction = cmp.flopsReduction === null ? '' : `; distilled student costs ${cmp.flopsReduction.toFixed(1)}x fewer FLOPs than the teacher`;
  const delta =
    `distilled - baseline: AP ${formatMetricDelta(distilled.metrics.AP, baseline.metrics.AP)}, ` +
    `AP50 ${formatMetricDelta(distilled.metrics.AP50, baseline.metrics.AP50)}${reduction}`;
  return [line(header), ...rows.map(line), delta, `distilled student initialised from: ${formatStudentInit(distilled.init)}`].join('\n');
}

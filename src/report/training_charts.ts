// The report's training charts: loss terms and AP/AP50 over steps, baseline vs distilled student.
import { lineChart, type ChartSeries, type Point } from './svg_chart.ts';
import type { LossPoint, RunReport } from './types.ts';

export const ROLE_COLORS = {
  teacher: '#2a8a3e',
  baseline: '#d9670b',
  distilled: '#1f5fbf',
} as const;

/**
 * Exponential moving average that skips non-finite values (they stay gaps in the output) and starts
 * from the first value, so the curve is not pulled towards 0 at the start.
 */
export function emaSmooth(points: readonly Point[], window: number): Point[] {
  if (window <= 1) return points.map((p) => [p[0], p[1]]);
  const alpha = 2 / (window + 1);
  let state: number | undefined;
  return points.map(([x, y]) => {
    if (!Number.isFinite(y)) return [x, NaN];
    state = state === undefined ? y : state + alpha * (y - state);
    return [x, state];
  });
}

/** About 1/40 of the run, so a few hundred noisy steps read as a trend without hiding the shape. */
export function smoothingWindow(steps: number): number {
  return Math.max(1, Math.round(steps / 40));
}

const LOSS_TERMS = [
  { key: 'total', title: 'Total loss (FL + λ·ADL + L_loc)' },
  { key: 'focal', title: 'Focal loss (FL)' },
  { key: 'distillation', title: 'Adaptive distillation loss (ADL)' },
  { key: 'localization', title: 'Localization loss (smooth L1)' },
] as const satisfies readonly { key: keyof LossPoint; title: string }[];

type Student = 'baseline' | 'distilled';
const STUDENTS: readonly { role: Student; label: string }[] = [
  { role: 'baseline', label: 'baseline' },
  { role: 'distilled', label: 'distilled' },
];

function lossSeries(report: RunReport, key: keyof LossPoint): ChartSeries[] {
  const out: ChartSeries[] = [];
  for (const { role, label } of STUDENTS) {
    const steps = report.models[role].history.steps;
    const raw: Point[] = steps.map((s) => [s.step, s[key]]);
    const window = smoothingWindow(raw.length);
    const color = ROLE_COLORS[role];
    if (window > 1) {
      out.push({ name: `${label} (per step)`, points: raw, color, width: 1, opacity: 0.22, legend: false });
      out.push({ name: label, points: emaSmooth(raw, window), color, width: 2 });
    } else {
      out.push({ name: label, points: raw, color, width: 2 });
    }
  }
  return out;
}

export interface ChartSet {
  /** Per-step loss terms, one chart per term. */
  losses: string[];
  learningRate: string;
  /** AP and AP50 over steps with the teacher as a reference line. */
  accuracy: string[];
}

export function trainingCharts(report: RunReport, chartWidth = 470, chartHeight = 270): ChartSet {
  const losses = LOSS_TERMS.map(({ key, title }) =>
    lineChart({
      id: `loss-${key}`,
      title,
      xLabel: 'step',
      yLabel: 'loss',
      width: chartWidth,
      height: chartHeight,
      series: lossSeries(report, key),
      yIncludesZero: true,
      emptyText: 'no training steps recorded',
    }),
  );
  const learningRate = lineChart({
    id: 'lr',
    title: 'Learning rate',
    xLabel: 'step',
    yLabel: 'lr',
    width: chartWidth,
    height: Math.round(chartHeight * 0.8),
    // Baseline last and dashed: both students usually share the schedule, and the dashes keep both visible.
    series: [...STUDENTS].reverse().map(({ role, label }) => ({
      name: label,
      points: report.models[role].history.steps.map((s): Point => [s.step, s.lr]),
      color: ROLE_COLORS[role],
      width: 2,
      dash: role === 'baseline' ? '7 4' : undefined,
    })),
    yIncludesZero: true,
    emptyText: 'no training steps recorded',
  });
  const teacher = report.models.teacher.metrics;
  const accuracy = (['AP', 'AP50'] as const).map((metric) =>
    lineChart({
      id: `eval-${metric}`,
      title: metric === 'AP' ? 'AP@[.50:.95] on the test split' : 'AP50 on the test split',
      xLabel: 'step',
      yLabel: metric,
      width: chartWidth,
      height: chartHeight,
      series: STUDENTS.map(({ role, label }) => ({
        name: label,
        // -1 is pycocotools' "nothing to average", not a score: leave a gap.
        points: report.models[role].history.evals.map((e): Point => [e.step, e[metric] >= 0 ? e[metric] : NaN]),
        color: ROLE_COLORS[role],
        width: 2,
      })),
      references: teacher[metric] >= 0 ? [{ name: `teacher (${teacher[metric].toFixed(3)})`, y: teacher[metric], color: ROLE_COLORS.teacher }] : [],
      yIncludesZero: true,
      emptyText: 'no evaluations recorded',
    }),
  );
  return { losses, learningRate, accuracy };
}

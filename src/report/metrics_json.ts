// metrics.json: the machine-readable twin of report.html (every number, no image bytes).
import { COCO_STAT_NAMES } from '../eval/coco_eval.ts';
import { compareModels, share, summarizeFilter, type Comparison, type FilterSummary } from './derived.ts';
import type { CocoStats, EvalPoint, FilterStats, LossPoint, MachineInfo, ModelReport, RunReport, StudentInitReport, StudentReport } from './types.ts';

export const METRICS_JSON_VERSION = 1;

interface ModelJson {
  name: string | null;
  parameters: number;
  flopsPerImage: number;
  metrics: Record<string, number>;
}

interface StudentJson extends ModelJson {
  history: { steps: LossPoint[]; evals: EvalPoint[] };
  /** Where the weights started (absent in the report: random). */
  init: StudentInitReport;
}

export interface MetricsJson {
  v: number;
  runId: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  topology: { name: string; description: string };
  corpus: { splits: { split: string; images: number; emptyImages: number | null; emptyShare: number | null; annotations: number | null }[] };
  filter: FilterStats & FilterSummary;
  models: { teacher: ModelJson; baseline: StudentJson; distilled: StudentJson };
  comparison: Comparison;
  grid: { images: string[]; minScore: number | null; classNames: string[] };
}

/** The 12 numbers in pycocotools' order, dropping extra fields a `CocoMetrics` carries (per-category, stats). */
function cocoStats(m: CocoStats): Record<string, number> {
  return Object.fromEntries(COCO_STAT_NAMES.map((k) => [k, m[k]]));
}

function model(m: ModelReport): ModelJson {
  return { name: m.name ?? null, parameters: m.parameters, flopsPerImage: m.flopsPerImage, metrics: cocoStats(m.metrics) };
}

function student(m: StudentReport): StudentJson {
  return {
    ...model(m),
    history: {
      // Named fields only: callers may pass StepRecord/EvalRecord objects with more in them.
      steps: m.history.steps.map(({ step, total, focal, distillation, localization, lr }) => ({ step, total, focal, distillation, localization, lr })),
      evals: m.history.evals.map(({ step, AP, AP50 }) => ({ step, AP, AP50 })),
    },
    init: { ...(m.init ?? { from: 'random' }) },
  };
}

/** Non-finite numbers become null in JSON (JSON.stringify's rule), so a NaN loss reads back as null. */
export function buildMetricsJson(report: RunReport): MetricsJson {
  return {
    v: METRICS_JSON_VERSION,
    runId: report.runId,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    durationSeconds: report.durationSeconds,
    machine: { ...report.machine },
    topology: { name: report.topology.name, description: report.topology.description },
    corpus: {
      splits: report.corpus.splits.map((s) => ({
        split: s.split,
        images: s.images,
        emptyImages: s.emptyImages ?? null,
        emptyShare: s.emptyImages === undefined ? null : share(s.emptyImages, s.images),
        annotations: s.annotations ?? null,
      })),
    },
    filter: { ...report.filter, rejectedByReason: { ...report.filter.rejectedByReason }, ...summarizeFilter(report.filter) },
    models: {
      teacher: model(report.models.teacher),
      baseline: student(report.models.baseline),
      distilled: student(report.models.distilled),
    },
    comparison: compareModels(report),
    grid: { images: report.grid.images.map((i) => i.id), minScore: report.grid.minScore ?? null, classNames: [...report.grid.classNames] },
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isFlat(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  const values = Array.isArray(v) ? v : Object.values(v);
  return values.every((x) => x === null || typeof x !== 'object');
}

/**
 * Indented JSON, except that objects and arrays holding only scalars stay on one line: a history of
 * thousands of steps is then one line per step instead of eight (and the file several times smaller).
 */
export function stringifyCompact(value: unknown, indent = '  ', depth = 0): string {
  // Round-trip through JSON first: drops undefined, turns NaN/Infinity into null, calls toJSON.
  const v = (depth === 0 ? JSON.parse(JSON.stringify(value) ?? 'null') : value) as Json;
  if (isFlat(v)) return JSON.stringify(v);
  const pad = indent.repeat(depth + 1);
  const end = indent.repeat(depth);
  if (Array.isArray(v)) {
    return `[\n${v.map((x) => pad + stringifyCompact(x, indent, depth + 1)).join(',\n')}\n${end}]`;
  }
  const entries = Object.entries(v as Record<string, Json>);
  return `{\n${entries.map(([k, x]) => `${pad}${JSON.stringify(k)}: ${stringifyCompact(x, indent, depth + 1)}`).join(',\n')}\n${end}}`;
}

export function formatMetricsJson(report: RunReport): string {
  return `${stringifyCompact(buildMetricsJson(report))}\n`;
}

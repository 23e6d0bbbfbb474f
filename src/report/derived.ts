// Numbers the report derives from the RunReport's counts (shares, totals, deltas), shared by HTML, JSON and text.
import type { FilterStats, KeptCount, RunReport } from './types.ts';

/** `part / whole`, or null when `whole` is not positive (JSON has no NaN). */
export function share(part: number, whole: number): number | null {
  return whole > 0 && Number.isFinite(part) ? part / whole : null;
}

export function keptShare(c: KeptCount): number | null {
  return share(c.kept, c.images);
}

export interface FilterSummary {
  rejectedTotal: number;
  /** Kept share of all unlabeled images. */
  unlabeledKeptShare: number | null;
  /** Kept share among unlabeled images that truly hold no object (lower is better). */
  emptyKeptShare: number | null;
  /** Kept share among unlabeled images that hold at least one object (higher is better). */
  nonEmptyKeptShare: number | null;
}

export function summarizeFilter(f: FilterStats): FilterSummary {
  return {
    rejectedTotal: Object.values(f.rejectedByReason).reduce((a, b) => a + b, 0),
    unlabeledKeptShare: keptShare(f.unlabeled),
    emptyKeptShare: f.unlabeledByTruth ? keptShare(f.unlabeledByTruth.empty) : null,
    nonEmptyKeptShare: f.unlabeledByTruth ? keptShare(f.unlabeledByTruth.nonEmpty) : null,
  };
}

/** A metric counts only when pycocotools could compute it (-1 means "no ground truth to average"). */
function usable(x: number): boolean {
  return Number.isFinite(x) && x >= 0;
}

export interface Comparison {
  /** distilled AP − baseline AP (null when either is unavailable). */
  apDelta: number | null;
  ap50Delta: number | null;
  /** How much of the teacher's AP lead over the baseline the distillation recovered: (d − b) / (t − b). */
  gapClosed: number | null;
  /** Teacher FLOPs / distilled-student FLOPs. */
  flopsReduction: number | null;
}

export function compareModels(report: RunReport): Comparison {
  const { teacher, baseline, distilled } = report.models;
  const delta = (a: number, b: number): number | null => (usable(a) && usable(b) ? a - b : null);
  const apDelta = delta(distilled.metrics.AP, baseline.metrics.AP);
  const lead = delta(teacher.metrics.AP, baseline.metrics.AP);
  return {
    apDelta,
    ap50Delta: delta(distilled.metrics.AP50, baseline.metrics.AP50),
    gapClosed: apDelta !== null && lead !== null && lead > 0 ? apDelta / lead : null,
    flopsReduction: share(teacher.flopsPerImage, distilled.flopsPerImage),
  };
}

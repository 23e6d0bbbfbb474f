// Number formatting shared by the HTML report and the plain-text summary (metrics, FLOPs, counts, shares).
import { formatFixed3 } from '../eval/coco_summary.ts';
import type { StudentInitReport } from './types.ts';

/** A COCO metric at 3 decimals as pycocotools prints it; 'n/a' for -1 (nothing to average) and non-finite values. */
export function formatMetric(x: number): string {
  if (!Number.isFinite(x) || x < 0) return 'n/a';
  return formatFixed3(x);
}

/** Signed difference of two metrics at 3 decimals, e.g. '+0.042'; 'n/a' when either side is missing. */
export function formatMetricDelta(a: number, b: number): string {
  if (formatMetric(a) === 'n/a' || formatMetric(b) === 'n/a') return 'n/a';
  const d = a - b;
  const text = formatFixed3(Math.abs(d));
  return `${d < 0 && text !== '0.000' ? '-' : '+'}${text}`;
}

const SI: readonly [number, string][] = [
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/** Three significant digits with an SI prefix: 1234567 → '1.23 M', 812 → '812'. */
export function formatSi(n: number, unit = ''): string {
  if (!Number.isFinite(n)) return 'n/a';
  const abs = Math.abs(n);
  for (const [scale, prefix] of SI) {
    // Compare after rounding so 999.6k prints as 1.00 M, not 1000 k.
    if (Number((abs / scale).toPrecision(3)) >= 1) return `${(n / scale).toPrecision(3)} ${prefix}${unit}`;
  }
  const digits = Number.isInteger(n) ? String(n) : n.toPrecision(3);
  return unit ? `${digits} ${unit}` : digits;
}

export function formatFlops(flops: number): string {
  return formatSi(flops, 'FLOPs');
}

export function formatParams(params: number): string {
  return formatSi(params);
}

/** `part / whole` as a percentage with one decimal, e.g. '41.2 %'; 'n/a' when `whole` is 0. */
export function formatShare(part: number, whole: number): string {
  if (!(whole > 0) || !Number.isFinite(part)) return 'n/a';
  return `${((100 * part) / whole).toFixed(1)} %`;
}

/** '4.2 s', '12 min 05 s', '1 h 02 min'. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return 'n/a';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  return `${m} min ${String(s).padStart(2, '0')} s`;
}

/** e.g. 'random weights', 'the labeled-only baseline (runs/x/baseline)'. */
export function formatStudentInit(init: StudentInitReport | undefined): string {
  if (init === undefined || init.from === 'random') return 'random weights';
  return init.from === 'baseline' ? `the labeled-only baseline (${init.key})` : `the saved model ${init.key}`;
}

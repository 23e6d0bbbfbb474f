// Inline SVG line charts (axes, ticks, legend, several series, horizontal reference lines) for the report.
import { escapeHtml } from './escape.ts';

export type Point = readonly [x: number, y: number];

export interface ChartSeries {
  name: string;
  /** Points in data units; a non-finite x or y breaks the line (NaN losses show as a gap, not a zero). */
  points: readonly Point[];
  color: string;
  /** SVG stroke-dasharray, e.g. '6 3'. */
  dash?: string;
  /** Stroke width in px. Default 1.75. */
  width?: number;
  /** Default 1; raw data under a smoothed line reads well at ~0.25. */
  opacity?: number;
  /** Show in the legend. Default true. */
  legend?: boolean;
}

/** A horizontal line across the plot, e.g. the teacher's AP. */
export interface ReferenceLine {
  name: string;
  y: number;
  color: string;
  /** Default '5 4'. */
  dash?: string;
}

export interface LineChartOptions {
  /** Prefix of element ids (clip path); make it unique within the page. Default 'chart'. */
  id?: string;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Outer size in px. Defaults 480 × 280. */
  width?: number;
  height?: number;
  series: readonly ChartSeries[];
  references?: readonly ReferenceLine[];
  /** Fixed axis ranges; otherwise the x range is the data's and the y range is rounded out to ticks. */
  xDomain?: readonly [number, number];
  yDomain?: readonly [number, number];
  /** Stretch an automatic y range to include 0 (losses, AP). Default false. */
  yIncludesZero?: boolean;
  /** Shown in the plot area when no series has a finite point. Default 'no data'. */
  emptyText?: string;
}

export type Scale = (value: number) => number;

/** Maps `domain` linearly onto `range`; a zero-width domain maps everything to the middle of the range. */
export function linearScale(domain: readonly [number, number], range: readonly [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (d1 === d0) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** Step of about `count` ticks over [min, max]: 1, 2 or 5 times a power of ten. */
export function tickStep(min: number, max: number, count: number): number {
  const raw = (max - min) / Math.max(1, count);
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const err = raw / power;
  const mult = err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
  return cleanFloat(mult * power);
}

/** Multiples of a 1-2-5 step inside [min, max] (both ends included when they are multiples). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
  if (max === min) return [min];
  const step = tickStep(min, max, count);
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  const ticks: number[] = [];
  // Integer multiples avoid accumulating 0.1 + 0.2 style error into the labels.
  for (let i = first; i <= last; i++) ticks.push(cleanFloat(i * step));
  return ticks;
}

function cleanFloat(v: number): number {
  return Number(v.toPrecision(12));
}

/** Tick label with as many decimals as the step needs (0.05 → 2), thousands without separators. */
export function formatTick(value: number, step: number): string {
  const decimals = step > 0 && Number.isFinite(step) ? Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9))) : 0;
  const text = value.toFixed(decimals);
  return text === `-${(0).toFixed(decimals)}` ? text.slice(1) : text;
}

/** Where the plot area sits and how data maps onto it; `lineChart` draws with exactly this. */
export interface ChartFrame {
  width: number;
  height: number;
  /** Plot area in px. */
  left: number;
  top: number;
  right: number;
  bottom: number;
  xDomain: [number, number];
  yDomain: [number, number];
  x: Scale;
  y: Scale;
  xTicks: number[];
  yTicks: number[];
  legendRows: LegendItem[][];
  /** False when no series or reference has a finite value. */
  hasData: boolean;
}

interface LegendItem {
  name: string;
  color: string;
  dash?: string;
  width: number;
  x: number;
}

const MARGIN = { left: 58, right: 16, bottom: 46, titleHeight: 22, legendRow: 17, gap: 8, yLabelSpace: 34 };
const FONT_PX = 11.5;
const CHAR_PX = 6.4; // Average glyph width at FONT_PX in a sans-serif font, for layout estimates.
const SWATCH_PX = 22;

function finitePoint(p: Point): boolean {
  return Number.isFinite(p[0]) && Number.isFinite(p[1]);
}

function extent(values: readonly number[]): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/** A single value still needs a visible range: pad it by 10 % of its size (or 1 around 0). */
function widen([lo, hi]: [number, number]): [number, number] {
  if (hi > lo) return [lo, hi];
  const pad = Math.abs(lo) * 0.1 || 1;
  return [lo - pad, hi + pad];
}

function layoutLegend(opts: LineChartOptions, width: number): LegendItem[][] {
  const items = [
    ...opts.series.filter((s) => s.legend !== false).map((s) => ({ name: s.name, color: s.color, dash: s.dash })),
    ...(opts.references ?? []).map((r) => ({ name: r.name, color: r.color, dash: r.dash ?? '5 4' })),
  ];
  const rows: LegendItem[][] = [];
  let row: LegendItem[] = [];
  let x = MARGIN.left;
  for (const item of items) {
    const w = SWATCH_PX + 6 + item.name.length * CHAR_PX + 14;
    if (row.length > 0 && x + w > width - MARGIN.right) {
      rows.push(row);
      row = [];
      x = MARGIN.left;
    }
    row.push({ ...item, width: w, x });
    x += w;
  }
  if (row.length > 0) rows.push(row);
  return rows;
}

/** Computes the layout and scales of a chart without drawing it. */
export function chartFrame(opts: LineChartOptions): ChartFrame {
  const width = opts.width ?? 480;
  const height = opts.height ?? 280;
  const legendRows = layoutLegend(opts, width);
  const top = MARGIN.gap + (opts.title ? MARGIN.titleHeight : 0) + legendRows.length * MARGIN.legendRow + MARGIN.gap;
  const right = width - MARGIN.right;
  const bottom = height - MARGIN.bottom;

  const points = opts.series.flatMap((s) => s.points.filter(finitePoint));
  const refs = (opts.references ?? []).map((r) => r.y).filter(Number.isFinite);
  const dataX = extent(points.map((p) => p[0]));
  const dataY = extent([...points.map((p) => p[1]), ...refs]);
  const hasData = dataY !== undefined;

  const xDomain: [number, number] = opts.xDomain ? [opts.xDomain[0], opts.xDomain[1]] : widen(dataX ?? [0, 1]);
  let yDomain: [number, number];
  if (opts.yDomain) {
    yDomain = [opts.yDomain[0], opts.yDomain[1]];
  } else {
    let [lo, hi] = dataY ?? [0, 1];
    if (opts.yIncludesZero) {
      lo = Math.min(lo, 0);
      hi = Math.max(hi, 0);
    }
    [lo, hi] = widen([lo, hi]);
    const step = tickStep(lo, hi, 5);
    yDomain = [cleanFloat(Math.floor(lo / step + 1e-9) * step), cleanFloat(Math.ceil(hi / step - 1e-9) * step)];
  }
  const yTicks = niceTicks(yDomain[0], yDomain[1], Math.max(2, Math.round((bottom - top) / 45)));
  const yStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  // Long tick labels (0.0005) push the plot right so they clear the rotated y label.
  const labelChars = Math.max(0, ...yTicks.map((t) => formatTick(t, yStep).length));
  const left = Math.max(MARGIN.left, MARGIN.yLabelSpace + labelChars * CHAR_PX);
  return {
    width,
    height,
    left,
    top,
    right,
    bottom,
    xDomain,
    yDomain,
    x: linearScale(xDomain, [left, right]),
    y: linearScale(yDomain, [bottom, top]),
    xTicks: niceTicks(xDomain[0], xDomain[1], Math.max(2, Math.round((right - left) / 80))),
    yTicks,
    legendRows,
    hasData,
  };
}

/** Coordinates are written with 2 decimals: sub-pixel enough, and keeps long histories small. */
function n(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** Splits a series at non-finite points into runs of consecutive finite points. */
export function finiteRuns(points: readonly Point[]): Point[][] {
  const runs: Point[][] = [];
  let run: Point[] = [];
  for (const p of points) {
    if (finitePoint(p)) {
      run.push(p);
    } else if (run.length > 0) {
      runs.push(run);
      run = [];
    }
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

function seriesSvg(s: ChartSeries, f: ChartFrame): string {
  const width = s.width ?? 1.75;
  const style = [
    `stroke="${escapeHtml(s.color)}"`,
    `stroke-width="${n(width)}"`,
    s.dash ? `stroke-dasharray="${escapeHtml(s.dash)}"` : '',
    s.opacity !== undefined && s.opacity < 1 ? `stroke-opacity="${n(s.opacity)}"` : '',
  ].filter(Boolean).join(' ');
  const parts = finiteRuns(s.points).map((run) => {
    // A lone point (one eval so far, or one between NaNs) has no segment to draw: mark it instead.
    if (run.length === 1) {
      const [px, py] = run[0];
      const fill = `fill="${escapeHtml(s.color)}"${s.opacity !== undefined && s.opacity < 1 ? ` fill-opacity="${n(s.opacity)}"` : ''}`;
      return `<circle class="pt" cx="${n(f.x(px))}" cy="${n(f.y(py))}" r="${n(width + 1.25)}" ${fill}/>`;
    }
    const pts = run.map(([px, py]) => `${n(f.x(px))},${n(f.y(py))}`).join(' ');
    return `<polyline points="${pts}" fill="none" ${style} stroke-linejoin="round" stroke-linecap="round"/>`;
  });
  return `<g class="series" data-name="${escapeHtml(s.name)}">${parts.join('')}</g>`;
}

function axesSvg(f: ChartFrame, opts: LineChartOptions): string {
  const out: string[] = [];
  const xStep = f.xTicks.length > 1 ? f.xTicks[1] - f.xTicks[0] : tickStep(f.xDomain[0], f.xDomain[1], 5);
  const yStep = f.yTicks.length > 1 ? f.yTicks[1] - f.yTicks[0] : tickStep(f.yDomain[0], f.yDomain[1], 5);
  for (const t of f.yTicks) {
    const y = n(f.y(t));
    out.push(`<line class="grid" x1="${n(f.left)}" y1="${y}" x2="${n(f.right)}" y2="${y}"/>`);
    out.push(`<text class="tick" x="${n(f.left - 6)}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(t, yStep)}</text>`);
  }
  for (const t of f.xTicks) {
    const x = n(f.x(t));
    out.push(`<line class="tickmark" x1="${x}" y1="${n(f.bottom)}" x2="${x}" y2="${n(f.bottom + 4)}"/>`);
    out.push(`<text class="tick" x="${x}" y="${n(f.bottom + 16)}" text-anchor="middle">${formatTick(t, xStep)}</text>`);
  }
  out.push(`<line class="axis" x1="${n(f.left)}" y1="${n(f.bottom)}" x2="${n(f.right)}" y2="${n(f.bottom)}"/>`);
  out.push(`<line class="axis" x1="${n(f.left)}" y1="${n(f.top)}" x2="${n(f.left)}" y2="${n(f.bottom)}"/>`);
  if (opts.xLabel) {
    out.push(`<text class="label" x="${n((f.left + f.right) / 2)}" y="${n(f.height - 8)}" text-anchor="middle">${escapeHtml(opts.xLabel)}</text>`);
  }
  if (opts.yLabel) {
    const cy = n((f.top + f.bottom) / 2);
    out.push(`<text class="label" x="14" y="${cy}" text-anchor="middle" transform="rotate(-90 14 ${cy})">${escapeHtml(opts.yLabel)}</text>`);
  }
  return out.join('');
}

function legendSvg(f: ChartFrame, opts: LineChartOptions): string {
  const y0 = MARGIN.gap + (opts.title ? MARGIN.titleHeight : 0);
  return f.legendRows
    .map((row, r) =>
      row
        .map((item) => {
          const cy = n(y0 + r * MARGIN.legendRow + MARGIN.legendRow / 2);
          const dash = item.dash ? ` stroke-dasharray="${escapeHtml(item.dash)}"` : '';
          return (
            `<line x1="${n(item.x)}" y1="${cy}" x2="${n(item.x + SWATCH_PX)}" y2="${cy}" stroke="${escapeHtml(item.color)}" stroke-width="2.5"${dash}/>` +
            `<text class="legend" x="${n(item.x + SWATCH_PX + 6)}" y="${cy}" dominant-baseline="middle">${escapeHtml(item.name)}</text>`
          );
        })
        .join(''),
    )
    .join('');
}

/** One self-contained `<svg>` element: styled inline so it renders the same wherever it is pasted. */
export function lineChart(opts: LineChartOptions): string {
  const f = chartFrame(opts);
  const id = (opts.id ?? 'chart').replace(/[^A-Za-z0-9_-]/g, '_');
  const clip = `${id}-plot`;
  const body: string[] = [];
  body.push(
    `<style>#${id} text{font:${FONT_PX}px system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;fill:#333}` +
      `#${id} .title{font-weight:600;font-size:13px}#${id} .tick{fill:#555}` +
      `#${id} .grid{stroke:#e6e6e6;stroke-width:1}#${id} .axis,#${id} .tickmark{stroke:#888;stroke-width:1}</style>`,
  );
  body.push(`<defs><clipPath id="${clip}"><rect x="${n(f.left)}" y="${n(f.top - 2)}" width="${n(f.right - f.left)}" height="${n(f.bottom - f.top + 4)}"/></clipPath></defs>`);
  if (opts.title) body.push(`<text class="title" x="${n(f.left)}" y="${n(MARGIN.gap + 13)}">${escapeHtml(opts.title)}</text>`);
  body.push(legendSvg(f, opts));
  body.push(axesSvg(f, opts));
  const plot: string[] = [];
  for (const r of opts.references ?? []) {
    if (!Number.isFinite(r.y)) continue;
    const y = n(f.y(r.y));
    plot.push(`<line class="ref" data-name="${escapeHtml(r.name)}" x1="${n(f.left)}" y1="${y}" x2="${n(f.right)}" y2="${y}" stroke="${escapeHtml(r.color)}" stroke-width="1.5" stroke-dasharray="${escapeHtml(r.dash ?? '5 4')}"/>`);
  }
  for (const s of opts.series) plot.push(seriesSvg(s, f));
  body.push(`<g clip-path="url(#${clip})">${plot.join('')}</g>`);
  if (!f.hasData) {
    body.push(`<text class="empty" x="${n((f.left + f.right) / 2)}" y="${n((f.top + f.bottom) / 2)}" text-anchor="middle" dominant-baseline="middle">${escapeHtml(opts.emptyText ?? 'no data')}</text>`);
  }
  const label = escapeHtml(opts.title ?? 'line chart');
  return `<svg id="${id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${f.width} ${f.height}" width="${f.width}" height="${f.height}" role="img" aria-label="${label}">${body.join('')}</svg>`;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartFrame, finiteRuns, formatTick, lineChart, linearScale, niceTicks, tickStep, type LineChartOptions } from '../../src/report/svg_chart.ts';

/** Every `<polyline points="…">` of an SVG string as lists of [x, y]. */
function polylines(svg: string): number[][][] {
  return [...svg.matchAll(/<polyline points="([^"]*)"/g)].map((m) => m[1].split(' ').map((p) => p.split(',').map(Number)));
}

function circles(svg: string): { cx: number; cy: number }[] {
  return [...svg.matchAll(/<circle class="pt" cx="([^"]+)" cy="([^"]+)"/g)].map((m) => ({ cx: Number(m[1]), cy: Number(m[2]) }));
}

const near = (a: number, b: number, tol = 0.01): void => assert.ok(Math.abs(a - b) <= tol, `${a} ≉ ${b}`);

test('linearScale maps the domain onto the range, inverted ranges included', () => {
  const x = linearScale([0, 10], [50, 450]);
  assert.equal(x(0), 50);
  assert.equal(x(2.5), 150);
  assert.equal(x(10), 450);
  assert.equal(x(-5), -150);
  const y = linearScale([0, 1], [200, 20]); // SVG y grows downwards
  assert.equal(y(0), 200);
  assert.equal(y(0.25), 155);
  assert.equal(y(1), 20);
  assert.equal(linearScale([3, 3], [0, 100])(3), 50);
});

test('niceTicks picks 1-2-5 steps without floating-point junk', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 0.3, 3), [0, 0.1, 0.2, 0.3]);
  assert.deepEqual(niceTicks(0.13, 0.97, 4), [0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(niceTicks(1, 600, 6), [100, 200, 300, 400, 500, 600]);
  assert.deepEqual(niceTicks(-1, 1, 4), [-1, -0.5, 0, 0.5, 1]);
  assert.deepEqual(niceTicks(5, 5), [5]);
  assert.deepEqual(niceTicks(NaN, 1), []);
  assert.deepEqual(niceTicks(2, 1), []);
  assert.equal(tickStep(0, 0.0012, 6), 0.0002);
});

test('formatTick shows the decimals the step needs', () => {
  assert.equal(formatTick(0.05, 0.05), '0.05');
  assert.equal(formatTick(0.1, 0.05), '0.10');
  assert.equal(formatTick(200, 100), '200');
  assert.equal(formatTick(2.5, 0.5), '2.5');
  assert.equal(formatTick(-0.00001, 0.1), '0.0');
});

test('data points land on hand-checked coordinates of the plot area', () => {
  const opts: LineChartOptions = {
    width: 400,
    height: 300,
    xDomain: [0, 10],
    yDomain: [0, 1],
    series: [{ name: 'a', color: '#000', points: [[0, 0], [5, 0.5], [10, 1], [2.5, 0.75]] }],
    references: [{ name: 'teacher', y: 0.4, color: '#0a0' }],
  };
  const f = chartFrame(opts);
  // The plot area sits inside the SVG with room for the axes on the left and bottom.
  assert.ok(f.left > 20 && f.right <= 400 && f.right > f.left);
  assert.ok(f.top > 0 && f.bottom < 300 && f.bottom > f.top);
  const svg = lineChart(opts);
  const [line] = polylines(svg);
  const w = f.right - f.left;
  const h = f.bottom - f.top;
  const expected = [
    [f.left, f.bottom], // (0, 0): bottom-left corner
    [f.left + w / 2, f.bottom - h / 2], // (5, 0.5): centre
    [f.right, f.top], // (10, 1): top-right corner
    [f.left + w / 4, f.bottom - (3 * h) / 4], // (2.5, 0.75)
  ];
  assert.equal(line.length, 4);
  line.forEach(([x, y], i) => {
    near(x, expected[i][0]);
    near(y, expected[i][1]);
  });
  const ref = /<line class="ref" data-name="teacher" x1="([^"]+)" y1="([^"]+)" x2="([^"]+)" y2="([^"]+)"/.exec(svg);
  assert.ok(ref);
  near(Number(ref[1]), f.left);
  near(Number(ref[3]), f.right);
  near(Number(ref[2]), f.bottom - 0.4 * h);
  near(Number(ref[4]), f.bottom - 0.4 * h);
  assert.match(svg, /^<svg [^>]*viewBox="0 0 400 300"/);
});

test('y ticks are drawn at their data positions and labelled', () => {
  const opts: LineChartOptions = { width: 400, height: 300, xDomain: [0, 1], yDomain: [0, 1], series: [{ name: 's', color: '#000', points: [[0, 0], [1, 1]] }] };
  const f = chartFrame(opts);
  const svg = lineChart(opts);
  for (const t of f.yTicks) {
    const y = String(Math.round(f.y(t) * 100) / 100);
    assert.ok(svg.includes(`y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(t, f.yTicks[1] - f.yTicks[0])}</text>`), `tick ${t}`);
  }
  assert.equal(f.yTicks[0], 0);
  assert.equal(f.yTicks[f.yTicks.length - 1], 1);
});

test('an automatic y range is rounded out to ticks and holds all data and references', () => {
  const opts: LineChartOptions = {
    series: [{ name: 's', color: '#000', points: [[1, 0.13], [2, 0.87], [3, 0.5]] }],
    references: [{ name: 'r', y: 0.93, color: '#0a0' }],
  };
  const f = chartFrame(opts);
  assert.ok(f.yDomain[0] <= 0.13 && f.yDomain[1] >= 0.93, `${f.yDomain}`);
  assert.equal(f.yTicks[0], f.yDomain[0]);
  assert.equal(f.yTicks[f.yTicks.length - 1], f.yDomain[1]);
  assert.deepEqual(f.xDomain, [1, 3]);
  assert.equal(chartFrame({ ...opts, yIncludesZero: true }).yDomain[0], 0);
});

test('non-finite values break the line instead of drawing through them', () => {
  const points: [number, number][] = [[1, 1], [2, NaN], [3, 3], [4, 4], [5, Infinity], [6, 2], [7, 1]];
  assert.deepEqual(finiteRuns(points), [[[1, 1]], [[3, 3], [4, 4]], [[6, 2], [7, 1]]]);
  const opts: LineChartOptions = { series: [{ name: 'loss', color: '#00f', points }] };
  const svg = lineChart(opts);
  const f = chartFrame(opts);
  assert.equal(polylines(svg).length, 2);
  assert.equal(polylines(svg)[0].length, 2);
  const [lone] = circles(svg);
  near(lone.cx, f.x(1));
  near(lone.cy, f.y(1));
  assert.ok(!/NaN|Infinity/.test(svg));
  assert.ok(f.yDomain[1] < 10, 'Infinity does not stretch the axis');
});

test('a one-point series is a visible marker centred on a widened x range', () => {
  const opts: LineChartOptions = { width: 300, height: 200, series: [{ name: 'eval', color: '#00f', points: [[100, 0.3]] }] };
  const f = chartFrame(opts);
  const svg = lineChart(opts);
  assert.equal(polylines(svg).length, 0);
  const [c] = circles(svg);
  near(c.cx, (f.left + f.right) / 2);
  near(c.cy, f.y(0.3));
  assert.ok(f.yDomain[0] < 0.3 && f.yDomain[1] > 0.3);
  assert.ok(!svg.includes('no data'));
});

test('empty and all-NaN charts still draw axes and say there is no data', () => {
  for (const series of [[], [{ name: 'x', color: '#000', points: [] }], [{ name: 'x', color: '#000', points: [[1, NaN], [2, NaN]] as [number, number][] }]]) {
    const svg = lineChart({ series, emptyText: 'nothing yet' });
    assert.ok(svg.includes('>nothing yet</text>'));
    assert.ok(svg.includes('class="axis"'));
    assert.equal(polylines(svg).length + circles(svg).length, 0);
    assert.ok(!/NaN|Infinity/.test(svg));
  }
  assert.ok(lineChart({ series: [] }).includes('>no data</text>'));
});

test('legend lists visible series and references, escaped, wrapping to more rows when long', () => {
  const svg = lineChart({
    series: [
      { name: '<b>raw</b>', color: '#000', points: [[0, 1]], legend: false },
      { name: 'a<script>', color: '#000', points: [[0, 1]] },
    ],
    references: [{ name: 'teacher & co', y: 1, color: '#0a0' }],
  });
  assert.ok(svg.includes('>a&lt;script&gt;</text>'));
  assert.ok(svg.includes('>teacher &amp; co</text>'));
  assert.ok(!svg.includes('<script'));
  assert.ok(!svg.includes('>&lt;b&gt;raw&lt;/b&gt;</text>'), 'series with legend: false stay out of the legend');

  const many = Array.from({ length: 8 }, (_, i) => ({ name: `a rather long series name ${i}`, color: '#000', points: [[0, i]] as [number, number][] }));
  const one = chartFrame({ width: 480, series: many.slice(0, 1) });
  const wrapped = chartFrame({ width: 480, series: many });
  assert.equal(one.legendRows.length, 1);
  assert.ok(wrapped.legendRows.length >= 3);
  assert.ok(wrapped.top > one.top, 'the plot moves down to make room');
  for (const row of wrapped.legendRows) {
    const last = row[row.length - 1];
    assert.ok(row.length === 1 || last.x + last.width <= 480, 'rows stay within the chart');
  }
});

test('the chart id is sanitised and scopes the clip path', () => {
  const svg = lineChart({ id: 'loss total"/>', series: [{ name: 's', color: '#000', points: [[0, 0], [1, 1]] }] });
  assert.match(svg, /^<svg id="loss_total___"/);
  assert.ok(svg.includes('<clipPath id="loss_total___-plot">'));
  assert.ok(svg.includes('clip-path="url(#loss_total___-plot)"'));
});

test('long y tick labels widen the left margin so they clear the y-axis label', () => {
  const short = chartFrame({ yLabel: 'AP', series: [{ name: 's', color: '#000', points: [[0, 0], [1, 0.8]] }] });
  const long = chartFrame({ yLabel: 'lr', series: [{ name: 's', color: '#000', points: [[0, 0], [1, 0.001]] }] });
  const step = long.yTicks[1] - long.yTicks[0];
  const widest = Math.max(...long.yTicks.map((t) => formatTick(t, step).length));
  assert.equal(widest, 6); // '0.0010'
  assert.ok(long.left > short.left);
  // Labels end 6 px left of the axis at ~6.4 px per glyph; the rotated y label occupies x < 20.
  assert.ok(long.left - 6 - widest * 6.4 >= 20, `${long.left}`);
});

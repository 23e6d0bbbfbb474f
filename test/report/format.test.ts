import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, formatFlops, formatMetric, formatMetricDelta, formatParams, formatShare, formatSi } from '../../src/report/format.ts';

test('formatMetric prints 3 decimals and n/a for missing values', () => {
  assert.equal(formatMetric(0.41234), '0.412');
  assert.equal(formatMetric(0), '0.000');
  assert.equal(formatMetric(1), '1.000');
  assert.equal(formatMetric(-1), 'n/a');
  assert.equal(formatMetric(NaN), 'n/a');
  assert.equal(formatMetric(Infinity), 'n/a');
});

test('formatMetricDelta is signed and never prints -0.000', () => {
  assert.equal(formatMetricDelta(0.245, 0.201), '+0.044');
  assert.equal(formatMetricDelta(0.19, 0.2), '-0.010');
  assert.equal(formatMetricDelta(0.2, 0.2), '+0.000');
  assert.equal(formatMetricDelta(0.2, 0.2000001), '+0.000');
  assert.equal(formatMetricDelta(-1, 0.2), 'n/a');
  assert.equal(formatMetricDelta(0.2, NaN), 'n/a');
});

test('formatSi uses 3 significant digits and the next prefix when rounding reaches 1000', () => {
  assert.equal(formatSi(812), '812');
  assert.equal(formatSi(1234567), '1.23 M');
  assert.equal(formatSi(999_600), '1.00 M');
  assert.equal(formatSi(312_456), '312 k');
  assert.equal(formatSi(0.5), '0.500');
  assert.equal(formatFlops(1_234_567_890), '1.23 GFLOPs');
  assert.equal(formatFlops(181_234_567), '181 MFLOPs');
  assert.equal(formatFlops(900), '900 FLOPs');
  assert.equal(formatParams(2_345_678), '2.35 M');
  assert.equal(formatSi(NaN), 'n/a');
});

test('formatShare and formatDuration', () => {
  assert.equal(formatShare(61, 799), '7.6 %');
  assert.equal(formatShare(0, 10), '0.0 %');
  assert.equal(formatShare(3, 0), 'n/a');
  assert.equal(formatDuration(4.24), '4.2 s');
  assert.equal(formatDuration(725), '12 min 05 s');
  assert.equal(formatDuration(3720), '1 h 02 min');
  assert.equal(formatDuration(-1), 'n/a');
});

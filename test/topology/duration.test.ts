// Tests duration parsing ('500ms', '30s', '5m', numbers of ms) and the compact formatting used by describe().
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../src/topology/duration.ts';

describe('parseDuration', () => {
  it('reads units and plain milliseconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('0.1s'), 100);
    assert.equal(parseDuration('250'), 250);
    assert.equal(parseDuration(' 10 s '), 10_000);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration(1234), 1234);
  });

  it('rejects negatives, unknown units and non-strings', () => {
    for (const bad of ['-1s', '5 minutes', '1d', 's', '', 'ten', -5, Number.NaN, Infinity, true, null, ['1s']]) {
      assert.equal(parseDuration(bad), undefined, `${JSON.stringify(bad)}`);
    }
  });
});

describe('formatDuration', () => {
  it('picks the largest whole-ish unit', () => {
    assert.equal(formatDuration(30_000), '30s');
    assert.equal(formatDuration(90_000), '1.5m');
    assert.equal(formatDuration(3_600_000), '1h');
    assert.equal(formatDuration(200), '200ms');
    assert.equal(formatDuration(1250), '1250ms');
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 200, 1000, 1500, 30_000, 90_000, 300_000, 3_600_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
  });
});

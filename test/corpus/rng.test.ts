import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashString, NORMAL_TABLE, Rng } from '../../src/corpus/rng.ts';

test('the same key gives the same stream, other keys other streams', () => {
  const draw = (key: string) => Array.from({ length: 8 }, (() => { const r = new Rng(key); return () => r.uint32(); })());
  assert.deepEqual(draw('1/labeled/1'), draw('1/labeled/1'));
  assert.notDeepEqual(draw('1/labeled/1'), draw('1/labeled/2'));
  assert.notDeepEqual(draw('1/labeled/1'), draw('2/labeled/1'));
  assert.notEqual(hashString('a'), hashString('b'));
});

test('uniform draws cover their range evenly', () => {
  const rng = new Rng('uniform');
  const bins = new Array<number>(10).fill(0);
  for (let i = 0; i < 20000; i++) {
    const u = rng.next();
    assert.ok(u >= 0 && u < 1);
    bins[Math.floor(u * 10)]++;
  }
  for (const b of bins) assert.ok(Math.abs(b - 2000) < 200, `bin count ${b}`);
  const ints = new Set<number>();
  for (let i = 0; i < 1000; i++) ints.add(rng.int(3, 6));
  assert.deepEqual([...ints].sort(), [3, 4, 5, 6]);
  for (let i = 0; i < 1000; i++) {
    const v = rng.logUniform(12, 88);
    assert.ok(v >= 12 && v <= 88);
  }
});

test('weighted picks follow the weights; permutation is a permutation', () => {
  const rng = new Rng('weighted');
  const counts = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 10000; i++) counts[rng.weighted({ a: 1, b: 3, c: 0 })]++;
  assert.equal(counts.c, 0);
  assert.ok(Math.abs(counts.b / 10000 - 0.75) < 0.03, JSON.stringify(counts));
  const p = rng.permutation(50);
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.notDeepEqual(p, Array.from({ length: 50 }, (_, i) => i));
});

test('the normal table has mean 0 and standard deviation ~1', () => {
  const n = NORMAL_TABLE.length;
  const mean = NORMAL_TABLE.reduce((s, v) => s + v, 0) / n;
  const sd = Math.sqrt(NORMAL_TABLE.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
  assert.ok(Math.abs(mean) < 1e-6);
  assert.ok(Math.abs(sd - 1) < 0.03, `sd ${sd}`);
  assert.ok(NORMAL_TABLE[0] < -3 && NORMAL_TABLE[n - 1] > 3);
});

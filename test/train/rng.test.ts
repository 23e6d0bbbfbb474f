import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mixSeed, SeededRng } from '../../src/train/rng.ts';

test('the same seed gives the same sequence, another seed another one', () => {
  const a = Array.from({ length: 5 }, ((r) => () => r.uint32())(new SeededRng(7)));
  const b = Array.from({ length: 5 }, ((r) => () => r.uint32())(new SeededRng(7)));
  const c = Array.from({ length: 5 }, ((r) => () => r.uint32())(new SeededRng(8)));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('restoring a saved state continues the exact sequence', () => {
  const r = new SeededRng(123);
  for (let i = 0; i < 10; i++) r.next();
  const saved = JSON.parse(JSON.stringify({ s: r.state })) as { s: number };
  const expected = [r.next(), r.next(), r.int(10)];
  const resumed = new SeededRng(0);
  resumed.state = saved.s;
  assert.deepEqual([resumed.next(), resumed.next(), resumed.int(10)], expected);
  assert.throws(() => (resumed.state = -1), /uint32/);
});

test('draws are in range and roughly uniform', () => {
  const r = new SeededRng(99);
  let sum = 0;
  const counts = new Array(4).fill(0);
  for (let i = 0; i < 20000; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1);
    sum += x;
    counts[r.int(4)]++;
  }
  assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01, `mean ${sum / 20000}`);
  for (const c of counts) assert.ok(Math.abs(c / 20000 - 0.25) < 0.02, `counts ${counts.join(', ')}`);
  assert.throws(() => r.int(0), RangeError);
});

test('shuffle returns a permutation', () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  const shuffled = new SeededRng(5).shuffle([...items]);
  assert.notDeepEqual(shuffled, items);
  assert.deepEqual([...shuffled].sort((a, b) => a - b), items);
});

test('mixSeed separates nearby inputs and large seeds', () => {
  const seen = new Set<number>();
  for (let s = 0; s < 50; s++) for (let e = 0; e < 20; e++) seen.add(mixSeed(s, e));
  assert.equal(seen.size, 1000);
  assert.notEqual(mixSeed(1, 2), mixSeed(2, 1));
  assert.notEqual(mixSeed(2 ** 32 + 1), mixSeed(1));
  assert.ok(Number.isInteger(mixSeed(3)) && mixSeed(3) >= 0 && mixSeed(3) <= 0xffffffff);
});

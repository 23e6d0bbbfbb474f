// Tests for the IoU matrix: hand-computed values, edge cases, agreement with a naive version, speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boxArea, boxIou, iouMatrix } from '../../src/boxes/iou.ts';
import { rng } from '../helpers/rng.ts';

function randomBoxes(n: number, rand: () => number, extent = 100): Float32Array {
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const x = rand() * extent;
    const y = rand() * extent;
    out.set([x, y, x + 1 + rand() * extent * 0.3, y + 1 + rand() * extent * 0.3], i * 4);
  }
  return out;
}

/** IoU of box i of `a` and box j of `b` in float64, straight from the definition. */
function naiveIou(a: Float32Array, i: number, b: Float32Array, j: number): number {
  const [ax1, ay1, ax2, ay2] = a.subarray(i * 4, i * 4 + 4);
  const [bx1, by1, bx2, by2] = b.subarray(j * 4, j * 4 + 4);
  const iw = Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1));
  const ih = Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
  const inter = iw * ih;
  return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter);
}

function close(a: number, b: number, tol = 1e-6): boolean {
  return Math.abs(a - b) <= tol;
}

test('hand-computed values: partial overlap, identical, containment, disjoint, touching', () => {
  assert.ok(close(boxIou([0, 0, 10, 10], [5, 5, 15, 15]), 25 / 175));
  assert.ok(close(boxIou([0, 0, 10, 10], [0, 5, 10, 15]), 50 / 150));
  assert.equal(boxIou([3, 4, 13, 24], [3, 4, 13, 24]), 1);
  assert.ok(close(boxIou([0, 0, 10, 10], [2, 2, 6, 6]), 16 / 100));
  assert.ok(close(boxIou([2, 2, 6, 6], [0, 0, 10, 10]), 16 / 100));
  assert.equal(boxIou([0, 0, 10, 10], [20, 20, 30, 30]), 0);
  assert.equal(boxIou([0, 0, 10, 10], [10, 0, 20, 10]), 0);
  assert.equal(boxIou([0, 0, 10, 10], [0, 10, 10, 20]), 0);
});

test('degenerate boxes (zero or negative extent) have IoU 0, even with themselves', () => {
  assert.equal(boxIou([5, 5, 5, 10], [0, 0, 10, 10]), 0);
  assert.equal(boxIou([5, 5, 5, 10], [5, 5, 5, 10]), 0);
  assert.equal(boxIou([0, 0, 10, 10], [8, 8, 2, 2]), 0);
  assert.equal(boxArea(8, 8, 2, 2), 0);
  assert.equal(boxArea(0, 0, 3, 4), 12);
});

test('matrix layout is [na, nb] row-major and matches a naive float64 implementation', () => {
  const rand = rng(7);
  const a = randomBoxes(37, rand);
  const b = randomBoxes(11, rand);
  const m = iouMatrix(a, b);
  assert.equal(m.length, 37 * 11);
  const mt = iouMatrix(b, a);
  let nonZero = 0;
  for (let i = 0; i < 37; i++) {
    for (let j = 0; j < 11; j++) {
      const expected = naiveIou(a, i, b, j);
      assert.ok(close(m[i * 11 + j], expected), `iou(${i}, ${j})`);
      assert.equal(m[i * 11 + j], mt[j * 37 + i]);
      if (expected > 0) nonZero++;
    }
  }
  assert.ok(nonZero > 20, 'the random boxes should overlap often enough to test something');
});

test('empty inputs and malformed arrays', () => {
  assert.equal(iouMatrix(new Float32Array(0), new Float32Array(8)).length, 0);
  assert.equal(iouMatrix(new Float32Array(8), new Float32Array(0)).length, 0);
  assert.throws(() => iouMatrix(new Float32Array(6), new Float32Array(4)), /multiple of 4/);
});

// Speed belongs in benchmarks, not tests (a timed bound here failed on a loaded machine): at the scale of a real
// anchor set the matrix must still agree with the pairwise function.
test('5k anchors × 50 boxes: the matrix agrees with pairwise IoU at full scale', () => {
  const rand = rng(3);
  const anchors = randomBoxes(5000, rand, 512);
  const gt = randomBoxes(50, rand, 512);
  const m = iouMatrix(anchors, gt);
  assert.equal(m.length, 5000 * 50);
  for (let k = 0; k < 500; k++) {
    const i = Math.floor(rand() * 5000);
    const j = Math.floor(rand() * 50);
    const expected = naiveIou(anchors, i, gt, j);
    assert.ok(close(m[i * 50 + j], expected), `entry ${i},${j}: ${m[i * 50 + j]} vs ${expected}`);
  }
});

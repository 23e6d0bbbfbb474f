// Tests for how much of a fetched batch the teacher processes now versus waits on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { takeFromBatch } from '../../../src/stages/teacher/batching.ts';

test('whole model batches go at once; a partial tail waits until its oldest message is maxWaitMs old', () => {
  const now = 10_000;
  assert.deepEqual(takeFromBatch([1, 2, 3, 4, 5, 6], 3, 100, now), { take: 6, waitMs: 0 });
  // Tail of 1 appended 30 ms ago: process the full batch, leave the tail for the next fetch.
  assert.deepEqual(takeFromBatch([now - 50, now - 40, now - 30, now - 30], 3, 100, now), { take: 3, waitMs: 0 });
  // Only a young partial batch: wait the rest of the window.
  assert.deepEqual(takeFromBatch([now - 30, now - 20], 3, 100, now), { take: 0, waitMs: 70 });
  // Old enough: run it partial.
  assert.deepEqual(takeFromBatch([now - 100, now - 20], 3, 100, now), { take: 2, waitMs: 0 });
  assert.deepEqual(takeFromBatch([now], 3, 0, now), { take: 1, waitMs: 0 });
});

test('clock skew and unreadable timestamps cannot stall a batch', () => {
  const now = 10_000;
  assert.deepEqual(takeFromBatch([now + 5000], 4, 100, now), { take: 0, waitMs: 100 });
  assert.deepEqual(takeFromBatch([Number.NaN], 4, 100, now), { take: 1, waitMs: 0 });
});

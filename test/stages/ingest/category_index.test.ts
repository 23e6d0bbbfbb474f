// Tests for the COCO category id → class index mapping shared by ingest, student and evaluation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { categoryIndex } from '../../../src/stages/ingest/category_index.ts';

test('category ids map to 0-based indices in ascending id order, whatever the file order', () => {
  const index = categoryIndex([{ id: 7 }, { id: 1 }, { id: 3 }, { id: 12 }]);
  assert.deepEqual([...index.classOf.entries()], [
    [1, 0],
    [3, 1],
    [7, 2],
    [12, 3],
  ]);
  assert.deepEqual(index.categoryIds, [1, 3, 7, 12]);
  for (const [id, cls] of index.classOf) assert.equal(index.categoryIds[cls], id);
});

test('duplicate category ids are refused', () => {
  assert.throws(() => categoryIndex([{ id: 2 }, { id: 5 }, { id: 2 }]), /duplicate COCO category id 2/);
});

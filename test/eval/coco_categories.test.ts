import { test } from 'node:test';
import assert from 'node:assert/strict';
import { categoryMap, sameCategories } from '../../src/eval/coco_categories.ts';

test('class indices follow ascending category id, whatever the file order', () => {
  const map = categoryMap([{ id: 9, name: 'c' }, { id: 2, name: 'a' }, { id: 5 }]);
  assert.deepEqual(map.categoryIds, [2, 5, 9]);
  assert.deepEqual(map.names, ['a', '5', 'c']);
  assert.equal(map.numClasses, 3);
  assert.deepEqual([2, 5, 9].map((id) => map.classOf(id)), [0, 1, 2]);
  assert.throws(() => map.classOf(4), /category id 4 is not one of \[2, 5, 9\]/);
});

test('empty and duplicate category lists are refused', () => {
  assert.throws(() => categoryMap([]), /no categories/);
  assert.throws(() => categoryMap([{ id: 1 }, { id: 1 }]), /duplicate COCO category id 1/);
});

test('sameCategories compares the id lists', () => {
  assert.ok(sameCategories(categoryMap([{ id: 1 }, { id: 2 }]), categoryMap([{ id: 2 }, { id: 1 }])));
  assert.ok(!sameCategories(categoryMap([{ id: 1 }, { id: 2 }]), categoryMap([{ id: 1 }, { id: 3 }])));
});

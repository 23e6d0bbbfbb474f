// Tests for the box list <-> flat array helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkBoxArray, flattenBoxes, unflattenBoxes, type Box } from '../../src/boxes/box.ts';

test('flatten/unflatten round trip', () => {
  const boxes: Box[] = [
    [1, 2, 3, 4],
    [5.5, 6, 7, 8.25],
  ];
  const flat = flattenBoxes(boxes);
  assert.deepEqual(Array.from(flat), [1, 2, 3, 4, 5.5, 6, 7, 8.25]);
  assert.deepEqual(unflattenBoxes(flat), boxes);
  assert.deepEqual(unflattenBoxes(new Float32Array(0)), []);
});

test('malformed inputs are rejected', () => {
  assert.throws(() => flattenBoxes([[1, 2, 3]]), /box 0 has 3 coordinates/);
  assert.throws(() => unflattenBoxes([1, 2, 3, 4, 5]), /not a multiple of 4/);
  assert.equal(checkBoxArray(new Float32Array(12), 'x'), 3);
});

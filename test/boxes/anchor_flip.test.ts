// The mirror permutation of the anchors: each anchor maps onto its mirror image, exactly when every stride divides the width.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anchorFlipOrder, permuteAnchorRows } from '../../src/boxes/anchor_flip.ts';
import { DEFAULT_ANCHOR_CONFIG, resolveAnchorConfig } from '../../src/boxes/anchor_config.ts';
import { generateAnchors } from '../../src/boxes/anchors.ts';

test('mirroring the image maps every anchor onto another anchor of the same shape (default layout, 128 px and 64 px)', () => {
  for (const size of [128, 64]) {
    const anchors = generateAnchors(resolveAnchorConfig(DEFAULT_ANCHOR_CONFIG), size, size);
    const order = anchorFlipOrder(anchors);
    assert.ok(order !== undefined);
    assert.equal(order.length, anchors.numAnchors);
    const b = anchors.boxes;
    let moved = 0;
    for (let i = 0; i < anchors.numAnchors; i++) {
      const j: number = order[i];
      assert.equal(order[j], i, 'an involution');
      // Anchor j is anchor i mirrored: x1' = W − x2, x2' = W − x1, same y (float32 rounding of the centre ± half-width).
      assert.ok(Math.abs(b[4 * j] - (size - b[4 * i + 2])) < 1e-4, `anchor ${i} → ${j}: x1`);
      assert.ok(Math.abs(b[4 * j + 2] - (size - b[4 * i])) < 1e-4, `anchor ${i} → ${j}: x2`);
      assert.equal(b[4 * j + 1], b[4 * i + 1]);
      assert.equal(b[4 * j + 3], b[4 * i + 3]);
      if (j !== i) moved += 1;
    }
    assert.equal(moved, anchors.numAnchors, 'grid widths are even: no anchor is its own mirror');
  }
});

test('no mirror order when a stride does not divide the width (the last column hangs over the edge)', () => {
  const config = resolveAnchorConfig({ levels: [3, 4, 5] });
  assert.equal(anchorFlipOrder(generateAnchors(config, 96, 100)), undefined);
  assert.ok(anchorFlipOrder(generateAnchors(config, 96, 96)) !== undefined, 'height does not matter for a left–right mirror');
});

test('permuteAnchorRows moves each anchor’s row of class values to its mirror anchor', () => {
  const order = Int32Array.from([2, 3, 0, 1]);
  const map = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]); // 4 anchors × 2 classes
  const out = new Float32Array(10);
  permuteAnchorRows(map, 2, order, out, 2);
  assert.deepEqual([...out], [0, 0, 5, 6, 7, 8, 1, 2, 3, 4]);
  assert.throws(() => permuteAnchorRows(map.subarray(1), 2, order, out), /map has 7 values, expected 4 anchors × 2/);
});

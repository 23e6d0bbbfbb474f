// Tests for anchor generation: counts, order (matches the head reshape), centres, sizes and ratios.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resolveAnchorConfig } from '../../src/boxes/anchor_config.ts';
import { anchorShapes, anchorsPerLevel, generateAnchors, gridSize, totalAnchors } from '../../src/boxes/anchors.ts';

await tf.setBackend('cpu');

test('counts per level use ceil(size / stride) grids, also for sizes that are not multiples', () => {
  const config = resolveAnchorConfig();
  const set = generateAnchors(config, 100, 70);
  const expectedGrids = [
    [13, 9],
    [7, 5],
    [4, 3],
  ];
  assert.deepEqual(
    set.levels.map((l) => [l.gridHeight, l.gridWidth]),
    expectedGrids,
  );
  const counts = expectedGrids.map(([h, w]) => h * w * 9);
  assert.deepEqual(anchorsPerLevel(config, 100, 70), counts);
  assert.deepEqual(
    set.levels.map((l) => l.count),
    counts,
  );
  assert.equal(set.numAnchors, counts[0] + counts[1] + counts[2]);
  assert.equal(totalAnchors(config, 100, 70), set.numAnchors);
  assert.equal(set.boxes.length, set.numAnchors * 4);
  assert.deepEqual(set.levelOffsets, [0, counts[0], counts[0] + counts[1], set.numAnchors]);
  assert.deepEqual(
    set.levels.map((l) => [l.level, l.stride, l.offset]),
    [
      [3, 8, 0],
      [4, 16, counts[0]],
      [5, 32, counts[0] + counts[1]],
    ],
  );
  assert.deepEqual(gridSize(4, 128, 128), { gridHeight: 8, gridWidth: 8 });
  assert.throws(() => generateAnchors(config, 0, 10), /positive integers/);
});

test('centres, sizes (sizeFactor·stride·2^(s/S)) and ratios (h/w) of every anchor', () => {
  const config = resolveAnchorConfig({ levels: [2, 3], sizeFactor: 3, ratios: [0.25, 1, 3], scalesPerOctave: 2 });
  const set = generateAnchors(config, 24, 40);
  const A = 6;
  assert.equal(set.anchorsPerLocation, A);
  for (const lv of set.levels) {
    for (let y = 0; y < lv.gridHeight; y++) {
      for (let x = 0; x < lv.gridWidth; x++) {
        for (let a = 0; a < A; a++) {
          const i = lv.offset + (y * lv.gridWidth + x) * A + a;
          const [x1, y1, x2, y2] = set.boxes.subarray(i * 4, i * 4 + 4);
          const ratio = config.ratios[Math.floor(a / 2)];
          const size = 3 * lv.stride * 2 ** ((a % 2) / 2);
          const w = x2 - x1;
          const h = y2 - y1;
          assert.ok(Math.abs((x1 + x2) / 2 - (x + 0.5) * lv.stride) < 1e-4, `cx of anchor ${i}`);
          assert.ok(Math.abs((y1 + y2) / 2 - (y + 0.5) * lv.stride) < 1e-4, `cy of anchor ${i}`);
          assert.ok(Math.abs(Math.sqrt(w * h) - size) < 1e-3 * size, `size of anchor ${i}`);
          assert.ok(Math.abs(h / w - ratio) < 1e-4 * ratio, `ratio of anchor ${i}`);
        }
      }
    }
  }
});

test('anchor order equals reshaping a head output [1, h, w, A*4] to [1, h*w*A, 4], levels concatenated', async () => {
  const config = resolveAnchorConfig();
  const set = generateAnchors(config, 64, 48);
  const before = tf.memory().numTensors;
  const parts: Float32Array[] = [];
  for (const lv of set.levels) {
    // Fill the head-shaped array in [y][x][a*4+k] order from independently computed anchor shapes.
    const shapes = anchorShapes(config, lv.stride);
    const head = new Float32Array(lv.gridHeight * lv.gridWidth * shapes.length * 4);
    let k = 0;
    for (let y = 0; y < lv.gridHeight; y++) {
      for (let x = 0; x < lv.gridWidth; x++) {
        for (const s of shapes) {
          const cx = (x + 0.5) * lv.stride;
          const cy = (y + 0.5) * lv.stride;
          head.set([cx - s.width / 2, cy - s.height / 2, cx + s.width / 2, cy + s.height / 2], k);
          k += 4;
        }
      }
    }
    const flat = tf.tidy(() => tf.tensor4d(head, [1, lv.gridHeight, lv.gridWidth, shapes.length * 4]).reshape([1, -1, 4]));
    parts.push((await flat.data()) as Float32Array);
    flat.dispose();
  }
  const expected = new Float32Array(set.boxes.length);
  let off = 0;
  for (const p of parts) {
    expected.set(p, off);
    off += p.length;
  }
  assert.deepEqual(set.boxes, expected);
  assert.equal(tf.memory().numTensors, before);
});

test('shapes are ratio-major: for each ratio, for each scale', () => {
  const config = resolveAnchorConfig({ ratios: [0.5, 2], scalesPerOctave: 2 });
  const shapes = anchorShapes(config, 8);
  const ratios = shapes.map((s) => Math.round((s.height / s.width) * 1000) / 1000);
  const sizes = shapes.map((s) => Math.round(Math.sqrt(s.width * s.height) * 1000) / 1000);
  assert.deepEqual(ratios, [0.5, 0.5, 2, 2]);
  assert.deepEqual(sizes, [32, Math.round(32 * Math.SQRT2 * 1000) / 1000, 32, Math.round(32 * Math.SQRT2 * 1000) / 1000]);
});

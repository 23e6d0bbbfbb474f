// Tests for anchor assignment: thresholds, ignore band, best-anchor rule (ties, conflicts), no/degenerate boxes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveAnchorConfig } from '../../src/boxes/anchor_config.ts';
import { generateAnchors } from '../../src/boxes/anchors.ts';
import { assignAnchors, BACKGROUND, IGNORE, TIE_RELATIVE_TOLERANCE, type AnchorAssignment } from '../../src/boxes/assign.ts';
import { encodeBoxes } from '../../src/boxes/box_coder.ts';
import { iouMatrix } from '../../src/boxes/iou.ts';
import { rng } from '../helpers/rng.ts';

/** Checks that labels, masks, one-hot targets, box targets and matches agree with each other. */
function assertConsistent(r: AnchorAssignment, anchors: Float32Array, gt: Float32Array, classes: number[]): void {
  let positives = 0;
  for (let i = 0; i < r.numAnchors; i++) {
    const j = r.matchedGt[i];
    const oneHot = r.classTargets.subarray(i * r.numClasses, (i + 1) * r.numClasses);
    const box = r.boxTargets.subarray(i * 4, i * 4 + 4);
    if (j >= 0) {
      positives++;
      assert.equal(r.labels[i], classes[j]);
      assert.equal(r.positiveMask[i], 1);
      assert.equal(r.ignoreMask[i], 0);
      assert.deepEqual(Array.from(oneHot), Array.from({ length: r.numClasses }, (_, c) => (c === classes[j] ? 1 : 0)));
      assert.deepEqual(box, encodeBoxes(anchors.subarray(i * 4, i * 4 + 4), gt.subarray(j * 4, j * 4 + 4)));
    } else {
      assert.equal(r.positiveMask[i], 0);
      assert.ok(oneHot.every((v) => v === 0));
      assert.ok(box.every((v) => v === 0));
      assert.equal(r.ignoreMask[i], r.labels[i] === IGNORE ? 1 : 0);
      assert.ok(r.labels[i] === IGNORE || r.labels[i] === BACKGROUND);
    }
  }
  assert.equal(r.numPositive, positives);
}

test('thresholds: IoU ≥ 0.5 positive, [0.4, 0.5) ignored, < 0.4 background; boundaries inclusive as specified', () => {
  const gt = new Float32Array([0, 0, 10, 10]);
  // IoUs with the gt: 1, 0.8, 0.5, 0.45, 0.4, 1/3, 0.
  const anchors = new Float32Array([0, 0, 10, 10, 0, 0, 10, 12.5, 0, 0, 10, 20, 0, 0, 10, 100 / 4.5, 0, 0, 10, 25, 0, 0, 10, 30, 50, 50, 60, 60]);
  const r = assignAnchors(anchors, gt, [2], 3);
  assert.deepEqual(Array.from(r.labels), [2, 2, 2, IGNORE, IGNORE, BACKGROUND, BACKGROUND]);
  assert.deepEqual(Array.from(r.positiveMask), [1, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(r.ignoreMask), [0, 0, 0, 1, 1, 0, 0]);
  assert.deepEqual(Array.from(r.matchedGt), [0, 0, 0, -1, -1, -1, -1]);
  assert.ok(Math.abs(r.maxIou[1] - 0.8) < 1e-6 && r.maxIou[6] === 0);
  assert.equal(r.numPositive, 3);
  assertConsistent(r, anchors, gt, [2]);

  const custom = assignAnchors(anchors, gt, [0], 1, { posIou: 0.7, negIou: 0.3 });
  assert.deepEqual(Array.from(custom.labels), [0, 0, IGNORE, IGNORE, IGNORE, IGNORE, BACKGROUND]);

  // IoU exactly 0.25 (representable in float32) sits on the lower edge of the ignore band.
  const edge = assignAnchors(new Float32Array([0, 0, 10, 10, 0, 0, 10, 40, 0, 0, 10, 41]), gt, [0], 1, { negIou: 0.25 });
  assert.deepEqual(Array.from(edge.labels), [0, IGNORE, BACKGROUND]);
});

test('an anchor tied between two boxes above 0.5 matches the lower index', () => {
  // Anchor 1 has IoU 0.8 with both boxes; anchor 0 (IoU 0.833 with both) is both boxes' best anchor.
  const gt = new Float32Array([0, 0, 10, 12.5, 0, -2.5, 10, 10]);
  const anchors = new Float32Array([0, -2.5, 10, 12.5, 0, 0, 10, 10]);
  const r = assignAnchors(anchors, gt, [1, 0], 2);
  assert.deepEqual(Array.from(r.matchedGt), [0, 0]);
  assert.deepEqual(Array.from(r.labels), [1, 1]);
});

test('an anchor overlapping two boxes above 0.5 matches the one it overlaps most', () => {
  const gt = new Float32Array([0, 0, 10, 10, 0, 0, 10, 11]);
  const anchors = new Float32Array([0, 0, 10, 10.8, 0, 0, 10, 10.1]);
  const r = assignAnchors(anchors, gt, [0, 1], 2);
  assert.deepEqual(Array.from(r.matchedGt), [1, 0]);
  assert.deepEqual(Array.from(r.labels), [1, 0]);
  assertConsistent(r, anchors, gt, [0, 1]);
});

test('a low-IoU box still gets its best anchor; tied best anchors are all positive', () => {
  // IoU of the gt with anchors 0 and 1 is exactly 1/6 each (tie), anchor 2 does not overlap.
  const gt = new Float32Array([8, 0, 12, 10]);
  const anchors = new Float32Array([0, 0, 10, 10, 10, 0, 20, 10, 30, 0, 40, 10]);
  const r = assignAnchors(anchors, gt, [1], 2);
  assert.deepEqual(Array.from(r.labels), [1, 1, BACKGROUND]);
  assert.deepEqual(Array.from(r.matchedGt), [0, 0, -1]);
  assert.ok(Math.abs(r.maxIou[0] - 1 / 6) < 1e-6);
  assertConsistent(r, anchors, gt, [1]);
});

test('ties on a real anchor grid (irrational anchor sizes) are all made positive', () => {
  const set = generateAnchors(resolveAnchorConfig({ levels: [3] }), 64, 64);
  // A small square box centred between the P3 anchor centres x = 20 and x = 28 (y centre 20): symmetric pairs tie.
  const gt = new Float32Array([21, 17, 27, 23]);
  const r = assignAnchors(set.boxes, gt, [0], 1);
  const iou = iouMatrix(set.boxes, gt);
  const best = Math.max(...iou);
  assert.ok(best > 0 && best < 0.4, `best IoU ${best} is low, so only the best-anchor rule can make positives`);
  const tied = Array.from(iou.keys()).filter((i) => iou[i] >= best * (1 - TIE_RELATIVE_TOLERANCE));
  assert.ok(tied.length >= 2, `expected a tie, got ${tied.length} best anchor(s)`);
  const positives = Array.from(r.labels.keys()).filter((i) => r.positiveMask[i] === 1);
  assert.deepEqual(positives, tied);
  assertConsistent(r, set.boxes, gt, [0]);
});

test('an anchor that is one box’s best goes to that box even if another box overlaps it more', () => {
  // Anchor 0 overlaps box 0 most (IoU 0.83) but is box 1's best anchor (IoU 0.1 vs anchor 1's 0.089).
  // Box 0 keeps its own best anchor (anchor 1, IoU 1), so giving anchor 0 to box 1 loses nothing.
  const gt = new Float32Array([0, 0, 10, 10, 8, 0, 20, 12]);
  const anchors = new Float32Array([0, 0, 10, 12, 0, 0, 10, 10, 40, 40, 50, 50]);
  const iou = iouMatrix(anchors, gt);
  assert.ok(Math.abs(iou[0] - 100 / 120) < 1e-6 && Math.abs(iou[1] - 0.1) < 1e-6 && iou[3] < 0.09);
  const r = assignAnchors(anchors, gt, [0, 1], 2);
  assert.deepEqual(Array.from(r.matchedGt), [1, 0, -1]);
  assert.deepEqual(Array.from(r.labels), [1, 0, BACKGROUND]);
  assertConsistent(r, anchors, gt, [0, 1]);
});

test('an anchor that is the best of two boxes goes to the box it overlaps most', () => {
  // One anchor overlapping two boxes, IoU 0.2 with box 0 and 0.3 with box 1.
  const anchors = new Float32Array([0, 0, 10, 10, 100, 100, 110, 110]);
  const gt = new Float32Array([0, 0, 2, 10, 6, 0, 9, 10]);
  const r = assignAnchors(anchors, gt, [0, 1], 2);
  assert.deepEqual(Array.from(r.matchedGt), [1, -1]);
  assert.deepEqual(Array.from(r.labels), [1, BACKGROUND]);
  assertConsistent(r, anchors, gt, [0, 1]);
});

test('no boxes: everything is background', () => {
  const set = generateAnchors(resolveAnchorConfig(), 64, 64);
  const r = assignAnchors(set.boxes, new Float32Array(0), [], 4);
  assert.equal(r.numPositive, 0);
  assert.ok(r.labels.every((l) => l === BACKGROUND));
  assert.ok(r.ignoreMask.every((v) => v === 0));
  assert.ok(r.maxIou.every((v) => v === 0));
  assert.equal(r.classTargets.length, set.numAnchors * 4);
  assertConsistent(r, set.boxes, new Float32Array(0), []);
});

test('degenerate boxes produce no positives and do not disturb the other boxes', () => {
  const set = generateAnchors(resolveAnchorConfig(), 64, 64);
  const good = new Float32Array([10, 12, 40, 30]);
  const withDegenerate = new Float32Array([10, 12, 40, 30, 20, 20, 20, 50, 30, 30, 10, 10]);
  const a = assignAnchors(set.boxes, good, [3], 4);
  const b = assignAnchors(set.boxes, withDegenerate, [3, 1, 2], 4);
  assert.ok(a.numPositive > 0);
  assert.deepEqual(b.labels, a.labels);
  assert.deepEqual(b.matchedGt, a.matchedGt);
  assert.deepEqual(b.boxTargets, a.boxTargets);
  assertConsistent(b, set.boxes, withDegenerate, [3, 1, 2]);
});

test('random boxes on a real anchor grid satisfy the assignment invariants', () => {
  const set = generateAnchors(resolveAnchorConfig(), 128, 96);
  const rand = rng(42);
  for (let trial = 0; trial < 5; trial++) {
    const n = 1 + Math.floor(rand() * 20);
    const gt = new Float32Array(n * 4);
    const classes: number[] = [];
    for (let j = 0; j < n; j++) {
      const w = 4 + rand() * 90;
      const h = 4 + rand() * 90;
      const x = rand() * (96 - w);
      const y = rand() * (128 - h);
      gt.set([x, y, x + w, y + h], j * 4);
      classes.push(Math.floor(rand() * 5));
    }
    const r = assignAnchors(set.boxes, gt, classes, 5);
    assertConsistent(r, set.boxes, gt, classes);
    const iou = iouMatrix(set.boxes, gt);
    for (let i = 0; i < set.numAnchors; i++) {
      const m = r.maxIou[i];
      if (m >= 0.5) assert.equal(r.positiveMask[i], 1, `anchor ${i} with IoU ${m} must be positive`);
      else if (r.positiveMask[i] === 0) assert.equal(r.labels[i], m >= 0.4 ? IGNORE : BACKGROUND);
    }
    for (let j = 0; j < n; j++) {
      let best = 0;
      for (let i = 0; i < set.numAnchors; i++) best = Math.max(best, iou[i * n + j]);
      for (let i = 0; i < set.numAnchors; i++) {
        if (iou[i * n + j] >= best * (1 - TIE_RELATIVE_TOLERANCE)) assert.equal(r.positiveMask[i], 1, `best anchor ${i} of box ${j}`);
      }
    }
  }
});

test('invalid inputs are rejected', () => {
  const anchors = new Float32Array([0, 0, 10, 10]);
  const gt = new Float32Array([0, 0, 10, 10]);
  assert.throws(() => assignAnchors(anchors, gt, [3], 3), /class 3 of box 0/);
  assert.throws(() => assignAnchors(anchors, gt, [0, 1], 3), /1 boxes but 2 classes/);
  assert.throws(() => assignAnchors(anchors, gt, [0], 3, { posIou: 0.4, negIou: 0.5 }), /negIou/);
  assert.throws(() => assignAnchors(anchors, gt, [0], 0), /numClasses/);
});

test('ignore regions: background anchors mostly inside one are ignored; positives and the ignore band stay as they were', () => {
  const gt = new Float32Array([0, 0, 10, 10]);
  // Anchor 0 matches the box; 1 lies wholly in the region; 2 half in it (0.5 of its area); 3 an eighth in it; 4 far away.
  const anchors = new Float32Array([0, 0, 10, 10, 40, 40, 50, 50, 55, 40, 65, 50, 57.5, 45, 67.5, 55, 90, 90, 100, 100]);
  const region = new Float32Array([30, 30, 60, 50]);
  const r = assignAnchors(anchors, gt, [1], 2, {}, region);
  assert.deepEqual(Array.from(r.labels), [1, IGNORE, IGNORE, BACKGROUND, BACKGROUND]);
  assert.deepEqual(Array.from(r.ignoreMask), [0, 1, 1, 0, 0]);
  assertConsistent(r, anchors, gt, [1]);
  // A region over the positive anchor does not take it away.
  const over = assignAnchors(anchors, gt, [1], 2, {}, new Float32Array([0, 0, 20, 20]));
  assert.equal(over.labels[0], 1);
  assert.equal(over.numPositive, 1);
  // A stricter cover keeps the half-covered anchor as background.
  const strict = assignAnchors(anchors, gt, [1], 2, { ignoreRegionCover: 0.9 }, region);
  assert.deepEqual(Array.from(strict.labels), [1, IGNORE, BACKGROUND, BACKGROUND, BACKGROUND]);
  // Without any box (an image whose only detections were uncertain), the regions still apply.
  const none = assignAnchors(anchors, new Float32Array(0), [], 2, {}, region);
  assert.deepEqual(Array.from(none.labels), [BACKGROUND, IGNORE, IGNORE, BACKGROUND, BACKGROUND]);
  assert.equal(none.numPositive, 0);
  assert.throws(() => assignAnchors(anchors, gt, [1], 2, { ignoreRegionCover: 0 }, region), /ignoreRegionCover/);
  assert.throws(() => assignAnchors(anchors, gt, [1], 2, {}, new Float32Array(3)), /ignoreRegions/);
});

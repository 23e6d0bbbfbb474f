import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { generateAnchors } from '../../src/boxes/anchors.ts';
import type { Box } from '../../src/boxes/box.ts';
import { PAD_VALUE } from '../../src/image/letterbox.ts';
import { detectorAnchorConfig } from '../../src/model/detector_config.ts';
import {
  augmentBoxes,
  augmentImage,
  augmentPixels,
  augmentPreset,
  drawAugment,
  FLIP_ONLY,
  NO_AUGMENT,
  SHIFT_AUGMENT,
  STRONG_AUGMENT,
  type AugmentDraw,
} from '../../src/train/augment.ts';
import { DOMAIN_SHIFT } from '../../src/train/shift_augment.ts';
import { disposeBatch, trainingBatches, type DetectionDataset } from '../../src/train/dataset.ts';
import { SeededRng } from '../../src/train/rng.ts';
import { TINY_DETECTOR } from './fixtures.ts';

const SIZE = 64;

/** A background image with one bright rectangle covering `box` (pixel edges). */
function rectangleImage(box: Box, background = 40): Uint8Array {
  const pixels = new Uint8Array(SIZE * SIZE * 3).fill(background);
  for (let y = box[1]; y < box[3]; y++) for (let x = box[0]; x < box[2]; x++) pixels.fill(250, (y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3);
  return pixels;
}

/** Tight box around the pixels brighter than the midpoint between background and rectangle. */
function brightBounds(pixels: Uint8Array): Box {
  let x1 = SIZE, y1 = SIZE, x2 = -1, y2 = -1;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      if (pixels[(y * SIZE + x) * 3] > 180) {
        x1 = Math.min(x1, x);
        y1 = Math.min(y1, y);
        x2 = Math.max(x2, x + 1);
        y2 = Math.max(y2, y + 1);
      }
    }
  }
  return [x1, y1, x2, y2];
}

const identity: AugmentDraw = { flip: false, scale: 1, tx: 0, ty: 0, brightness: 1, contrast: 1, gains: [1, 1, 1] };

test('no augmentation returns the very same pixels and boxes', () => {
  const pixels = rectangleImage([10, 20, 30, 40]);
  const rng = new SeededRng(3);
  const out = augmentImage({ pixels, boxes: [[10, 20, 30, 40]], classIds: [2] }, SIZE, rng, NO_AUGMENT);
  assert.equal(out.pixels, pixels);
  assert.deepEqual(out.boxes, [[10, 20, 30, 40]]);
  assert.deepEqual(out.classIds, [2]);
  assert.equal(out.flipped, false);
});

test('moved boxes match where the pixels went, for flips, zoom-in and zoom-out', () => {
  const box: Box = [10, 20, 30, 44];
  const pixels = rectangleImage(box);
  const draws: AugmentDraw[] = [
    { ...identity, flip: true },
    { ...identity, scale: 1.4, tx: -12, ty: -5 },
    { ...identity, scale: 0.6, tx: 7, ty: 19 },
    { ...identity, flip: true, scale: 1.25, tx: -3.5, ty: -9.25 },
  ];
  for (const draw of draws) {
    const moved = augmentBoxes([box], [0], SIZE, draw, 0.4).boxes[0];
    const seen = brightBounds(augmentPixels(pixels, SIZE, draw));
    for (let k = 0; k < 4; k++) assert.ok(Math.abs(moved[k] - seen[k]) <= 1.01, `draw ${JSON.stringify(draw)}: box ${moved} vs pixels ${seen}`);
  }
});

test('zooming out fills the uncovered frame with letterbox grey', () => {
  const out = augmentPixels(rectangleImage([0, 0, 1, 1], 90), SIZE, { ...identity, scale: 0.5, tx: 32, ty: 32 });
  assert.equal(out[0], PAD_VALUE);
  assert.equal(out[(10 * SIZE + 10) * 3 + 1], PAD_VALUE);
  assert.equal(out[(50 * SIZE + 50) * 3], 90);
});

test('boxes pushed out of the frame are clipped, or dropped when mostly hidden', () => {
  const boxes: Box[] = [
    [2, 2, 22, 22], // shifted left by 12: 10 of 20 columns stay visible -> 50% kept
    [2, 30, 12, 40], // shifted left by 12: fully outside
    [40, 40, 60, 60], // stays inside
  ];
  const { boxes: out, classIds } = augmentBoxes(boxes, [0, 1, 2], SIZE, { ...identity, tx: -12 }, 0.4);
  assert.deepEqual(classIds, [0, 2]);
  assert.deepEqual(out, [
    [0, 2, 10, 22],
    [28, 40, 48, 60],
  ]);
  assert.deepEqual(augmentBoxes([boxes[0]], [0], SIZE, { ...identity, tx: -12 }, 0.6).boxes, []);
});

test('draws stay inside their ranges, keep the image covering or inside the frame, and use a fixed number of rng calls', () => {
  const a = new SeededRng(11);
  const b = new SeededRng(11);
  for (let i = 0; i < 200; i++) {
    const d = drawAugment(SIZE, a, STRONG_AUGMENT);
    drawAugment(SIZE, b, FLIP_ONLY);
    assert.equal(a.state, b.state);
    assert.ok(d.scale >= 0.6 && d.scale <= 1.5);
    const extent = SIZE * d.scale;
    if (d.scale >= 1) assert.ok(d.tx <= 0 && d.tx + extent >= SIZE && d.ty <= 0 && d.ty + extent >= SIZE, JSON.stringify(d));
    else assert.ok(d.tx >= 0 && d.tx + extent <= SIZE && d.ty >= 0 && d.ty + extent <= SIZE, JSON.stringify(d));
    for (const v of [d.brightness, d.contrast]) assert.ok(v >= 0.65 && v <= 1.35);
    for (const g of d.gains) assert.ok(g >= 0.825 && g <= 1.175);
  }
});

test('colour jitter changes pixels but not geometry, and stays in 0..255', () => {
  const pixels = rectangleImage([10, 20, 30, 40]);
  const out = augmentPixels(pixels, SIZE, { ...identity, brightness: 1.3, contrast: 1.3, gains: [1.1, 0.9, 1] });
  assert.notDeepEqual(out, pixels);
  assert.deepEqual(brightBounds(out), [10, 20, 30, 40]);
  assert.equal(out[(25 * SIZE + 15) * 3], 255); // bright rectangle saturates red
});

test('presets parse by name; an unknown name is a clear error', () => {
  assert.deepEqual(augmentPreset('strong'), STRONG_AUGMENT);
  assert.deepEqual(augmentPreset('flip'), FLIP_ONLY);
  assert.deepEqual(augmentPreset('none'), NO_AUGMENT);
  assert.deepEqual(augmentPreset('shift'), { ...STRONG_AUGMENT, shift: DOMAIN_SHIFT });
  assert.throws(() => augmentPreset('heavy'), /unknown augmentation 'heavy' \(expected none, flip, strong or shift\)/);
});

for (const [name, augment] of [['strong', STRONG_AUGMENT], ['shift', SHIFT_AUGMENT]] as const) {
test(`${name}-augmented batch streams are reproducible from the position and rng state, without leaking tensors`, async () => {
  await initBackend('cpu');
  const anchors = generateAnchors(detectorAnchorConfig(TINY_DETECTOR), 32, 32);
  const images = Array.from({ length: 5 }, (_, i) => {
    const pixels = new Uint8Array(32 * 32 * 3);
    for (let j = 0; j < pixels.length; j++) pixels[j] = (j * (i + 3)) % 251;
    return { id: i + 1, key: `k${i}`, pixels, transform: { scale: 1, padX: 0, padY: 0, width: 32, height: 32, size: 32 }, boxes: [[4, 4, 20, 24]] as Box[], classIds: [i % 2] };
  });
  const dataset = { annotationsKey: 'a.json', inputSize: 32, categories: { numClasses: 2 }, gt: {}, images, skipped: [] } as unknown as DetectionDataset;
  const rng = new SeededRng(5);
  const before = tf.memory().numTensors;
  const stream = trainingBatches(dataset, 3, rng, { anchors, shuffleSeed: 9, augment });
  const first = stream.next().value;
  const position = first.position;
  const state = rng.state;
  const second = stream.next().value;
  const secondPixels = await second.images.data();
  const rng2 = new SeededRng(0);
  rng2.state = state;
  const again = trainingBatches(dataset, 3, rng2, { anchors, shuffleSeed: 9, augment, start: position }).next().value;
  assert.deepEqual(await again.images.data(), secondPixels);
  assert.deepEqual(again.boxes, second.boxes);
  assert.deepEqual(again.flipped, second.flipped);
  for (const b of [first, second, again]) disposeBatch(b);
  assert.equal(tf.memory().numTensors, before);
});
}

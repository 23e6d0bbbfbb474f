import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Box } from '../../src/boxes/box.ts';
import { PAD_VALUE } from '../../src/image/letterbox.ts';
import { augmentImage, SHIFT_AUGMENT, STRONG_AUGMENT } from '../../src/train/augment.ts';
import { SeededRng } from '../../src/train/rng.ts';
import { DOMAIN_SHIFT, shiftImage, type ShiftOptions } from '../../src/train/shift_augment.ts';

const SIZE = 64;
/** Every effect off: tests switch on one at a time. */
const NOTHING: ShiftOptions = {
  probability: 1,
  invert: 0,
  saturation: [1, 1],
  texture: 0,
  textureAmplitude: [0, 0],
  distractors: [0, 0],
  strokes: [0, 0],
  distractorSize: [8, 24],
  noiseSigma: [0, 0],
  blur: [0, 0],
};

/** A letterboxed-looking image: rows 0–7 padding, a textured light background, one dark rectangle per box. */
function scene(boxes: readonly Box[]): Uint8Array {
  const pixels = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const i = (y * SIZE + x) * 3;
      if (y < 8) pixels.fill(PAD_VALUE, i, i + 3);
      else pixels.set([200 + ((x * 7 + y) % 40), 190, 180 - (y % 20)], i);
    }
  }
  for (const [x1, y1, x2, y2] of boxes) for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) pixels.set([30, 60, 200], (y * SIZE + x) * 3);
  return pixels;
}

function insideAny(x: number, y: number, boxes: readonly Box[]): boolean {
  return boxes.some((b) => x >= b[0] && x < b[2] && y >= b[1] && y < b[3]);
}

test('distractors are drawn only outside the boxes: box pixels and padding stay exact, the background changes', () => {
  const boxes: Box[] = [
    [10, 20, 26, 36],
    [40, 44, 58, 60],
  ];
  const pixels = scene(boxes);
  let changed = 0;
  for (let seed = 0; seed < 20; seed++) {
    const out = shiftImage(pixels, SIZE, boxes, new SeededRng(seed), { ...NOTHING, distractors: [4, 8] });
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const i = (y * SIZE + x) * 3;
        const same = out[i] === pixels[i] && out[i + 1] === pixels[i + 1] && out[i + 2] === pixels[i + 2];
        if (y < 8 || insideAny(x, y, boxes)) assert.ok(same, `seed ${seed}: pixel (${x}, ${y}) inside a box or the padding changed`);
        else if (!same) changed++;
      }
    }
  }
  assert.ok(changed > 20 * 30, `distractors changed only ${changed} background pixels over 20 images`);
});

test('inversion and saturation recolour the image but never the letterbox padding', () => {
  const pixels = scene([[10, 20, 26, 36]]);
  const inverted = shiftImage(pixels, SIZE, [], new SeededRng(1), { ...NOTHING, invert: 1 });
  for (let i = 0; i < pixels.length; i++) assert.equal(inverted[i], i < 8 * SIZE * 3 ? PAD_VALUE : 255 - pixels[i]);
  const saturated = shiftImage(pixels, SIZE, [], new SeededRng(1), { ...NOTHING, saturation: [2, 2] });
  const spread = (p: Uint8Array, i: number): number => Math.max(p[i], p[i + 1], p[i + 2]) - Math.min(p[i], p[i + 1], p[i + 2]);
  const inBox = (25 * SIZE + 15) * 3;
  assert.ok(spread(saturated, inBox) > spread(pixels, inBox), 'saturation ×2 spreads the channels apart');
  assert.deepEqual([...saturated.subarray(0, 8 * SIZE * 3)], new Array(8 * SIZE * 3).fill(PAD_VALUE));
});

test('deterministic for a seed, different across seeds, one rng draw per image; probability 0 returns the input itself', () => {
  const boxes: Box[] = [[10, 20, 26, 36]];
  const pixels = scene(boxes);
  const a = new SeededRng(7);
  const b = new SeededRng(7);
  const first = shiftImage(pixels, SIZE, boxes, a, DOMAIN_SHIFT);
  const again = shiftImage(pixels, SIZE, boxes, b, DOMAIN_SHIFT);
  assert.deepEqual(again, first);
  assert.equal(a.state, b.state);
  const counter = new SeededRng(7);
  counter.uint32();
  assert.equal(a.state, counter.state, 'exactly one uint32 drawn');

  const outputs = new Set<string>();
  for (let seed = 0; seed < 8; seed++) outputs.add(Buffer.from(shiftImage(pixels, SIZE, boxes, new SeededRng(seed), { ...DOMAIN_SHIFT, probability: 1 })).toString('base64'));
  assert.equal(outputs.size, 8);

  const off = new SeededRng(3);
  assert.equal(shiftImage(pixels, SIZE, boxes, off, { ...DOMAIN_SHIFT, probability: 0 }), pixels);
  assert.throws(() => shiftImage(pixels.subarray(3), SIZE, boxes, new SeededRng(1), DOMAIN_SHIFT), /expected 64×64×3 pixels/);
});

test('the shift preset moves boxes exactly as the strong one does (same geometry draw), only the pixels differ', () => {
  const boxes: Box[] = [
    [10, 20, 26, 36],
    [40, 44, 58, 60],
  ];
  const image = { pixels: scene(boxes), boxes, classIds: [0, 1] };
  for (let seed = 0; seed < 10; seed++) {
    const shifted = augmentImage(image, SIZE, new SeededRng(seed), { ...SHIFT_AUGMENT, shift: { ...DOMAIN_SHIFT, probability: 1 } });
    const strong = augmentImage(image, SIZE, new SeededRng(seed), STRONG_AUGMENT);
    assert.deepEqual(shifted.boxes, strong.boxes);
    assert.deepEqual(shifted.classIds, strong.classIds);
    assert.equal(shifted.flipped, strong.flipped);
    assert.notDeepEqual(shifted.pixels, strong.pixels);
  }
});

// Training-time domain-shift augmentation: gives labeled images the unlabeled corpus's look (dark, saturated, cluttered, noisy).
//
// The bundled teacher, trained on the light, tidy labeled look, fires on the unlabeled split's distractors, so the
// at-least-one-detection filter cannot tell empty images from the others there. This reproduces the *kinds* of
// change the shifted domain brings (src/corpus/domains.ts) on labeled images, whose boxes stay exact: a colour
// inversion (light studio backgrounds become dark ones and mid-tone objects pale ones), a saturation boost, a
// stripe/checker texture, distractor shapes drawn only where no labeled box is (so they are pure negatives, and
// no object is hidden), thin strokes over everything, blur and noise. It uses no unlabeled image and no hidden
// label. Letterbox padding (exact PAD_VALUE grey, so apply this before any colour jitter) is left untouched: at
// inference it is always plain grey.
import type { Box } from '../boxes/box.ts';
import { geomBounds, type Bounds } from '../corpus/geometry.ts';
import { addNoise, blur, Canvas, hslToRgb, paintDrawable, textureSampler, type BackgroundTexture } from '../corpus/raster.ts';
import { Rng } from '../corpus/rng.ts';
import { buildDistractor, DISTRACTOR_KINDS, type DistractorKind } from '../corpus/shapes.ts';
import { PAD_VALUE } from '../image/letterbox.ts';
import type { SeededRng } from './rng.ts';

export type Range = readonly [number, number];

export interface ShiftOptions {
  /** Share of images that get the shift at all (the rest keep the labeled look). */
  probability: number;
  /** Probability of inverting the colours (255 − v). */
  invert: number;
  /** Saturation factor range (1 = unchanged); colours move away from (or towards) their grey. */
  saturation: Range;
  /** Probability of a stripe or checker texture, and its amplitude in 0–255 units. */
  texture: number;
  textureAmplitude: Range;
  /** Distractors drawn where no box is, and thin strokes drawn anywhere (counts, inclusive). */
  distractors: Range;
  strokes: Range;
  /** Long side of a distractor in input pixels, log-uniform. */
  distractorSize: Range;
  /** Noise σ range (0–255 units) and the probabilities of 1 and of 2 blur passes. */
  noiseSigma: Range;
  blur: readonly [number, number];
}

/** The shifted domain's kinds of change at about its strengths (src/corpus/domains.ts SHIFTED_DOMAIN). */
export const DOMAIN_SHIFT: Readonly<ShiftOptions> = Object.freeze({
  probability: 0.8,
  invert: 0.6,
  saturation: [0.6, 2] as const,
  texture: 0.5,
  textureAmplitude: [4, 16] as const,
  distractors: [2, 9] as const,
  strokes: [0, 4] as const,
  distractorSize: [8, 64] as const,
  noiseSigma: [2, 12] as const,
  blur: [0.25, 0.1] as const,
});

/** A distractor keeps this many pixels of clearance from every box. */
const BOX_MARGIN = 2;
const PLACEMENT_ATTEMPTS = 20;
/** Over the objects only thin strokes, as in the corpus: they nick objects without hiding them. */
const MAX_STROKE_WIDTH = 1.6;

/**
 * Draws one seed from `rng` (exactly one call, so a batch stream stays aligned whatever is drawn) and, with
 * `options.probability`, returns a shifted copy of the size × size RGB image; otherwise the input array itself.
 * `boxes` are in input pixels; no pixel inside a box is covered by a distractor (strokes aside).
 */
export function shiftImage(pixels: Uint8Array, size: number, boxes: readonly Box[], rng: SeededRng, options: ShiftOptions): Uint8Array {
  const seed = rng.uint32();
  if (pixels.length !== size * size * 3) throw new RangeError(`expected ${size}×${size}×3 pixels, got ${pixels.length}`);
  const r = new Rng(`shift/${seed}`);
  if (!r.chance(options.probability)) return pixels;

  const pad = padMask(pixels);
  const canvas = new Canvas(size, size);
  const data = canvas.data;
  const invert = r.chance(options.invert);
  const saturation = r.uniform(options.saturation[0], options.saturation[1]);
  for (let i = 0, p = 0; i < data.length; i += 3, p++) {
    let [red, green, blue] = [pixels[i], pixels[i + 1], pixels[i + 2]];
    if (!pad[p]) {
      if (invert) [red, green, blue] = [255 - red, 255 - green, 255 - blue];
      const grey = 0.299 * red + 0.587 * green + 0.114 * blue;
      [red, green, blue] = [grey + (red - grey) * saturation, grey + (green - grey) * saturation, grey + (blue - grey) * saturation];
    }
    data[i] = red;
    data[i + 1] = green;
    data[i + 2] = blue;
  }

  if (r.chance(options.texture)) addTexture(canvas, pad, randomTexture(r, options));

  const blocked = boxes.map((b): Bounds => ({ x0: b[0] - BOX_MARGIN, y0: b[1] - BOX_MARGIN, x1: b[2] + BOX_MARGIN, y1: b[3] + BOX_MARGIN }));
  const under = r.int(options.distractors[0], options.distractors[1]);
  for (let k = 0; k < under; k++) {
    const kind = r.pick(DISTRACTOR_KINDS);
    for (let attempt = 0; attempt < PLACEMENT_ATTEMPTS; attempt++) {
      const geoms = buildDistractor(r, kind, r.uniform(0, size), r.uniform(0, size), r.logUniform(options.distractorSize[0], options.distractorSize[1]), 1);
      const bounds = geoms.map(geomBounds);
      if (bounds.some((b) => blocked.some((o) => overlaps(b, o)) || onPadding(b, pad, size))) continue;
      const paint = { color: hslToRgb(r.uniform(0, 360), r.uniform(0.1, 0.9), r.uniform(0.15, 0.9)), opacity: r.uniform(0.6, 1) };
      for (const geom of geoms) paintDrawable(canvas, { geom, paint });
      break;
    }
  }
  const strokes = r.int(options.strokes[0], options.strokes[1]);
  for (let k = 0; k < strokes; k++) {
    const kind: DistractorKind = r.chance(0.75) ? 'stroke' : 'dots';
    const geoms = buildDistractor(r, kind, r.uniform(0, size), r.uniform(0, size), r.logUniform(options.distractorSize[0], options.distractorSize[1]), 1);
    const paint = { color: hslToRgb(r.uniform(0, 360), r.uniform(0.1, 0.9), r.uniform(0.15, 0.9)), opacity: r.uniform(0.6, 1) };
    for (const geom of geoms) {
      if (geom.kind === 'polyline') geom.width = Math.min(geom.width, MAX_STROKE_WIDTH);
      paintDrawable(canvas, { geom, paint });
    }
  }

  const roll = r.next();
  blur(canvas, roll < options.blur[1] ? 2 : roll < options.blur[0] + options.blur[1] ? 1 : 0);
  addNoise(canvas, r.uniform(options.noiseSigma[0], options.noiseSigma[1]), `shift/${seed}/noise`);
  // Padding back to plain grey: blur, noise and strokes must not reach it.
  for (let p = 0; p < pad.length; p++) if (pad[p]) data.fill(PAD_VALUE, 3 * p, 3 * p + 3);
  return canvas.toRgb8();
}

/** 1 where a pixel is exactly letterbox grey. */
function padMask(pixels: Uint8Array): Uint8Array {
  const pad = new Uint8Array(pixels.length / 3);
  for (let p = 0; p < pad.length; p++) pad[p] = pixels[3 * p] === PAD_VALUE && pixels[3 * p + 1] === PAD_VALUE && pixels[3 * p + 2] === PAD_VALUE ? 1 : 0;
  return pad;
}

function randomTexture(r: Rng, options: ShiftOptions): BackgroundTexture {
  const amplitude = r.uniform(options.textureAmplitude[0], options.textureAmplitude[1]);
  return r.chance(0.5)
    ? { kind: 'stripes', period: r.uniform(5, 26), angle: r.uniform(0, Math.PI), amplitude }
    : { kind: 'checker', cell: r.uniform(5, 20), angle: r.uniform(0, Math.PI / 2), amplitude };
}

function addTexture(canvas: Canvas, pad: Uint8Array, texture: BackgroundTexture): void {
  const at = textureSampler(texture, canvas.width, canvas.height);
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      const p = y * canvas.width + x;
      if (pad[p]) continue;
      const n = at(x + 0.5, y + 0.5);
      canvas.data[3 * p] += n;
      canvas.data[3 * p + 1] += n;
      canvas.data[3 * p + 2] += n;
    }
  }
}

function overlaps(a: Bounds, b: Bounds): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/** A distractor whose centre lies on the padding (or outside the frame) would never occur in a letterboxed image. */
function onPadding(b: Bounds, pad: Uint8Array, size: number): boolean {
  const cx = Math.floor((b.x0 + b.x1) / 2);
  const cy = Math.floor((b.y0 + b.y1) / 2);
  if (cx < 0 || cy < 0 || cx >= size || cy >= size) return true;
  return pad[cy * size + cx] === 1;
}

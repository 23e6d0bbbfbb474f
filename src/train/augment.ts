// Training-time augmentation of letterboxed images: flip, random zoom in/out with translation, colour jitter.
//
// A 300-image labeled split is learned by heart within a few thousand steps; geometric and photometric jitter is
// what keeps a supervised detector improving past that (and colour jitter also covers the unlabeled corpus's
// darker, shifted palette). Everything is drawn from the caller's SeededRng, so a batch stream stays exactly
// reproducible from its rng state.
import type { Box } from '../boxes/box.ts';
import { PAD_VALUE } from '../image/letterbox.ts';
import type { SeededRng } from './rng.ts';
import { DOMAIN_SHIFT, shiftImage, type ShiftOptions } from './shift_augment.ts';

export interface AugmentOptions {
  /** Mirror left–right with probability ½. */
  flip: boolean;
  /** Zoom factor range [min, max]; 1 = none. The image moves by a random offset that keeps it covering (zoom in) or inside (zoom out) the frame. */
  scale: readonly [number, number];
  /** Colour jitter strength in [0, 1): brightness and contrast vary by ±strength, each channel's gain by ±strength/2. 0 = off. */
  colour: number;
  /** A box whose visible part keeps less than this share of its area after the zoom is dropped. */
  minVisible: number;
  /** The unlabeled domain's look (src/train/shift_augment.ts), applied after flip, zoom and colour. Absent = off. */
  shift?: ShiftOptions;
}

/** Flips only: the historical default. */
export const FLIP_ONLY: Readonly<AugmentOptions> = Object.freeze({ flip: true, scale: [1, 1] as const, colour: 0, minVisible: 0.4 });

/** What the bundled teacher is trained with. */
export const STRONG_AUGMENT: Readonly<AugmentOptions> = Object.freeze({ flip: true, scale: [0.6, 1.5] as const, colour: 0.35, minVisible: 0.4 });

/** Strong plus the unlabeled domain's look: for a teacher whose filter must work on the shifted corpus. */
export const SHIFT_AUGMENT: Readonly<AugmentOptions> = Object.freeze({ ...STRONG_AUGMENT, shift: DOMAIN_SHIFT });

export const NO_AUGMENT: Readonly<AugmentOptions> = Object.freeze({ flip: false, scale: [1, 1] as const, colour: 0, minVisible: 0.4 });

/** Parses `none` | `flip` | `strong` | `shift` (the CLI's and topology's names). */
export function augmentPreset(name: string): AugmentOptions {
  switch (name) {
    case 'none':
      return { ...NO_AUGMENT };
    case 'flip':
      return { ...FLIP_ONLY };
    case 'strong':
      return { ...STRONG_AUGMENT };
    case 'shift':
      return { ...SHIFT_AUGMENT };
    default:
      throw new Error(`unknown augmentation '${name}' (expected none, flip, strong or shift)`);
  }
}

export interface AugmentedImage {
  /** RGB, size × size × 3. The input array itself when nothing changed the pixels. */
  pixels: Uint8Array;
  boxes: Box[];
  classIds: number[];
  /** The image's ignore regions moved the same way (clipped; only those left wholly outside the frame are dropped). */
  ignore: Box[];
  flipped: boolean;
}

/** The random draws of one image, exposed so tests can check the geometry. */
export interface AugmentDraw {
  flip: boolean;
  scale: number;
  /** Output = input · scale + (tx, ty), in input pixels (after the flip). */
  tx: number;
  ty: number;
  brightness: number;
  contrast: number;
  gains: [number, number, number];
}

/** Draws one image's parameters. The number of rng calls is fixed, so streams stay aligned whatever is drawn. */
export function drawAugment(size: number, rng: SeededRng, options: AugmentOptions): AugmentDraw {
  const flip = options.flip && rng.next() < 0.5;
  const [lo, hi] = options.scale;
  const scale = lo + (hi - lo) * rng.next();
  const slack = size - size * scale; // < 0 when zooming in
  const tx = Math.min(0, slack) + Math.abs(slack) * rng.next();
  const ty = Math.min(0, slack) + Math.abs(slack) * rng.next();
  const c = options.colour;
  const brightness = 1 + c * (2 * rng.next() - 1);
  const contrast = 1 + c * (2 * rng.next() - 1);
  const gains: [number, number, number] = [0, 0, 0];
  for (let k = 0; k < 3; k++) gains[k] = 1 + (c / 2) * (2 * rng.next() - 1);
  return { flip, scale, tx, ty, brightness, contrast, gains };
}

/** Moves boxes by the draw's flip + zoom, clips them to the frame and drops the mostly hidden ones. */
export function augmentBoxes(boxes: readonly Box[], classIds: readonly number[], size: number, draw: AugmentDraw, minVisible: number): { boxes: Box[]; classIds: number[] } {
  const out: Box[] = [];
  const ids: number[] = [];
  boxes.forEach((b, i) => {
    const [x1, x2] = draw.flip ? [size - b[2], size - b[0]] : [b[0], b[2]];
    const moved: Box = [x1 * draw.scale + draw.tx, b[1] * draw.scale + draw.ty, x2 * draw.scale + draw.tx, b[3] * draw.scale + draw.ty];
    const clipped: Box = [Math.max(0, moved[0]), Math.max(0, moved[1]), Math.min(size, moved[2]), Math.min(size, moved[3])];
    const w = clipped[2] - clipped[0];
    const h = clipped[3] - clipped[1];
    const area = (moved[2] - moved[0]) * (moved[3] - moved[1]);
    if (w < 2 || h < 2 || w * h < minVisible * area) return;
    out.push(clipped);
    ids.push(classIds[i]);
  });
  return { boxes: out, classIds: ids };
}

/** Resamples (bilinear) and recolours one size × size RGB image according to the draw. */
export function augmentPixels(pixels: Uint8Array, size: number, draw: AugmentDraw): Uint8Array {
  const geometric = draw.flip || draw.scale !== 1 || draw.tx !== 0 || draw.ty !== 0;
  const photometric = draw.brightness !== 1 || draw.contrast !== 1 || draw.gains.some((g) => g !== 1);
  if (!geometric && !photometric) return pixels;
  const out = new Uint8Array(pixels.length);
  let mean = 0;
  if (photometric) {
    for (let i = 0; i < pixels.length; i++) mean += pixels[i];
    mean /= pixels.length;
  }
  const inv = 1 / draw.scale;
  for (let y = 0; y < size; y++) {
    // Centre of the output pixel mapped back into the (flipped) source.
    const sy = (y + 0.5 - draw.ty) * inv - 0.5;
    const y0 = Math.floor(sy);
    const fy = sy - y0;
    for (let x = 0; x < size; x++) {
      const fxSrc = (x + 0.5 - draw.tx) * inv - 0.5;
      const sx = draw.flip ? size - 1 - fxSrc : fxSrc;
      const x0 = Math.floor(sx);
      const fx = sx - x0;
      const o = (y * size + x) * 3;
      for (let k = 0; k < 3; k++) {
        let v: number;
        if (!geometric) v = pixels[o + k];
        else {
          const p00 = sample(pixels, size, x0, y0, k);
          const p01 = sample(pixels, size, x0 + 1, y0, k);
          const p10 = sample(pixels, size, x0, y0 + 1, k);
          const p11 = sample(pixels, size, x0 + 1, y0 + 1, k);
          v = (p00 * (1 - fx) + p01 * fx) * (1 - fy) + (p10 * (1 - fx) + p11 * fx) * fy;
        }
        if (photometric) v = ((v - mean) * draw.contrast + mean) * draw.brightness * draw.gains[k];
        out[o + k] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      }
    }
  }
  return out;
}

/** Outside the frame reads as letterbox grey, so zoomed-out images look like letterboxed ones. */
function sample(pixels: Uint8Array, size: number, x: number, y: number, k: number): number {
  if (x < 0 || y < 0 || x >= size || y >= size) return PAD_VALUE;
  return pixels[(y * size + x) * 3 + k];
}

/** One image through (when `options.shift`) the domain-shift look, then flip, zoom and colour jitter. */
export function augmentImage(
  image: { pixels: Uint8Array; boxes: readonly Box[]; classIds: readonly number[]; ignore?: readonly Box[] },
  size: number,
  rng: SeededRng,
  options: AugmentOptions,
): AugmentedImage {
  const draw = drawAugment(size, rng, options);
  const ignore = image.ignore ?? [];
  // The shift comes first, on the letterboxed image whose padding is still exact grey (it leaves padding alone).
  // Distractors keep off ignore regions too: those may hold objects.
  const shifted = options.shift ? shiftImage(image.pixels, size, ignore.length === 0 ? image.boxes : [...image.boxes, ...ignore], rng, options.shift) : image.pixels;
  const { boxes, classIds } = augmentBoxes(image.boxes, image.classIds, size, draw, options.minVisible);
  const moved = augmentBoxes(ignore, new Array<number>(ignore.length).fill(0), size, draw, 0).boxes;
  return { pixels: augmentPixels(shifted, size, draw), boxes, classIds, ignore: moved, flipped: draw.flip };
}

// Samples one image's scene (size, background, distractors, annotated objects) and renders it to RGB.
import { geomBounds } from './geometry.ts';
import type { DomainName, DomainStyle, Range } from './domains.ts';
import {
  addNoise,
  blur,
  Canvas,
  fillColorAt,
  hslToRgb,
  luma,
  maskOf,
  paintBackground,
  paintDrawable,
  type BackgroundSpec,
  type BackgroundTexture,
  type Drawable,
  type Paint,
  type Rgb,
} from './raster.ts';
import { Rng } from './rng.ts';
import { buildClassShape, buildDistractor, CATEGORY_NAMES, type CategoryName } from './shapes.ts';

export interface SceneObject extends Drawable {
  category: CategoryName;
  /** COCO [x, y, w, h] of the whole shape, clipped to the image, in original pixels. */
  bbox: [number, number, number, number];
  /** Pixels of the shape inside the image (occlusion not subtracted). */
  area: number;
  /** Share of `area` not covered by later objects or foreground clutter. */
  visible: number;
  /** Part of the shape lies outside the image. */
  truncated: boolean;
  /** Coloured close to the background behind it. */
  lowContrast: boolean;
}

export interface Scene {
  width: number;
  height: number;
  domain: DomainName;
  background: BackgroundSpec;
  /** Distractors under the objects. */
  under: Drawable[];
  /** In drawing order: later objects occlude earlier ones. */
  objects: SceneObject[];
  /** Thin distractors over the objects. */
  over: Drawable[];
  blurPasses: number;
  noiseSigma: number;
  noiseSeed: string;
}

export interface SceneParams {
  /** Keys every random draw of this image, e.g. `7/labeled/42`. */
  key: string;
  domain: DomainStyle;
  /** No objects at all (background and distractors only). */
  empty: boolean;
  imageSize: { min: number; max: number };
  /** Long side of object boxes, in pixels after letterboxing to `letterboxSize`. */
  objectSize: { min: number; max: number };
  letterboxSize: number;
  /** Earlier objects keep at least this share of their pixels visible when later ones overlap them. */
  minVisible: number;
}

const PLACEMENT_ATTEMPTS = 30;
/** A truncated object keeps at least this share of its pixels inside the image. */
const MIN_INSIDE = 0.65;
/** Euclidean RGB distance below which an object counts as low contrast against the background. */
const MIN_CONTRAST = 45;

interface Placed {
  cx: number;
  cy: number;
  longSide: number;
}

export function sampleScene(p: SceneParams): Scene {
  const rng = new Rng(p.key);
  const style = p.domain;
  const { width, height } = sampleImageSize(rng, p.imageSize);
  // Original pixels per letterboxed pixel: sizes are drawn at the detector's scale, then mapped back.
  const scale = Math.max(width, height) / p.letterboxSize;
  const background = sampleBackground(rng, style, width, height, scale, `${p.key}/texture`);

  const under: Drawable[] = [];
  const underCount = rng.int(style.clutter.under[0], style.clutter.under[1]);
  for (let i = 0; i < underCount; i++) under.push(...sampleDistractor(rng, style, width, height, scale, false));

  const owner = new Int16Array(width * height).fill(-1);
  const visibleCount: number[] = [];
  const objects: SceneObject[] = [];
  const placed: Placed[] = [];
  const nObjects = p.empty ? 0 : 1 + weightedIndex(rng, style.objects.countWeights);
  for (let k = 0; k < nObjects; k++) {
    // Owner id in the mask = index in `objects`; an object that finds no valid place is dropped.
    const id = objects.length;
    const category = rng.pick(CATEGORY_NAMES);
    const maxFit = 0.92 * Math.min(width, height);
    const longSide = Math.min(maxFit, rng.logUniform(p.objectSize.min, p.objectSize.max) * scale);
    const occlude = placed.length > 0 && rng.chance(style.objects.occludeShare);
    const truncate = rng.chance(style.objects.truncateShare);
    for (let attempt = 0; attempt < PLACEMENT_ATTEMPTS; attempt++) {
      const { cx, cy } = occlude ? nextTo(rng, rng.pick(placed), longSide) : freeCentre(rng, width, height, longSide, truncate);
      const geom = buildClassShape(rng, category, cx, cy, longSide);
      const b = geomBounds(geom);
      const fullyInside = b.x0 >= 0 && b.y0 >= 0 && b.x1 <= width && b.y1 <= height;
      if (!fullyInside && !truncate) continue;
      const mask = maskOf(geom, width, height);
      if (mask.inside.length < MIN_INSIDE * mask.total || mask.inside.length < 9) continue;
      if (!keepsOthersVisible(mask.inside, owner, visibleCount, objects, p.minVisible)) continue;
      for (const i of mask.inside) {
        if (owner[i] >= 0) visibleCount[owner[i]]--;
        owner[i] = id;
      }
      visibleCount[id] = mask.inside.length;
      const { paint, lowContrast } = sampleObjectPaint(rng, style, background, width, height, cx, cy, longSide, scale);
      const x0 = Math.max(0, b.x0);
      const y0 = Math.max(0, b.y0);
      const bbox: [number, number, number, number] = [round2(x0), round2(y0), round2(Math.min(width, b.x1) - x0), round2(Math.min(height, b.y1) - y0)];
      objects.push({ geom, paint, category, bbox, area: mask.inside.length, visible: 1, truncated: !fullyInside, lowContrast });
      placed.push({ cx, cy, longSide });
      break;
    }
  }

  const over: Drawable[] = [];
  const overCount = rng.int(style.clutter.over[0], style.clutter.over[1]);
  for (let i = 0; i < overCount; i++) {
    for (const d of sampleDistractor(rng, style, width, height, scale, true)) {
      over.push(d);
      for (const idx of maskOf(d.geom, width, height).inside) {
        if (owner[idx] >= 0) visibleCount[owner[idx]]--;
        owner[idx] = -2;
      }
    }
  }
  objects.forEach((o, k) => (o.visible = round2(visibleCount[k] / o.area)));

  const blurRoll = rng.next();
  const blurPasses = blurRoll < style.blur[1] ? 2 : blurRoll < style.blur[0] + style.blur[1] ? 1 : 0;
  const noiseSigma = round2(rng.uniform(style.noiseSigma[0], style.noiseSigma[1]));
  return { width, height, domain: style.name, background, under, objects, over, blurPasses, noiseSigma, noiseSeed: `${p.key}/noise` };
}

export interface RenderOptions {
  /** Default true; false renders the scene without its annotated objects (tests compare the two). */
  objects?: boolean;
  /** Default true; false leaves out distractors under and over the objects. */
  clutter?: boolean;
  /** Default true; false skips blur and noise. */
  degrade?: boolean;
}

/** Renders a scene to 8-bit RGB, [height, width, 3] row-major. */
export function renderScene(scene: Scene, options: RenderOptions = {}): Uint8Array {
  const canvas = new Canvas(scene.width, scene.height);
  paintBackground(canvas, scene.background);
  const clutter = options.clutter ?? true;
  if (clutter) for (const d of scene.under) paintDrawable(canvas, d);
  if (options.objects ?? true) for (const o of scene.objects) paintDrawable(canvas, o);
  if (clutter) for (const d of scene.over) paintDrawable(canvas, d);
  if (options.degrade ?? true) {
    blur(canvas, scene.blurPasses);
    addNoise(canvas, scene.noiseSigma, scene.noiseSeed);
  }
  return canvas.toRgb8();
}

function sampleImageSize(rng: Rng, size: { min: number; max: number }): { width: number; height: number } {
  const long = rng.int(size.min, size.max);
  // A quarter square; the rest between 5:3 and 1:1, landscape or portrait.
  const short = rng.chance(0.25) ? long : Math.max(size.min, Math.round(long * rng.uniform(0.6, 1)));
  return rng.chance(0.5) ? { width: long, height: short } : { width: short, height: long };
}

function sampleBackground(rng: Rng, style: DomainStyle, width: number, height: number, scale: number, textureSeed: string): BackgroundSpec {
  const bg = style.background;
  const hue = rng.uniform(0, 360);
  const sat = rng.uniform(bg.saturation[0], bg.saturation[1]);
  const light = rng.uniform(bg.lightness[0], bg.lightness[1]);
  const base = hslToRgb(hue, sat, light);
  const span = rng.uniform(bg.gradientSpan[0], bg.gradientSpan[1]) * (rng.chance(0.5) ? 1 : -1);
  const other = hslToRgb(hue + rng.uniform(-40, 40), sat, clamp(light + span, 0.03, 0.97));
  const fillKind = rng.weighted(bg.fill);
  const fill: BackgroundSpec['fill'] =
    fillKind === 'solid'
      ? { kind: 'solid', color: base }
      : fillKind === 'linear'
        ? { kind: 'linear', from: base, to: other, angle: rng.uniform(0, 2 * Math.PI) }
        : {
            kind: 'radial',
            inner: base,
            outer: other,
            cx: rng.uniform(0, width),
            cy: rng.uniform(0, height),
            radius: rng.uniform(0.5, 1.2) * Math.max(width, height),
          };
  const amplitude = rng.uniform(bg.textureAmplitude[0], bg.textureAmplitude[1]);
  const textureKind = rng.weighted(bg.texture);
  const texture: BackgroundTexture =
    textureKind === 'none'
      ? { kind: 'none' }
      : textureKind === 'noise'
        ? { kind: 'noise', cell: rng.uniform(5, 32) * scale, amplitude, seed: textureSeed }
        : textureKind === 'stripes'
          ? { kind: 'stripes', period: rng.uniform(5, 26) * scale, angle: rng.uniform(0, Math.PI), amplitude: amplitude * 0.6 }
          : { kind: 'checker', cell: rng.uniform(5, 20) * scale, angle: rng.uniform(0, Math.PI / 2), amplitude: amplitude * 0.6 };
  return { fill, texture };
}

function sampleDistractor(rng: Rng, style: DomainStyle, width: number, height: number, scale: number, foreground: boolean): Drawable[] {
  const kind = foreground ? (rng.chance(0.75) ? 'stroke' : 'dots') : rng.weighted(style.clutter.kinds);
  const longSide = rng.logUniform(8, 64) * scale;
  const cx = rng.uniform(0, width);
  const cy = rng.uniform(0, height);
  const geoms = buildDistractor(rng, kind, cx, cy, longSide, scale);
  const color = hslToRgb(rng.uniform(0, 360), rng.uniform(...style.clutter.saturation), rng.uniform(...style.clutter.lightness));
  const paint: Paint = { color, opacity: rng.uniform(0.6, 1) };
  if (!foreground && rng.chance(0.4)) paint.shade = sampleShade(rng, cx, cy, longSide);
  if (foreground) {
    // Over the objects only thin strokes: they nick objects without hiding them.
    for (const g of geoms) if (g.kind === 'polyline') g.width = Math.min(g.width, 1.6 * scale);
  }
  return geoms.map((geom) => ({ geom, paint }));
}

function sampleObjectPaint(
  rng: Rng,
  style: DomainStyle,
  background: BackgroundSpec,
  width: number,
  height: number,
  cx: number,
  cy: number,
  longSide: number,
  scale: number,
): { paint: Paint; lowContrast: boolean } {
  const o = style.objects;
  const behind = fillColorAt(background.fill, width, height, cx, cy);
  const lowContrast = rng.chance(o.lowContrastShare);
  let color: Rgb;
  if (lowContrast) {
    // Same colour as the background behind it, shifted just enough to be seen (distance ~ 14–30).
    const shift = rng.uniform(8, 18) * (luma(behind) > 128 ? -1 : 1);
    color = [0, 1, 2].map((c) => clamp(behind[c] + shift + rng.uniform(-7, 7), 0, 255)) as Rgb;
  } else {
    color = randomColor(rng, o.saturation, o.lightness);
    for (let i = 0; i < 6 && distance(color, behind) < MIN_CONTRAST; i++) color = randomColor(rng, o.saturation, o.lightness);
    if (distance(color, behind) < MIN_CONTRAST) {
      // Still too close after resampling: move towards black or white, away from the background.
      const towardsBlack = luma(behind) > 128;
      color = color.map((c) => (towardsBlack ? c * 0.4 : c + (255 - c) * 0.6)) as Rgb;
    }
  }
  // Low-contrast objects stay opaque and evenly lit: shading or translucency could erase them locally.
  const paint: Paint = { color, opacity: !lowContrast && rng.chance(o.translucentShare) ? rng.uniform(0.7, 0.9) : 1 };
  if (!lowContrast && rng.chance(o.shadeShare)) paint.shade = sampleShade(rng, cx, cy, longSide);
  if (!lowContrast && rng.chance(o.stripesShare)) {
    paint.stripes = { color: randomColor(rng, o.saturation, o.lightness), period: rng.uniform(0.2, 0.4) * longSide, angle: rng.uniform(0, Math.PI) };
  }
  if (!lowContrast && rng.chance(o.outlineShare)) {
    const dark = luma(color) > 100;
    const k = dark ? 0.45 : 1.8;
    paint.outline = {
      color: color.map((c) => clamp(c * k + (dark ? 0 : 30), 0, 255)) as Rgb,
      width: Math.min(0.15 * longSide, rng.uniform(0.8, 2.2) * scale),
    };
  }
  return { paint, lowContrast };
}

/** Light falling across the shape: ±(10–40) levels from one side to the other. */
function sampleShade(rng: Rng, cx: number, cy: number, longSide: number): Paint['shade'] {
  const t = rng.uniform(0, 2 * Math.PI);
  const g = rng.uniform(10, 40) / Math.max(1, longSide);
  return { ox: cx, oy: cy, gx: g * Math.cos(t), gy: g * Math.sin(t) };
}

function freeCentre(rng: Rng, width: number, height: number, longSide: number, truncate: boolean): { cx: number; cy: number } {
  if (truncate) {
    // Centre near one edge, at most 0.3 long sides beyond it; MIN_INSIDE rejects what sticks out too far.
    const edge = rng.int(0, 3);
    const offset = rng.uniform(-0.3, 0.3) * longSide;
    if (edge === 0) return { cx: rng.uniform(0, width), cy: offset };
    if (edge === 1) return { cx: offset, cy: rng.uniform(0, height) };
    if (edge === 2) return { cx: rng.uniform(0, width), cy: height - offset };
    return { cx: width - offset, cy: rng.uniform(0, height) };
  }
  const half = longSide / 2 + 1;
  return {
    cx: rng.uniform(Math.min(half, width / 2), Math.max(width - half, width / 2)),
    cy: rng.uniform(Math.min(half, height / 2), Math.max(height - half, height / 2)),
  };
}

function nextTo(rng: Rng, other: Placed, longSide: number): { cx: number; cy: number } {
  const t = rng.uniform(0, 2 * Math.PI);
  const d = rng.uniform(0.45, 0.9) * ((other.longSide + longSide) / 2);
  return { cx: other.cx + d * Math.cos(t), cy: other.cy + d * Math.sin(t) };
}

function keepsOthersVisible(pixels: Int32Array, owner: Int16Array, visibleCount: number[], objects: SceneObject[], minVisible: number): boolean {
  const taken = new Map<number, number>();
  for (const i of pixels) {
    const o = owner[i];
    if (o >= 0) taken.set(o, (taken.get(o) ?? 0) + 1);
  }
  for (const [o, n] of taken) if (visibleCount[o] - n < minVisible * objects[o].area) return false;
  return true;
}

function weightedIndex(rng: Rng, weights: readonly number[]): number {
  const total = weights.reduce((s, w) => s + w, 0);
  let r = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return weights.length - 1;
}

function randomColor(rng: Rng, saturation: Range, lightness: Range): Rgb {
  return hslToRgb(rng.uniform(0, 360), rng.uniform(saturation[0], saturation[1]), rng.uniform(lightness[0], lightness[1]));
}

function distance(a: Rgb, b: Rgb): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

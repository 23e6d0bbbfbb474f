// Pure-JS rasterizer for the shapes corpus: backgrounds, anti-aliased shapes, blur and noise into a float RGB canvas.
import { coverage, geomBounds, scanShape, sdfOf, type Geom } from './geometry.ts';
import { NORMAL_TABLE, Rng } from './rng.ts';

export type Rgb = [number, number, number];

/** How a shape is filled. Colours are 0–255 per channel. */
export interface Paint {
  color: Rgb;
  /** 1 = opaque. */
  opacity: number;
  /** Directional lighting: every channel is offset by `gx·(x − ox) + gy·(y − oy)`. */
  shade?: { ox: number; oy: number; gx: number; gy: number };
  /** Two-tone stripes inside the shape (period in pixels, angle in radians). */
  stripes?: { color: Rgb; period: number; angle: number };
  /** Outline band along the inside of the edge. */
  outline?: { color: Rgb; width: number };
}

export interface Drawable {
  geom: Geom;
  paint: Paint;
}

export type BackgroundFill =
  | { kind: 'solid'; color: Rgb }
  | { kind: 'linear'; from: Rgb; to: Rgb; angle: number }
  | { kind: 'radial'; inner: Rgb; outer: Rgb; cx: number; cy: number; radius: number };

/** Luminance texture added on top of the fill; amplitude in 0–255 units. */
export type BackgroundTexture =
  | { kind: 'none' }
  /** Two octaves of smooth value noise; `seed` keys the noise lattice. */
  | { kind: 'noise'; cell: number; amplitude: number; seed: string }
  | { kind: 'stripes'; period: number; angle: number; amplitude: number }
  | { kind: 'checker'; cell: number; angle: number; amplitude: number };

export interface BackgroundSpec {
  fill: BackgroundFill;
  texture: BackgroundTexture;
}

/** Float RGB image, channels interleaved, values nominally 0–255 (clamped only on output). */
export class Canvas {
  readonly data: Float32Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Float32Array(width * height * 3);
  }

  /** Rounds and clamps to 8-bit RGB. */
  toRgb8(): Uint8Array {
    const out = new Uint8ClampedArray(this.data.length);
    out.set(this.data);
    return new Uint8Array(out.buffer);
  }
}

/** The background fill colour at a point, without texture (used to pick low-contrast object colours). */
export function fillColorAt(fill: BackgroundFill, width: number, height: number, x: number, y: number): Rgb {
  switch (fill.kind) {
    case 'solid':
      return [...fill.color];
    case 'linear': {
      const c = Math.cos(fill.angle);
      const s = Math.sin(fill.angle);
      const extent = Math.abs(width * c) + Math.abs(height * s);
      const t = clamp01(((x - width / 2) * c + (y - height / 2) * s) / extent + 0.5);
      return lerpRgb(fill.from, fill.to, t);
    }
    case 'radial': {
      const t = clamp01(Math.hypot(x - fill.cx, y - fill.cy) / fill.radius);
      return lerpRgb(fill.inner, fill.outer, t);
    }
  }
}

export function paintBackground(canvas: Canvas, bg: BackgroundSpec): void {
  const { width, height, data } = canvas;
  const texture = textureSampler(bg.texture, width, height);
  const fill = bg.fill;
  // Per-pixel interpolation parameter t between the fill's two colours (solid: always 0).
  let from: Rgb;
  let to: Rgb;
  let tAt: (x: number, y: number) => number;
  if (fill.kind === 'solid') {
    from = fill.color;
    to = fill.color;
    tAt = () => 0;
  } else if (fill.kind === 'linear') {
    from = fill.from;
    to = fill.to;
    const c = Math.cos(fill.angle);
    const s = Math.sin(fill.angle);
    const extent = Math.abs(width * c) + Math.abs(height * s);
    tAt = (x, y) => clamp01(((x - width / 2) * c + (y - height / 2) * s) / extent + 0.5);
  } else {
    from = fill.inner;
    to = fill.outer;
    const { cx, cy, radius } = fill;
    tAt = (x, y) => clamp01(Math.hypot(x - cx, y - cy) / radius);
  }
  const d0 = to[0] - from[0];
  const d1 = to[1] - from[1];
  const d2 = to[2] - from[2];
  for (let y = 0; y < height; y++) {
    const py = y + 0.5;
    for (let x = 0; x < width; x++) {
      const px = x + 0.5;
      const t = tAt(px, py);
      const n = texture(px, py);
      const i = (y * width + x) * 3;
      data[i] = from[0] + d0 * t + n;
      data[i + 1] = from[1] + d1 * t + n;
      data[i + 2] = from[2] + d2 * t + n;
    }
  }
}

/** The luminance offset a background texture adds at (x, y); also used by the training-time domain-shift augmentation. */
export function textureSampler(tex: BackgroundTexture, width: number, height: number): (x: number, y: number) => number {
  switch (tex.kind) {
    case 'none':
      return () => 0;
    case 'noise': {
      const coarse = valueNoise(new Rng(`${tex.seed}/coarse`), width, height, tex.cell);
      const fine = valueNoise(new Rng(`${tex.seed}/fine`), width, height, tex.cell / 2.5);
      return (x, y) => tex.amplitude * (coarse(x, y) + 0.5 * fine(x, y));
    }
    case 'stripes': {
      const c = Math.cos(tex.angle);
      const s = Math.sin(tex.angle);
      const k = (2 * Math.PI) / tex.period;
      // Clamped sine: flat stripes with soft (anti-aliased) edges.
      return (x, y) => tex.amplitude * clampUnit(3 * Math.sin(k * (x * c + y * s)));
    }
    case 'checker': {
      const c = Math.cos(tex.angle);
      const s = Math.sin(tex.angle);
      const k = Math.PI / tex.cell;
      return (x, y) => tex.amplitude * clampUnit(4 * Math.sin(k * (x * c + y * s)) * Math.sin(k * (-x * s + y * c)));
    }
  }
}

/** Smooth value noise in [-1, 1]: random lattice values, smoothstep-interpolated. */
function valueNoise(rng: Rng, width: number, height: number, cell: number): (x: number, y: number) => number {
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const grid = new Float32Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = 2 * rng.next() - 1;
  return (x, y) => {
    const gx = x / cell;
    const gy = y / cell;
    const ix = Math.floor(gx);
    const iy = Math.floor(gy);
    const fx = smoothstep(gx - ix);
    const fy = smoothstep(gy - iy);
    const i = iy * gw + ix;
    const top = grid[i] + (grid[i + 1] - grid[i]) * fx;
    const bottom = grid[i + gw] + (grid[i + gw + 1] - grid[i + gw]) * fx;
    return top + (bottom - top) * fy;
  };
}

/** Composites one anti-aliased shape over the canvas. */
export function paintDrawable(canvas: Canvas, { geom, paint }: Drawable): void {
  const { width, data } = canvas;
  const { color, opacity, shade, stripes, outline } = paint;
  const sc = stripes ? Math.cos(stripes.angle) : 0;
  const ss = stripes ? Math.sin(stripes.angle) : 0;
  const sk = stripes ? (2 * Math.PI) / stripes.period : 0;
  scanShape(sdfOf(geom), geomBounds(geom), canvas, outline ? outline.width : 0, (x, y, sd) => {
    if (sd >= 0.5) return;
    const px = x + 0.5;
    const py = y + 0.5;
    const a = coverage(sd) * opacity;
    let r = color[0];
    let g = color[1];
    let bl = color[2];
    if (stripes) {
      const m = 0.5 + 0.5 * clampUnit(3 * Math.sin(sk * (px * sc + py * ss)));
      r += (stripes.color[0] - r) * m;
      g += (stripes.color[1] - g) * m;
      bl += (stripes.color[2] - bl) * m;
    }
    if (shade) {
      const off = shade.gx * (px - shade.ox) + shade.gy * (py - shade.oy);
      r += off;
      g += off;
      bl += off;
    }
    const i = (y * width + x) * 3;
    data[i] += (r - data[i]) * a;
    data[i + 1] += (g - data[i + 1]) * a;
    data[i + 2] += (bl - data[i + 2]) * a;
    if (outline) {
      // Band [−width, 0] inside the edge, as its own signed distance.
      const ao = coverage(Math.max(sd, -sd - outline.width)) * opacity;
      if (ao > 0) {
        data[i] += (outline.color[0] - data[i]) * ao;
        data[i + 1] += (outline.color[1] - data[i + 1]) * ao;
        data[i + 2] += (outline.color[2] - data[i + 2]) * ao;
      }
    }
  });
}

/**
 * Pixels a shape owns (coverage ≥ ½): `inside` lists in-image pixel indices, `total` also counts the
 * pixels that fall outside the image, so `inside.length / total` is the untruncated fraction.
 */
export function maskOf(geom: Geom, width: number, height: number): { inside: Int32Array; total: number } {
  const inside: number[] = [];
  let total = 0;
  scanShape(sdfOf(geom), geomBounds(geom), undefined, 0, (x, y, sd) => {
    if (sd > 0) return;
    total++;
    if (x >= 0 && y >= 0 && x < width && y < height) inside.push(y * width + x);
  });
  return { inside: Int32Array.from(inside), total };
}

/** `passes` rounds of a separable [1 2 1]/4 blur, edges clamped: a mild defocus. */
export function blur(canvas: Canvas, passes: number): void {
  const { width, height, data } = canvas;
  const tmp = new Float32Array(data.length);
  for (let p = 0; p < passes; p++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const l = Math.max(0, x - 1);
        const r = Math.min(width - 1, x + 1);
        for (let c = 0; c < 3; c++) {
          tmp[(y * width + x) * 3 + c] = 0.25 * data[(y * width + l) * 3 + c] + 0.5 * data[(y * width + x) * 3 + c] + 0.25 * data[(y * width + r) * 3 + c];
        }
      }
    }
    for (let y = 0; y < height; y++) {
      const u = Math.max(0, y - 1);
      const d = Math.min(height - 1, y + 1);
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) {
          data[(y * width + x) * 3 + c] = 0.25 * tmp[(u * width + x) * 3 + c] + 0.5 * tmp[(y * width + x) * 3 + c] + 0.25 * tmp[(d * width + x) * 3 + c];
        }
      }
    }
  }
}

/** Adds Gaussian noise: a luminance part shared by the channels plus independent colour noise. */
export function addNoise(canvas: Canvas, sigma: number, seed: string): void {
  if (sigma <= 0) return;
  const rng = new Rng(seed);
  const { data } = canvas;
  const lum = sigma * 0.8;
  const chroma = sigma * 0.6;
  for (let i = 0; i < data.length; i += 3) {
    const bits = rng.uint32();
    const l = lum * NORMAL_TABLE[bits & 1023];
    data[i] += l + chroma * NORMAL_TABLE[(bits >>> 10) & 1023];
    data[i + 1] += l + chroma * NORMAL_TABLE[(bits >>> 20) & 1023];
    data[i + 2] += l + chroma * NORMAL_TABLE[(rng.uint32() >>> 22) & 1023];
  }
}

export function hslToRgb(h: number, s: number, l: number): Rgb {
  // h in degrees, s and l in [0, 1].
  const hue = (((h % 360) + 360) % 360) / 60;
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs((hue % 2) - 1));
  const m = l - c / 2;
  const [r, g, b] = hue < 1 ? [c, x, 0] : hue < 2 ? [x, c, 0] : hue < 3 ? [0, c, x] : hue < 4 ? [0, x, c] : hue < 5 ? [x, 0, c] : [c, 0, x];
  return [255 * (r + m), 255 * (g + m), 255 * (b + m)];
}

/** Rec. 601 luma, 0–255. */
export function luma(c: Rgb): number {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
}

export function lerpRgb(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function clampUnit(v: number): number {
  return v < -1 ? -1 : v > 1 ? 1 : v;
}

function smoothstep(t: number): number {
  return t * t * (3 - 2 * t);
}

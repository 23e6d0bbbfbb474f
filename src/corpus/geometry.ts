// Shape geometry of the shapes corpus: ellipses, rings, polygons and strokes, their bounds and signed distances.

/** A closed shape or a stroke, in image pixel coordinates (y down, pixel (i, j) centred at (i + .5, j + .5)). */
export type Geom =
  | { kind: 'ellipse'; cx: number; cy: number; rx: number; ry: number; angle: number }
  | { kind: 'ring'; cx: number; cy: number; rx: number; ry: number; angle: number; thickness: number }
  /** Flat [x0, y0, x1, y1, …]; closed, any winding, may be non-convex. */
  | { kind: 'polygon'; points: number[] }
  /** Open polyline of the given width with round caps. */
  | { kind: 'polyline'; points: number[]; width: number };

export interface Bounds {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Signed distance in pixels: negative inside, 0 on the outline. */
export type Sdf = (x: number, y: number) => number;

/** Exact axis-aligned bounds of the shape (the box an annotator would draw around the whole shape). */
export function geomBounds(g: Geom): Bounds {
  switch (g.kind) {
    case 'ellipse':
    case 'ring': {
      const c = Math.cos(g.angle);
      const s = Math.sin(g.angle);
      const hx = Math.hypot(g.rx * c, g.ry * s);
      const hy = Math.hypot(g.rx * s, g.ry * c);
      return { x0: g.cx - hx, y0: g.cy - hy, x1: g.cx + hx, y1: g.cy + hy };
    }
    case 'polygon':
      return pointBounds(g.points, 0);
    case 'polyline':
      return pointBounds(g.points, g.width / 2);
  }
}

function pointBounds(points: number[], pad: number): Bounds {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < points.length; i += 2) {
    x0 = Math.min(x0, points[i]);
    x1 = Math.max(x1, points[i]);
    y0 = Math.min(y0, points[i + 1]);
    y1 = Math.max(y1, points[i + 1]);
  }
  return { x0: x0 - pad, y0: y0 - pad, x1: x1 + pad, y1: y1 + pad };
}

export function sdfOf(g: Geom): Sdf {
  switch (g.kind) {
    case 'ellipse':
      return ellipseSdf(g.cx, g.cy, g.rx, g.ry, g.angle);
    case 'ring': {
      // The ring's outer edge is the ellipse; its band runs inward by `thickness`.
      const e = ellipseSdf(g.cx, g.cy, g.rx - g.thickness / 2, g.ry - g.thickness / 2, g.angle);
      const half = g.thickness / 2;
      return (x, y) => Math.abs(e(x, y)) - half;
    }
    case 'polygon':
      return polygonSdf(g.points);
    case 'polyline': {
      const seg = segmentsDistance(g.points, false);
      const half = g.width / 2;
      return (x, y) => seg(x, y) - half;
    }
  }
}

/**
 * Approximate ellipse distance (the gradient-normalised implicit function): exact on the outline and
 * within a fraction of a pixel near it, which is all anti-aliasing needs.
 */
function ellipseSdf(cx: number, cy: number, rx: number, ry: number, angle: number): Sdf {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const rmin = Math.min(rx, ry);
  return (x, y) => {
    const dx = x - cx;
    const dy = y - cy;
    const lx = dx * c + dy * s;
    const ly = -dx * s + dy * c;
    const k0 = Math.hypot(lx / rx, ly / ry);
    const k1 = Math.hypot(lx / (rx * rx), ly / (ry * ry));
    if (k1 === 0) return -rmin;
    return (k0 * (k0 - 1)) / k1;
  };
}

function polygonSdf(points: number[]): Sdf {
  return isConvex(points) ? convexSdf(points) : generalPolygonSdf(points);
}

/**
 * Convex polygons (every class shape but the circle): the largest signed distance to the edge lines.
 * Exact inside and on the outline, a lower bound outside (only past corners), and about 5× cheaper.
 */
function convexSdf(points: number[]): Sdf {
  const n = points.length / 2;
  const area = signedArea(points);
  const nx = new Float64Array(n);
  const ny = new Float64Array(n);
  const off = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const ex = points[2 * j] - points[2 * i];
    const ey = points[2 * j + 1] - points[2 * i + 1];
    const len = Math.hypot(ex, ey);
    // Outward normal: (ey, −ex)/len when the shoelace area is positive (clockwise on screen, y down).
    const sign = area > 0 ? 1 : -1;
    nx[i] = (sign * ey) / len;
    ny[i] = (-sign * ex) / len;
    off[i] = nx[i] * points[2 * i] + ny[i] * points[2 * i + 1];
  }
  return (x, y) => {
    let d = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = nx[i] * x + ny[i] * y - off[i];
      if (v > d) d = v;
    }
    return d;
  };
}

function signedArea(points: number[]): number {
  const n = points.length / 2;
  let a = 0;
  for (let i = 0, j = n - 1; i < n; j = i++) a += points[2 * j] * points[2 * i + 1] - points[2 * i] * points[2 * j + 1];
  return a / 2;
}

function isConvex(points: number[]): boolean {
  const n = points.length / 2;
  let sign = 0;
  for (let i = 0; i < n; i++) {
    const a = i;
    const b = (i + 1) % n;
    const c = (i + 2) % n;
    const cross =
      (points[2 * b] - points[2 * a]) * (points[2 * c + 1] - points[2 * b + 1]) - (points[2 * b + 1] - points[2 * a + 1]) * (points[2 * c] - points[2 * b]);
    if (cross === 0) continue;
    if (sign === 0) sign = Math.sign(cross);
    else if (Math.sign(cross) !== sign) return false;
  }
  return true;
}

function generalPolygonSdf(points: number[]): Sdf {
  const dist = segmentsDistance(points, true);
  const n = points.length / 2;
  return (x, y) => {
    let inside = false;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const ax = points[2 * j];
      const ay = points[2 * j + 1];
      const bx = points[2 * i];
      const by = points[2 * i + 1];
      if (ay > y !== by > y && x < ax + ((y - ay) * (bx - ax)) / (by - ay)) inside = !inside;
    }
    const d = dist(x, y);
    return inside ? -d : d;
  };
}

/** Unsigned distance to the segments of a polyline (closed: also the last → first segment). */
function segmentsDistance(points: number[], closed: boolean): Sdf {
  const n = points.length / 2;
  const count = closed ? n : n - 1;
  const ax = new Float64Array(count);
  const ay = new Float64Array(count);
  const ex = new Float64Array(count);
  const ey = new Float64Array(count);
  const inv = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const i = k;
    const j = (k + 1) % n;
    ax[k] = points[2 * i];
    ay[k] = points[2 * i + 1];
    ex[k] = points[2 * j] - ax[k];
    ey[k] = points[2 * j + 1] - ay[k];
    const len2 = ex[k] * ex[k] + ey[k] * ey[k];
    inv[k] = len2 > 0 ? 1 / len2 : 0;
  }
  return (x, y) => {
    let best = Infinity;
    for (let k = 0; k < count; k++) {
      const wx = x - ax[k];
      const wy = y - ay[k];
      let t = (wx * ex[k] + wy * ey[k]) * inv[k];
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const dx = wx - ex[k] * t;
      const dy = wy - ey[k] * t;
      const d2 = dx * dx + dy * dy;
      if (d2 < best) best = d2;
    }
    return Math.sqrt(best);
  };
}

/** Pixel coverage from signed distance: a one-pixel linear ramp centred on the outline. */
export function coverage(sd: number): number {
  return sd <= -0.5 ? 1 : sd >= 0.5 ? 0 : 0.5 - sd;
}

const BLOCK = 4;

/**
 * Visits the pixels a shape may touch, with the signed distance at each pixel centre. Pixels of 4×4 blocks
 * that the distance at the block centre proves to be clearly outside are skipped; those clearly inside
 * (deeper than `inner` + ½ px) get sd = −∞ without evaluating the shape — most of a large shape's area.
 * Distances are 1-Lipschitz (the ellipse approximation nearly so; the margin absorbs the difference).
 */
export function scanShape(
  sdf: Sdf,
  b: Bounds,
  clip: { width: number; height: number } | undefined,
  inner: number,
  visit: (x: number, y: number, sd: number) => void,
): void {
  let x0 = Math.floor(b.x0) - 1;
  let y0 = Math.floor(b.y0) - 1;
  let x1 = Math.ceil(b.x1) + 1;
  let y1 = Math.ceil(b.y1) + 1;
  if (clip) {
    x0 = Math.max(0, x0);
    y0 = Math.max(0, y0);
    x1 = Math.min(clip.width - 1, x1);
    y1 = Math.min(clip.height - 1, y1);
  }
  for (let by = y0; by <= y1; by += BLOCK) {
    const ey = Math.min(by + BLOCK - 1, y1);
    for (let bx = x0; bx <= x1; bx += BLOCK) {
      const ex = Math.min(bx + BLOCK - 1, x1);
      const r = (Math.hypot(ex - bx, ey - by) / 2) * 1.25 + 0.25;
      const sdc = sdf((bx + ex) / 2 + 0.5, (by + ey) / 2 + 0.5);
      if (sdc > r + 0.5) continue;
      const deep = sdc < -(r + 0.5 + inner);
      for (let y = by; y <= ey; y++) {
        for (let x = bx; x <= ex; x++) visit(x, y, deep ? -Infinity : sdf(x + 0.5, y + 0.5));
      }
    }
  }
}

/**
 * Rotates local points (flat x, y pairs, unit-ish size) by `angle`, then scales and translates them so
 * that their bounding box has long side `longSide` and is centred on (cx, cy).
 */
export function placePoints(local: number[], angle: number, cx: number, cy: number, longSide: number): number[] {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const rotated = new Array<number>(local.length);
  for (let i = 0; i < local.length; i += 2) {
    rotated[i] = local[i] * c - local[i + 1] * s;
    rotated[i + 1] = local[i] * s + local[i + 1] * c;
  }
  const b = pointBounds(rotated, 0);
  const k = longSide / Math.max(b.x1 - b.x0, b.y1 - b.y0);
  const mx = (b.x0 + b.x1) / 2;
  const my = (b.y0 + b.y1) / 2;
  const out = new Array<number>(local.length);
  for (let i = 0; i < rotated.length; i += 2) {
    out[i] = cx + (rotated[i] - mx) * k;
    out[i + 1] = cy + (rotated[i + 1] - my) * k;
  }
  return out;
}

/** An ellipse with axis ratio `ry / rx` and rotation, scaled so its bounding box has long side `longSide`. */
export function ellipseRadii(ratio: number, angle: number, longSide: number): { rx: number; ry: number } {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const hx = Math.hypot(c, ratio * s);
  const hy = Math.hypot(s, ratio * c);
  const rx = longSide / (2 * Math.max(hx, hy));
  return { rx, ry: rx * ratio };
}

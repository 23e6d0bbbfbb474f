// The corpus's object classes and its non-class distractors, each built as geometry from a few random draws.
import { ellipseRadii, placePoints, type Geom } from './geometry.ts';
import type { Rng } from './rng.ts';

/**
 * Object classes in COCO category order (category_id = index + 1). Square and diamond are the
 * deliberately confusable pair: both are four-sided, and they differ in orientation and corner angle only.
 */
export const CATEGORY_NAMES = ['circle', 'square', 'diamond', 'triangle'] as const;
export type CategoryName = (typeof CATEGORY_NAMES)[number];

/** Shapes that are drawn but never annotated: they are what a detector must learn to ignore. */
export const DISTRACTOR_KINDS = ['blob', 'ring', 'cross', 'bar', 'star', 'stroke', 'dots'] as const;
export type DistractorKind = (typeof DISTRACTOR_KINDS)[number];

const DEG = Math.PI / 180;

/**
 * Builds a class shape whose bounding box has long side `longSide` and is centred on (cx, cy).
 * Rotation ranges keep square (edges within 15° of the axes) and diamond (vertices up/down/left/right,
 * within 12°) apart by a margin, so the pair is confusable at small sizes but not ambiguous.
 */
export function buildClassShape(rng: Rng, category: CategoryName, cx: number, cy: number, longSide: number): Geom {
  switch (category) {
    case 'circle': {
      const ratio = rng.uniform(0.8, 1.2);
      const angle = rng.uniform(0, Math.PI);
      return { kind: 'ellipse', cx, cy, angle, ...ellipseRadii(ratio, angle, longSide) };
    }
    case 'square': {
      const a = rng.uniform(0.82, 1.22);
      return { kind: 'polygon', points: placePoints([-1, -a, 1, -a, 1, a, -1, a], rng.uniform(-15, 15) * DEG, cx, cy, longSide) };
    }
    case 'diamond': {
      const h = rng.uniform(0.85, 1.4);
      return { kind: 'polygon', points: placePoints([0, -h, 1, 0, 0, h, -1, 0], rng.uniform(-12, 12) * DEG, cx, cy, longSide) };
    }
    case 'triangle': {
      const pts: number[] = [];
      for (let k = 0; k < 3; k++) {
        const t = (-90 + 120 * k + rng.uniform(-9, 9)) * DEG;
        const r = rng.uniform(0.88, 1.12);
        pts.push(r * Math.cos(t), r * Math.sin(t));
      }
      return { kind: 'polygon', points: placePoints(pts, rng.uniform(0, 2 * Math.PI), cx, cy, longSide) };
    }
  }
}

/**
 * Builds one distractor (several geoms for 'dots'). `scale` is original pixels per letterboxed pixel,
 * so stroke widths look the same at the detector's input size whatever the image size.
 */
export function buildDistractor(rng: Rng, kind: DistractorKind, cx: number, cy: number, longSide: number, scale: number): Geom[] {
  const angle = rng.uniform(0, 2 * Math.PI);
  switch (kind) {
    case 'blob': {
      // Low-frequency radial wobble: clearly not an ellipse, but round enough to tempt the circle class.
      const n = 24;
      const harmonics = [2, 3, 4].map((k) => ({ k, amp: rng.uniform(0.07, 0.2), phase: rng.uniform(0, 2 * Math.PI) }));
      const pts: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = (2 * Math.PI * i) / n;
        const r = 1 + harmonics.reduce((s, h) => s + h.amp * Math.cos(h.k * t + h.phase), 0);
        pts.push(r * Math.cos(t), r * Math.sin(t));
      }
      return [{ kind: 'polygon', points: placePoints(pts, angle, cx, cy, longSide) }];
    }
    case 'ring': {
      const ratio = rng.uniform(0.75, 1.25);
      const radii = ellipseRadii(ratio, angle, longSide);
      const thickness = Math.max(1.2 * scale, Math.min(radii.rx, radii.ry) * rng.uniform(0.18, 0.38));
      return [{ kind: 'ring', cx, cy, angle, ...radii, thickness }];
    }
    case 'cross': {
      const w = rng.uniform(0.18, 0.32);
      const pts = [-w, -1, w, -1, w, -w, 1, -w, 1, w, w, w, w, 1, -w, 1, -w, w, -1, w, -1, -w, -w, -w];
      return [{ kind: 'polygon', points: placePoints(pts, angle, cx, cy, longSide) }];
    }
    case 'bar': {
      // Aspect ≥ 2.3, well outside the square class's 1.22 limit.
      const a = 1 / rng.uniform(2.3, 4.5);
      return [{ kind: 'polygon', points: placePoints([-1, -a, 1, -a, 1, a, -1, a], angle, cx, cy, longSide) }];
    }
    case 'star': {
      const spikes = rng.int(5, 6);
      const inner = rng.uniform(0.38, 0.55);
      const pts: number[] = [];
      for (let i = 0; i < 2 * spikes; i++) {
        const t = (Math.PI * i) / spikes;
        const r = i % 2 === 0 ? 1 : inner;
        pts.push(r * Math.cos(t), r * Math.sin(t));
      }
      return [{ kind: 'polygon', points: placePoints(pts, angle, cx, cy, longSide) }];
    }
    case 'stroke': {
      // A quadratic Bézier sampled as a polyline: curved scribbles and straight lines.
      const half = longSide / 2;
      const x0 = cx - half * Math.cos(angle);
      const y0 = cy - half * Math.sin(angle);
      const x2 = cx + half * Math.cos(angle);
      const y2 = cy + half * Math.sin(angle);
      const bend = rng.uniform(-0.8, 0.8) * half;
      const x1 = cx - bend * Math.sin(angle);
      const y1 = cy + bend * Math.cos(angle);
      const pts: number[] = [];
      const steps = 12;
      for (let i = 0; i <= steps; i++) {
        const t = i / steps;
        const u = 1 - t;
        pts.push(u * u * x0 + 2 * u * t * x1 + t * t * x2, u * u * y0 + 2 * u * t * y1 + t * t * y2);
      }
      return [{ kind: 'polyline', points: pts, width: rng.uniform(0.8, 3.2) * scale }];
    }
    case 'dots': {
      const count = rng.int(3, 9);
      const out: Geom[] = [];
      for (let i = 0; i < count; i++) {
        const r = rng.uniform(0.6, 2.2) * scale;
        out.push({
          kind: 'ellipse',
          cx: cx + rng.uniform(-0.5, 0.5) * longSide,
          cy: cy + rng.uniform(-0.5, 0.5) * longSide,
          rx: r,
          ry: r * rng.uniform(0.7, 1),
          angle,
        });
      }
      return out;
    }
  }
}

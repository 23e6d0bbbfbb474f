import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coverage, geomBounds, placePoints, scanShape, sdfOf, type Geom } from '../../src/corpus/geometry.ts';
import { Rng } from '../../src/corpus/rng.ts';
import { buildClassShape, buildDistractor, CATEGORY_NAMES, DISTRACTOR_KINDS } from '../../src/corpus/shapes.ts';

test('bounds of a rotated square and of a rotated ellipse', () => {
  const square = placePoints([-1, -1, 1, -1, 1, 1, -1, 1], Math.PI / 4, 50, 40, 20);
  const b = geomBounds({ kind: 'polygon', points: square });
  assert.deepEqual([b.x0, b.y0, b.x1, b.y1].map((v) => Math.round(v * 1e9) / 1e9), [40, 30, 60, 50]);
  const e = geomBounds({ kind: 'ellipse', cx: 10, cy: 10, rx: 6, ry: 2, angle: Math.PI / 2 });
  assert.ok(Math.abs(e.x1 - e.x0 - 4) < 1e-9 && Math.abs(e.y1 - e.y0 - 12) < 1e-9);
});

test('signed distances: negative inside, zero on the outline, exact for convex polygons', () => {
  const square: Geom = { kind: 'polygon', points: [10, 10, 30, 10, 30, 30, 10, 30] };
  const sd = sdfOf(square);
  assert.equal(sd(20, 20), -10);
  assert.equal(sd(12, 20), -2);
  assert.equal(sd(10, 20), 0);
  assert.equal(sd(33, 20), 3);
  // Same square listed in the other winding order.
  const reversed = sdfOf({ kind: 'polygon', points: [10, 30, 30, 30, 30, 10, 10, 10] });
  assert.equal(reversed(12, 20), -2);
  const star = sdfOf(buildDistractor(new Rng('s'), 'star', 50, 50, 40, 1)[0]);
  assert.ok(star(50, 50) < 0 && star(95, 50) > 0);
  const ring = sdfOf({ kind: 'ring', cx: 0, cy: 0, rx: 10, ry: 10, angle: 0, thickness: 2 });
  assert.ok(ring(0, 0) > 0 && ring(9, 0) < 0 && Math.abs(ring(10, 0)) < 1e-9 && Math.abs(ring(8, 0)) < 1e-9);
  const line = sdfOf({ kind: 'polyline', points: [0, 0, 10, 0], width: 2 });
  assert.equal(line(5, 0), -1);
  assert.equal(line(5, 3), 2);
});

test('block-culled scanning visits exactly what a per-pixel scan covers', () => {
  const rng = new Rng('scan');
  const shapes: Geom[] = [];
  for (const c of CATEGORY_NAMES) for (let i = 0; i < 4; i++) shapes.push(buildClassShape(rng, c, rng.uniform(10, 90), rng.uniform(10, 70), rng.uniform(6, 70)));
  for (const k of DISTRACTOR_KINDS) shapes.push(...buildDistractor(rng, k, 50, 40, rng.uniform(10, 60), 1.5));
  const width = 100;
  const height = 80;
  for (const g of shapes) {
    const sdf = sdfOf(g);
    for (const inner of [0, 2.5]) {
      const seen = new Map<number, [number, number]>();
      scanShape(sdf, geomBounds(g), { width, height }, inner, (x, y, sd) => {
        seen.set(y * width + x, [coverage(sd), coverage(Math.max(sd, -sd - inner))]);
      });
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const sd = sdf(x + 0.5, y + 0.5);
          const [fill, band] = seen.get(y * width + x) ?? [0, 0];
          assert.ok(Math.abs(fill - coverage(sd)) < 1e-12, `${g.kind} coverage at ${x},${y}: ${fill} vs ${coverage(sd)}`);
          assert.ok(Math.abs(band - coverage(Math.max(sd, -sd - inner))) < 1e-12, `${g.kind} outline band at ${x},${y}`);
        }
      }
    }
  }
});

test('class shapes fill their requested box', () => {
  const rng = new Rng('fit');
  for (const c of CATEGORY_NAMES) {
    for (let i = 0; i < 20; i++) {
      const side = rng.uniform(8, 120);
      const b = geomBounds(buildClassShape(rng, c, 100, 100, side));
      const long = Math.max(b.x1 - b.x0, b.y1 - b.y0);
      assert.ok(Math.abs(long - side) < 1e-6, `${c}: long side ${long} vs ${side}`);
      assert.ok(Math.abs((b.x0 + b.x1) / 2 - 100) < 1e-6 && Math.abs((b.y0 + b.y1) / 2 - 100) < 1e-6);
    }
  }
});

// Tests for anchor config resolution: defaults, overrides, validation, derived counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  anchorConfigFromDetector,
  anchorConfigsEqual,
  anchorScales,
  anchorsPerLocation,
  DEFAULT_ANCHOR_CONFIG,
  resolveAnchorConfig,
} from '../../src/boxes/anchor_config.ts';

test('defaults are RetinaNet-style: P3-P5, size 4×stride, 3 ratios × 3 scales', () => {
  const c = resolveAnchorConfig();
  assert.deepEqual(c, { levels: [3, 4, 5], sizeFactor: 4, ratios: [0.5, 1, 2], scalesPerOctave: 3 });
  assert.equal(anchorsPerLocation(c), 9);
  const scales = anchorScales(c);
  assert.equal(scales.length, 3);
  assert.equal(scales[0], 1);
  assert.ok(Math.abs(scales[1] ** 3 - 2) < 1e-12);
  assert.ok(Math.abs(scales[2] ** 3 - 4) < 1e-12);
});

test('overrides merge over defaults, undefined fields mean default, result is a copy', () => {
  const levels = [2, 3];
  const c = resolveAnchorConfig({ levels, ratios: [1], scalesPerOctave: undefined });
  assert.deepEqual(c, { levels: [2, 3], sizeFactor: 4, ratios: [1], scalesPerOctave: 3 });
  assert.equal(anchorsPerLocation(c), 3);
  levels.push(9);
  assert.deepEqual(c.levels, [2, 3]);
  assert.deepEqual(DEFAULT_ANCHOR_CONFIG.levels, [3, 4, 5]);
});

test('invalid configs are rejected with the field named', () => {
  assert.throws(() => resolveAnchorConfig({ levels: [4, 3] }), /levels must be strictly increasing/);
  assert.throws(() => resolveAnchorConfig({ levels: [3, 3] }), /levels must be strictly increasing/);
  assert.throws(() => resolveAnchorConfig({ levels: [] }), /levels/);
  assert.throws(() => resolveAnchorConfig({ levels: [3.5] }), /levels/);
  assert.throws(() => resolveAnchorConfig({ sizeFactor: 0 }), /sizeFactor/);
  assert.throws(() => resolveAnchorConfig({ ratios: [1, -2] }), /ratios/);
  assert.throws(() => resolveAnchorConfig({ ratios: [1, 1] }), /ratios must be distinct/);
  assert.throws(() => resolveAnchorConfig({ scalesPerOctave: 0 }), /scalesPerOctave/);
  assert.throws(() => resolveAnchorConfig({ scalesPerOctave: 1.5 }), /scalesPerOctave/);
  assert.throws(() => resolveAnchorConfig({ stride: 8 } as unknown as Partial<typeof DEFAULT_ANCHOR_CONFIG>), /invalid anchor config/);
});

test('anchorConfigFromDetector maps the detector fields and configs compare by value', () => {
  const c = anchorConfigFromDetector({ levels: [3, 4], anchorSizeFactor: 3, anchorRatios: [1, 2], anchorScalesPerOctave: 2 });
  assert.deepEqual(c, { levels: [3, 4], sizeFactor: 3, ratios: [1, 2], scalesPerOctave: 2 });
  assert.ok(anchorConfigsEqual(c, resolveAnchorConfig({ levels: [3, 4], sizeFactor: 3, ratios: [1, 2], scalesPerOctave: 2 })));
  assert.ok(!anchorConfigsEqual(c, resolveAnchorConfig({ levels: [3, 4], sizeFactor: 3, ratios: [2, 1], scalesPerOctave: 2 })));
  assert.ok(!anchorConfigsEqual(c, resolveAnchorConfig()));
});

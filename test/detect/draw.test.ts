// Drawing detections: an SVG overlay with escaped labels, composited into a JPEG of the original size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { detectionsSvg, drawDetections } from '../../src/detect/draw.ts';

const DETECTIONS = [
  { box: [10, 12, 40, 50] as [number, number, number, number], score: 0.91, classId: 0 },
  { box: [0, 0, 20, 8] as [number, number, number, number], score: 0.4, classId: 1 },
];

test('one labelled rectangle per detection; names are escaped; unknown classes get a generic name', () => {
  const svg = detectionsSvg(64, 48, DETECTIONS, ['<circle>']);
  assert.equal((svg.match(/<rect /g) ?? []).length, 2);
  assert.match(svg, /&lt;circle&gt; 0\.91/);
  assert.match(svg, /class 1 0\.40/);
  assert.match(svg, /<svg [^>]*width="64" height="48"/);
});

test('the drawn image is a decodable JPEG of the input size, with pixels changed where boxes are', async () => {
  const grey = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
  const drawn = await drawDetections(new Uint8Array(grey), DETECTIONS, ['circle', 'square']);
  const { data, info } = await sharp(drawn).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.format, info.width, info.height], ['raw', 64, 48]);
  assert.equal((await sharp(drawn).metadata()).format, 'jpeg');
  // Largest change from grey over all channels of a few pixels around (x, y): JPEG smears a 1-pixel line.
  const change = (x: number, y: number): number => {
    let max = 0;
    for (let dx = -1; dx <= 1; dx++) for (let c = 0; c < 3; c++) max = Math.max(max, Math.abs(data[(y * 64 + x + dx) * 3 + c] - 128));
    return max;
  };
  assert.ok(change(10, 30) > 30, `the left edge of the first box is drawn (change ${change(10, 30)})`);
  assert.ok(change(58, 40) < 10, `far from any box the image is unchanged (change ${change(58, 40)})`);
  await assert.rejects(drawDetections(new Uint8Array([1, 2, 3]), DETECTIONS, []));
});

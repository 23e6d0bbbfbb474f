import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classColor, renderImageGrid, shorten, textColorOn, visibleBoxes } from '../../src/report/image_grid.ts';
import type { ImageGrid } from '../../src/report/types.ts';
import { FAKE_JPEG, gridImage } from './fixtures.ts';

const count = (text: string, needle: string | RegExp): number => text.split(needle).length - 1;
const NAMES = ['circle', 'square', 'diamond', 'triangle'];

test('one <image> per cell: four cells (GT, teacher, baseline, distilled) per image', () => {
  const html = renderImageGrid({ classNames: NAMES, images: [gridImage('a'), gridImage('b'), gridImage('c')] });
  assert.equal(count(html, '<image '), 12);
  assert.equal(count(html, '<figure>'), 12);
  assert.equal(count(html, '<div class="row-caption">'), 3);
  for (const head of ['ground truth', 'teacher', 'baseline student', 'distilled student']) assert.ok(html.includes(`<div class="grid-head">${head}</div>`));
});

test('images are inlined as base64 data URLs of their bytes', () => {
  const png = { ...gridImage('p'), mime: 'image/png' as const, bytes: new Uint8Array([1, 2, 3, 250]) };
  const html = renderImageGrid({ classNames: NAMES, images: [gridImage('j'), png] });
  assert.equal(count(html, `href="data:image/jpeg;base64,${Buffer.from(FAKE_JPEG).toString('base64')}"`), 4);
  assert.equal(count(html, 'href="data:image/png;base64,AQID+g=="'), 4);
  assert.ok(html.includes('viewBox="0 0 128 96"'));
});

test('a subarray view is encoded without the bytes around it', () => {
  const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
  const html = renderImageGrid({ classNames: NAMES, images: [{ ...gridImage('v'), bytes: backing.subarray(2, 5) }] });
  assert.ok(html.includes(`base64,${Buffer.from([1, 2, 3]).toString('base64')}"`));
});

test('the grid is capped at maxImages (default 12) and says how many it shows', () => {
  const images = Array.from({ length: 15 }, (_, i) => gridImage(`img-${i}`));
  const html = renderImageGrid({ classNames: NAMES, images });
  assert.equal(count(html, '<image '), 48);
  assert.ok(html.includes('Showing 12 of 15 test images'));
  assert.ok(!html.includes('img-12'));
  assert.equal(count(renderImageGrid({ classNames: NAMES, images, maxImages: 2 }), '<image '), 8);
});

test('detections under minScore are hidden and counted; ground truth is always drawn', () => {
  const img = gridImage('x', {
    groundTruth: [{ box: [0, 0, 10, 10], classId: 0 }],
    teacher: [{ box: [0, 0, 10, 10], classId: 0, score: 0.9 }, { box: [5, 5, 9, 9], classId: 1, score: 0.29 }, { box: [1, 1, 2, 2], classId: 1, score: 0.1 }],
    baseline: [],
    distilled: [{ box: [0, 0, 10, 10], classId: 0, score: 0.3 }],
  });
  const html = renderImageGrid({ classNames: NAMES, images: [img] });
  assert.equal(count(html, 'class="det"'), 3); // GT 1 + teacher 1 + distilled 1 (0.3 is kept: ≥)
  assert.ok(html.includes('<figcaption>1 object</figcaption>'));
  assert.ok(html.includes('<figcaption>1 detection <span class="muted">+2 &lt; 0.30</span></figcaption>'));
  assert.ok(html.includes('<figcaption>0 detections</figcaption>'));
  assert.ok(html.includes('>circle 0.90</text>'));
  assert.ok(html.includes('>circle</text>'), 'ground truth labels carry no score');
  const lower = renderImageGrid({ classNames: NAMES, images: [img], minScore: 0.05 });
  assert.equal(count(lower, 'class="det"'), 5);
});

test('boxes are drawn at their pixel coordinates in class colours', () => {
  const img = gridImage('x', { groundTruth: [{ box: [10, 12, 50, 60], classId: 2 }], teacher: [], baseline: [], distilled: [] });
  const html = renderImageGrid({ classNames: NAMES, images: [img] });
  assert.ok(html.includes(`<rect x="10" y="12" width="40" height="48" fill="none" stroke="${classColor(2)}"`));
});

test('names and ids are escaped, long class names shortened in box labels but not in the legend', () => {
  const evil = '<script>alert(1)</script>';
  const html = renderImageGrid({ classNames: [evil], images: [gridImage(`id ${evil}`, { groundTruth: [{ box: [1, 1, 5, 5], classId: 0 }] })] });
  assert.ok(!html.toLowerCase().includes('<script'));
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;</span>'), 'legend has the full name');
  assert.ok(html.includes('id &lt;script&gt;'));
  assert.equal(shorten('abcdefgh', 5), 'abcd…');
  assert.equal(shorten('abc', 5), 'abc');
});

test('unknown class ids get a generic name; non-finite boxes are skipped', () => {
  const img = gridImage('x', { groundTruth: [{ box: [1, 1, 5, 5], classId: 7 }, { box: [NaN, 1, 5, 5], classId: 0 }], teacher: [], baseline: [], distilled: [] });
  const html = renderImageGrid({ classNames: NAMES, images: [img] });
  assert.ok(html.includes('>class 7</text>'));
  assert.ok(!html.includes('NaN'));
  assert.equal(count(html, 'class="det"'), 1);
});

test('visibleBoxes puts the best scores last so they are drawn on top', () => {
  const { shown, hidden } = visibleBoxes(
    [
      { box: [0, 0, 1, 1], classId: 0, score: 0.9 },
      { box: [0, 0, 1, 1], classId: 0, score: 0.4 },
      { box: [0, 0, 1, 1], classId: 0, score: 0.2 },
    ],
    0.3,
  );
  assert.deepEqual(shown.map((b) => b.score), [0.4, 0.9]);
  assert.equal(hidden, 1);
});

test('colours: stable per class, wrap around the palette, readable text', () => {
  assert.equal(classColor(3), classColor(3));
  assert.notEqual(classColor(0), classColor(1));
  assert.equal(classColor(10), classColor(0));
  assert.equal(classColor(-1), classColor(9));
  assert.equal(textColorOn('#ffffff'), '#111');
  assert.equal(textColorOn('#000000'), '#fff');
  assert.equal(textColorOn('#4e79a7'), '#fff');
});

test('an empty grid says so; a non-positive image size is an error', () => {
  assert.match(renderImageGrid({ classNames: NAMES, images: [] }), /No test images/);
  const bad: ImageGrid = { classNames: NAMES, images: [{ ...gridImage('z'), width: 0 }] };
  assert.throws(() => renderImageGrid(bad), /grid image z: width and height must be positive/);
});

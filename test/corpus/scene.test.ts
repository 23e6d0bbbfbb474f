import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOMAINS } from '../../src/corpus/domains.ts';
import { renderScene, sampleScene, type Scene, type SceneParams } from '../../src/corpus/scene.ts';

function params(key: string, domain: 'target' | 'shifted', empty = false): SceneParams {
  return { key, domain: DOMAINS[domain], empty, imageSize: { min: 96, max: 256 }, objectSize: { min: 12, max: 88 }, letterboxSize: 128, minVisible: 0.5 };
}

const scenes: Scene[] = [];
for (let i = 0; i < 40; i++) scenes.push(sampleScene(params(`scene-test/${i}`, i % 2 === 0 ? 'target' : 'shifted')));

test('sampling is deterministic in the key', () => {
  assert.deepEqual(sampleScene(params('k/1', 'target')), sampleScene(params('k/1', 'target')));
  assert.notDeepEqual(sampleScene(params('k/1', 'target')), sampleScene(params('k/2', 'target')));
  assert.deepEqual(renderScene(scenes[0]), renderScene(scenes[0]));
});

test('image sizes, object sizes and visibility stay within the configured ranges', () => {
  let objects = 0;
  for (const s of scenes) {
    assert.ok(s.width >= 96 && s.width <= 256 && s.height >= 96 && s.height <= 256, `${s.width}x${s.height}`);
    const toLetterbox = 128 / Math.max(s.width, s.height);
    for (const o of s.objects) {
      objects++;
      const [x, y, w, h] = o.bbox;
      assert.ok(x >= 0 && y >= 0 && x + w <= s.width + 1e-9 && y + h <= s.height + 1e-9, `box ${o.bbox} outside ${s.width}x${s.height}`);
      if (!o.truncated) {
        const long = Math.max(w, h) * toLetterbox;
        assert.ok(long >= 12 - 0.02 && long <= 88 + 0.02, `long side ${long} at letterbox scale`);
      }
      assert.ok(o.visible >= 0.3 && o.visible <= 1, `visible ${o.visible}`);
      assert.ok(o.area > 0);
    }
  }
  assert.ok(objects > 60, `only ${objects} objects in 40 scenes`);
  assert.ok(scenes.some((s) => new Set(s.objects.map((o) => o.category)).size >= 3));
  assert.ok(scenes.some((s) => s.width !== s.height));
});

test('an empty scene has no objects but still has background clutter', () => {
  const s = sampleScene(params('empty/1', 'shifted', true));
  assert.equal(s.objects.length, 0);
  assert.ok(s.under.length > 0);
});

test('each ground-truth box is tight around the pixels its object changes', () => {
  const channelsDiffer = (a: Uint8Array, b: Uint8Array, p: number) => Math.max(Math.abs(a[3 * p] - b[3 * p]), Math.abs(a[3 * p + 1] - b[3 * p + 1]), Math.abs(a[3 * p + 2] - b[3 * p + 2])) > 2;
  for (const scene of scenes.slice(0, 24)) {
    const plain = { clutter: false, degrade: false };
    const base = renderScene({ ...scene, objects: [] }, plain);
    for (const o of scene.objects) {
      const img = renderScene({ ...scene, objects: [o] }, plain);
      let x0 = Infinity;
      let y0 = Infinity;
      let x1 = -Infinity;
      let y1 = -Infinity;
      for (let p = 0; p < scene.width * scene.height; p++) {
        if (!channelsDiffer(img, base, p)) continue;
        const x = p % scene.width;
        const y = Math.floor(p / scene.width);
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x + 1);
        y1 = Math.max(y1, y + 1);
      }
      const [bx, by, bw, bh] = o.bbox;
      const label = `${o.category} ${o.bbox} drawn [${x0},${y0},${x1},${y1}] in ${scene.width}x${scene.height}`;
      // Anti-aliasing reaches at most ~1 px past the outline; faint edge pixels may fall under the threshold.
      assert.ok(x0 >= bx - 1.5 && y0 >= by - 1.5 && x1 <= bx + bw + 1.5 && y1 <= by + bh + 1.5, `drawn outside box: ${label}`);
      assert.ok(x0 <= bx + 2 && y0 <= by + 2 && x1 >= bx + bw - 2 && y1 >= by + bh - 2, `box not tight: ${label}`);
    }
  }
});

test('noise and blur change pixels only slightly; the objects change the image', () => {
  const scene = scenes.find((s) => s.objects.length > 0 && s.noiseSigma > 3);
  assert.ok(scene);
  const clean = renderScene(scene, { degrade: false });
  const noisy = renderScene(scene);
  let mad = 0;
  for (let i = 0; i < clean.length; i++) mad += Math.abs(clean[i] - noisy[i]);
  mad /= clean.length;
  assert.ok(mad > 0.5 && mad < 15, `mean abs noise ${mad}`);
  assert.notDeepEqual(renderScene(scene, { objects: false }), noisy);
});

test('the shifted domain is darker and busier than the target domain', () => {
  const stats = (domain: 'target' | 'shifted') => {
    let luma = 0;
    let clutter = 0;
    let sigma = 0;
    const n = 30;
    for (let i = 0; i < n; i++) {
      const s = sampleScene(params(`shift/${i}`, domain, true));
      const rgb = renderScene(s, { clutter: false, degrade: false });
      let l = 0;
      for (let p = 0; p < rgb.length; p += 3) l += 0.299 * rgb[p] + 0.587 * rgb[p + 1] + 0.114 * rgb[p + 2];
      luma += l / (rgb.length / 3) / n;
      clutter += (s.under.length + s.over.length) / n;
      sigma += s.noiseSigma / n;
    }
    return { luma, clutter, sigma };
  };
  const t = stats('target');
  const s = stats('shifted');
  assert.ok(t.luma - s.luma > 40, `background luma target ${t.luma.toFixed(1)} vs shifted ${s.luma.toFixed(1)}`);
  assert.ok(s.clutter > t.clutter + 2, `clutter ${t.clutter} vs ${s.clutter}`);
  assert.ok(s.sigma > t.sigma + 2, `noise ${t.sigma} vs ${s.sigma}`);
});

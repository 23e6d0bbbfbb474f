import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildCoco, imageKeyOf, readCocoAnnotations, SHAPE_CATEGORIES } from '../../src/corpus/coco.ts';
import { DOMAINS } from '../../src/corpus/domains.ts';
import { sampleScene } from '../../src/corpus/scene.ts';
import { CocoValidationError, parseCocoGroundTruth } from '../../src/eval/coco_types.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { ObjectNotFoundError } from '../../src/io/object_store.ts';

const entries = [1, 2, 3].map((id) => ({
  id,
  fileName: `images/00000${id}.jpg`,
  scene: sampleScene({ key: `coco/${id}`, domain: DOMAINS.target, empty: id === 2, imageSize: { min: 96, max: 160 }, objectSize: { min: 12, max: 80 }, letterboxSize: 128, minVisible: 0.5 }),
}));
const info = { description: 'test', version: '0', contributor: 'test', split: 'labeled' as const, domain: 'target' as const, seed: 1 };

test('buildCoco writes valid COCO: unique ids, boxes in pixels, 1-based categories', () => {
  const coco = buildCoco(entries, info);
  parseCocoGroundTruth(JSON.parse(JSON.stringify(coco)));
  assert.deepEqual(coco.categories.map((c) => c.name), ['circle', 'square', 'diamond', 'triangle']);
  assert.deepEqual(coco.categories.map((c) => c.id), [1, 2, 3, 4]);
  assert.equal(coco.annotations.length, entries.reduce((s, e) => s + e.scene.objects.length, 0));
  assert.equal(coco.annotations.filter((a) => a.image_id === 2).length, 0);
  for (const a of coco.annotations) {
    const img = coco.images.find((i) => i.id === a.image_id);
    assert.ok(img?.width !== undefined && img.height !== undefined);
    const [x, y, w, h] = a.bbox;
    assert.ok(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= img.width && y + h <= img.height);
    assert.equal(a.iscrowd, 0);
    assert.ok(a.area !== undefined && a.area > 0 && a.area <= w * h + 1e-9);
  }
  assert.equal(SHAPE_CATEGORIES.length, 4);
});

test('readCocoAnnotations round-trips the file with its attributes, and names bad fields', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-coco-'));
  try {
    const store = new LocalStore({ root: dir });
    const coco = buildCoco(entries, info);
    await store.put('s/annotations.json', JSON.stringify(coco));
    const read = await readCocoAnnotations(store, 's/annotations.json');
    assert.deepEqual(read, coco);
    assert.equal(imageKeyOf('s/annotations.json', read.images[0].file_name ?? ''), 's/images/000001.jpg');
    assert.equal(imageKeyOf('annotations.json', 'images/1.jpg'), 'images/1.jpg');

    const broken = { ...coco, annotations: [{ ...coco.annotations[0], bbox: [1, 2, 3] }] };
    await store.put('s/bad.json', JSON.stringify(broken));
    await assert.rejects(readCocoAnnotations(store, 's/bad.json'), (err: unknown) => err instanceof CocoValidationError && err.issues.some((i) => i.startsWith('annotations[0].bbox')));
    await store.put('s/text.json', 'not json');
    await assert.rejects(readCocoAnnotations(store, 's/text.json'), /s\/text.json: not JSON/);
    await assert.rejects(readCocoAnnotations(store, 's/missing.json'), ObjectNotFoundError);

    // A foreign COCO file without this corpus's extras reads fine.
    await store.put('plain.json', JSON.stringify({ images: [{ id: 1 }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 1, 1] }], categories: [{ id: 1 }] }));
    const plain = await readCocoAnnotations(store, 'plain.json');
    assert.equal(plain.annotations[0].attributes, undefined);
    assert.equal(plain.info, undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

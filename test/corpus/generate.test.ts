import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { imageKeyOf, readCocoAnnotations } from '../../src/corpus/coco.ts';
import { CorpusExistsError, generateCorpus, inspectCorpus, readCorpusManifest } from '../../src/corpus/generate.ts';
import { resolveCorpusOptions, SPLITS, type CorpusOptions, type SplitName } from '../../src/corpus/options.ts';
import { renderImage } from '../../src/corpus/render_image.ts';
import { renderScene } from '../../src/corpus/scene.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { listAll, type ObjectStore } from '../../src/io/object_store.ts';

const TINY: CorpusOptions = { seed: 5, images: { labeled: 6, test: 8, unlabeled: 20 }, imageSize: { min: 96, max: 128 }, workers: 0 };

async function withStores<T>(n: number, fn: (...stores: LocalStore[]) => Promise<T>): Promise<T> {
  const dirs = await Promise.all(Array.from({ length: n }, () => mkdtemp(path.join(os.tmpdir(), 'distillery-corpus-'))));
  try {
    return await fn(...dirs.map((root) => new LocalStore({ root })));
  } finally {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

async function snapshot(store: ObjectStore, prefix = ''): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const o of listAll(store, prefix)) out.set(o.key, Buffer.from(await store.get(o.key)));
  return out;
}

async function decode(bytes: Uint8Array): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { data, width: info.width, height: info.height };
}

test('same seed → byte-identical images, annotations and manifest, whatever the worker count', () =>
  withStores(3, async (a, b, c) => {
    await generateCorpus(a, TINY);
    await generateCorpus(b, { ...TINY, workers: 2, concurrency: 3 });
    await generateCorpus(c, { ...TINY, seed: 6 });
    const [sa, sb, sc] = await Promise.all([snapshot(a), snapshot(b), snapshot(c)]);
    assert.equal(sa.size, 6 + 8 + 20 + 3 + 1);
    assert.deepEqual([...sa.keys()], [...sb.keys()]);
    for (const [key, bytes] of sa) assert.ok(bytes.equals(sb.get(key) ?? Buffer.alloc(0)), `${key} differs between runs`);
    assert.deepEqual([...sa.keys()], [...sc.keys()]);
    assert.ok(!sa.get('labeled/images/000001.jpg')?.equals(sc.get('labeled/images/000001.jpg') ?? Buffer.alloc(0)), 'another seed gives other images');
    assert.ok(!sa.get('test/annotations.json')?.equals(sc.get('test/annotations.json') ?? Buffer.alloc(0)));
  }));

test('splits: counts, valid COCO whose file names resolve to stored JPEGs, boxes inside images, exact empty share', () =>
  withStores(1, async (store) => {
    const progress: [number, number, SplitName][] = [];
    const manifest = await generateCorpus(store, { ...TINY, emptyShare: 0.25, onProgress: (d, t, s) => progress.push([d, t, s]) });
    assert.deepEqual(progress.map((p) => p[0]), Array.from({ length: 34 }, (_, i) => i + 1));
    assert.ok(progress.every((p) => p[1] === 34));
    assert.deepEqual([...new Set(progress.map((p) => p[2]))], ['labeled', 'test', 'unlabeled']);
    assert.deepEqual(await readCorpusManifest(store, ''), manifest);
    assert.equal(manifest.generator.name, 'distillery-shapes');
    assert.equal(manifest.seed, 5);
    for (const split of SPLITS) {
      const summary = manifest.splits[split];
      const coco = await readCocoAnnotations(store, summary.annotationsKey);
      assert.equal(summary.annotationsKey, `${split}/annotations.json`);
      assert.equal(coco.images.length, TINY.images?.[split]);
      assert.equal(coco.annotations.length, summary.annotations);
      assert.equal(coco.info?.split, split);
      const withObjects = new Set(coco.annotations.map((a) => a.image_id));
      const empty = coco.images.filter((i) => !withObjects.has(i.id)).length;
      assert.equal(empty, summary.emptyImages);
      // Unlabeled: exactly round(0.25 × 20) = 5 empty images; the target splits have objects in every image.
      assert.equal(empty, split === 'unlabeled' ? 5 : 0, `${split} empty images`);
      for (const img of coco.images) {
        const key = imageKeyOf(summary.annotationsKey, img.file_name ?? '');
        assert.ok(key.startsWith(summary.imagesPrefix));
        const { width, height } = await decode(await store.get(key));
        assert.deepEqual([width, height], [img.width, img.height]);
        assert.ok(width >= 96 && width <= 128 && height >= 96 && height <= 128);
      }
      for (const a of coco.annotations) {
        const img = coco.images.find((i) => i.id === a.image_id);
        const [x, y, w, h] = a.bbox;
        assert.ok(img && x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= (img.width ?? 0) && y + h <= (img.height ?? 0), `box ${a.bbox}`);
        assert.ok(a.attributes && a.attributes.visible > 0);
      }
    }
  }));

test('stored JPEGs are the rendered scenes of their annotations', () =>
  withStores(1, async (store) => {
    await generateCorpus(store, TINY);
    const coco = await readCocoAnnotations(store, 'labeled/annotations.json');
    const { config } = resolveCorpusOptions(TINY);
    for (const id of [1, 4]) {
      const { jpeg, scene } = await renderImage({
        key: `5/labeled/${id}`,
        domain: 'target',
        empty: false,
        imageSize: config.imageSize,
        objectSize: config.objectSize,
        letterboxSize: config.letterboxSize,
        minVisible: config.minVisible,
        jpegQuality: config.jpegQuality,
      });
      const stored = await store.get(`labeled/images/00000${id}.jpg`);
      assert.ok(Buffer.from(stored).equals(Buffer.from(jpeg)));
      assert.deepEqual(coco.annotations.filter((a) => a.image_id === id).map((a) => a.bbox), scene.objects.map((o) => o.bbox));
      const decoded = await decode(stored);
      const raw = renderScene(scene);
      let mad = 0;
      for (let i = 0; i < raw.length; i++) mad += Math.abs(raw[i] - decoded.data[i]);
      mad /= raw.length;
      assert.ok(mad < 6, `JPEG differs from its render by ${mad.toFixed(2)} per channel`);
    }
  }));

test('the unlabeled split is drawn from a shifted (darker) distribution', () =>
  withStores(1, async (store) => {
    await generateCorpus(store, { ...TINY, images: { labeled: 1, test: 16, unlabeled: 16 } });
    const meanLuma = async (split: SplitName) => {
      let sum = 0;
      const coco = await readCocoAnnotations(store, `${split}/annotations.json`);
      for (const img of coco.images) {
        const { data } = await decode(await store.get(imageKeyOf(`${split}/annotations.json`, img.file_name ?? '')));
        let l = 0;
        for (let p = 0; p < data.length; p += 3) l += 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
        sum += l / (data.length / 3);
      }
      return sum / coco.images.length;
    };
    const target = await meanLuma('test');
    const shifted = await meanLuma('unlabeled');
    assert.ok(target - shifted > 30, `mean luma test ${target.toFixed(1)} vs unlabeled ${shifted.toFixed(1)}`);
  }));

test('an existing corpus is reused when identical, refused when different or partial, replaced on request', () =>
  withStores(1, async (store) => {
    const small: CorpusOptions = { ...TINY, prefix: 'bench/shapes', images: { labeled: 3, test: 2, unlabeled: 6 } };
    const first = await generateCorpus(store, small);
    const before = await snapshot(store);
    assert.ok([...before.keys()].every((k) => k.startsWith('bench/shapes/')));
    assert.ok(before.has('bench/shapes/manifest.json') && before.has('bench/shapes/unlabeled/images/000006.jpg'));

    let puts = 0;
    const counting: ObjectStore = Object.assign(Object.create(store) as LocalStore, {
      put: (...args: Parameters<ObjectStore['put']>) => {
        puts++;
        return store.put(...args);
      },
    });
    assert.deepEqual(await generateCorpus(counting, small), first);
    assert.equal(puts, 0, 'an identical corpus is not rewritten');

    const other: CorpusOptions = { ...small, images: { labeled: 2, test: 2, unlabeled: 4 } };
    await assert.rejects(generateCorpus(store, other), (err: unknown) => err instanceof CorpusExistsError && err.state === 'different' && /images\.labeled: 3 → 2/.test(err.message));
    const replaced = await generateCorpus(store, { ...other, ifExists: 'replace' });
    assert.equal(replaced.splits.labeled.images, 2);
    const after = await snapshot(store);
    assert.equal(after.size, 2 + 2 + 4 + 3 + 1, 'no stale objects survive a replace');
    assert.ok(!after.has('bench/shapes/labeled/images/000003.jpg'));

    await store.delete('bench/shapes/unlabeled/images/000002.jpg');
    const { config } = resolveCorpusOptions(other);
    assert.equal((await inspectCorpus(store, config)).state, 'incomplete');
    await assert.rejects(generateCorpus(store, other), (err: unknown) => err instanceof CorpusExistsError && err.state === 'incomplete');
  }));

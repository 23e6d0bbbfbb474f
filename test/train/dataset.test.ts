import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { generateAnchors } from '../../src/boxes/anchors.ts';
import { letterboxTransform, toInputBox } from '../../src/image/letterbox.ts';
import { detectorAnchorConfig } from '../../src/model/detector_config.ts';
import {
  disposeBatch,
  epochOrder,
  flipBox,
  formatPosition,
  imagesToTensor,
  loadCocoDataset,
  parsePosition,
  trainingBatches,
  type DetectionDataset,
  type TrainBatch,
} from '../../src/train/dataset.ts';
import { augmentPreset } from '../../src/train/augment.ts';
import { SeededRng } from '../../src/train/rng.ts';
import { cocoOf, makeScenes, renderJpeg, tempStore, TINY_DETECTOR, writeSplit, type TempStore } from './fixtures.ts';

const SIZE = 32;
const anchors = generateAnchors(detectorAnchorConfig(TINY_DETECTOR), SIZE, SIZE);
let tmp: TempStore;
let dataset: DetectionDataset;
const scenes = makeScenes(7);

before(async () => {
  await initBackend('cpu');
  tmp = await tempStore();
  await writeSplit(tmp.store, 'labeled', scenes);
  dataset = await loadCocoDataset(tmp.store, 'labeled/annotations.json', { inputSize: SIZE, concurrency: 3 });
});

after(async () => {
  await tmp.cleanup();
});

test('loads every image letterboxed, with boxes in input pixels and classes in sorted category-id order', () => {
  assert.equal(dataset.images.length, scenes.length);
  assert.equal(dataset.skipped.length, 0);
  assert.deepEqual(dataset.categories.categoryIds, [3, 7]);
  scenes.forEach((scene, i) => {
    const im = dataset.images[i];
    assert.equal(im.id, scene.id);
    assert.equal(im.pixels.length, SIZE * SIZE * 3);
    const t = letterboxTransform(scene.width, scene.height, SIZE);
    assert.deepEqual(im.transform, t);
    assert.deepEqual(
      im.boxes,
      scene.objects.map((o) => toInputBox([o.bbox[0], o.bbox[1], o.bbox[0] + o.bbox[2], o.bbox[1] + o.bbox[3]], t)),
    );
    assert.deepEqual(im.classIds, scene.objects.map((o) => (o.categoryId === 3 ? 0 : 1)));
  });
});

test('the pixels under a mapped box show that box\'s colour (boxes and pixels are aligned)', () => {
  for (const im of dataset.images) {
    const [x1, y1, x2, y2] = im.boxes[0];
    const cx = Math.floor((x1 + x2) / 2);
    const cy = Math.floor((y1 + y2) / 2);
    const o = (cy * SIZE + cx) * 3;
    const [r, , b] = [im.pixels[o], im.pixels[o + 1], im.pixels[o + 2]];
    if (im.classIds[0] === 0) assert.ok(r > 150 && b < 100, `image ${im.id}: expected red at (${cx}, ${cy}), got r=${r} b=${b}`);
    else assert.ok(b > 150 && r < 100, `image ${im.id}: expected blue at (${cx}, ${cy}), got r=${r} b=${b}`);
  }
});

test('missing, corrupt and nameless images are skipped and counted; crowd boxes become ignore regions, empty boxes are dropped', async () => {
  const good = makeScenes(3, 100);
  const coco = cocoOf(good, (im) => (im.id === 102 ? undefined : `images/${im.id}.jpg`));
  coco.images.push({ id: 200, width: 10, height: 10, file_name: 'images/missing.jpg' });
  coco.images.push({ id: 201, width: 10, height: 10, file_name: 'images/broken.jpg' });
  coco.annotations.push({ id: 900, image_id: 100, category_id: 3, bbox: [1, 1, 30, 30], iscrowd: 1 });
  coco.annotations.push({ id: 901, image_id: 100, category_id: 7, bbox: [5, 5, 0, 10], iscrowd: 0 });
  for (const im of good) await tmp.store.put(`bad/images/${im.id}.jpg`, await renderJpeg(im));
  const jpeg = await renderJpeg(good[0]);
  await tmp.store.put('bad/images/broken.jpg', jpeg.subarray(0, 40));
  await tmp.store.put('bad/annotations.json', JSON.stringify(coco));
  const warnings: string[] = [];
  const logger = { warn: (_obj: unknown, msg: string) => warnings.push(msg) } as unknown as import('../../src/util/logger.ts').Logger;
  const ds = await loadCocoDataset(tmp.store, 'bad/annotations.json', { inputSize: SIZE, logger });
  assert.deepEqual(ds.images.map((im) => im.id), [100, 101]);
  assert.deepEqual(ds.skipped.map((s) => s.id).sort(), [102, 200, 201]);
  assert.match(ds.skipped.find((s) => s.id === 200)?.reason ?? '', /not found/);
  assert.match(ds.skipped.find((s) => s.id === 201)?.reason ?? '', /corrupt/);
  assert.ok(warnings.some((w) => /skipped 3 unusable/.test(w)), warnings.join('; '));
  // Image 100 keeps only its real object: the crowd region and the zero-width box are not targets.
  assert.equal(ds.images[0].boxes.length, good[0].objects.length);
  // The crowd region is kept apart, in input pixels, and no other image has one.
  assert.deepEqual(ds.images[0].ignore, [toInputBox([1, 1, 31, 31], ds.images[0].transform)]);
  assert.deepEqual(ds.images[1].ignore, []);
});

test('a crowd region reaches the loss targets as ignored anchors, mirrored with a flipped image and moved by the strong preset', async () => {
  // A portrait scene with one object in its upper half; the region is the lower left quarter, which mirrors to the lower right.
  const scene = makeScenes(2, 300)[1];
  assert.ok(scene.objects.length === 1 && scene.objects[0].bbox[1] + scene.objects[0].bbox[3] < scene.height / 2);
  const coco = cocoOf([scene]);
  coco.annotations.push({ id: 990, image_id: scene.id, category_id: 3, bbox: [0, (scene.height * 5) / 8, scene.width / 2, (scene.height * 3) / 8], iscrowd: 1 });
  await tmp.store.put(`crowd/images/${scene.id}.jpg`, await renderJpeg(scene));
  await tmp.store.put('crowd/annotations.json', JSON.stringify(coco));
  const ds = await loadCocoDataset(tmp.store, 'crowd/annotations.json', { inputSize: SIZE });
  const [region] = ds.images[0].ignore;
  const plain = await loadCocoDataset(tmp.store, 'crowd/annotations.json', { inputSize: SIZE });
  plain.images[0].ignore = [];

  const ignoredOf = async (d: DetectionDataset, options: Partial<Parameters<typeof trainingBatches>[3]>, seed: number) => {
    const batch = trainingBatches(d, 1, new SeededRng(seed), { anchors, shuffleSeed: 1, ...options }).next().value;
    const valid = await batch.targets.valid.data();
    const positive = await batch.targets.positive.data();
    const out = { ignored: [] as number[], positives: Array.from(positive), boxes: batch.boxes[0], flipped: batch.flipped[0] };
    valid.forEach((v, k) => v === 0 && out.ignored.push(k));
    disposeBatch(batch);
    return out;
  };
  const covered = (box: readonly number[], k: number): boolean => {
    const [x1, y1, x2, y2] = Array.from(anchors.boxes.subarray(k * 4, k * 4 + 4));
    const w = Math.min(x2, box[2]) - Math.max(x1, box[0]);
    const h = Math.min(y2, box[3]) - Math.max(y1, box[1]);
    return w > 0 && h > 0 && w * h >= 0.5 * (x2 - x1) * (y2 - y1);
  };
  for (const [options, seeds] of [[{ flip: true }, [1, 2, 3, 4, 5, 6, 7, 8]], [{ augment: augmentPreset('strong') }, [5, 6]]] as const) {
    let sawFlip = false;
    let seedsIgnoring = 0;
    for (const seed of seeds) {
      const withRegion = await ignoredOf(ds, options, seed);
      const without = await ignoredOf(plain, options, seed);
      sawFlip ||= withRegion.flipped;
      // Same draws, same positives: the region only turns background anchors into ignored ones, those it covers.
      assert.deepEqual(withRegion.positives, without.positives);
      const extra = withRegion.ignored.filter((k) => !without.ignored.includes(k));
      // A zoom may shrink the region below half an anchor, or push it out of the frame; a flip never does.
      if ('flip' in options) assert.ok(extra.length > 0, `seed ${seed}: the region ignores some anchors`);
      if (extra.length > 0) seedsIgnoring++;
      const moved = withRegion.boxes.ignore?.[0];
      assert.ok(moved !== undefined);
      if ('flip' in options) assert.deepEqual(moved, withRegion.flipped ? flipBox(region, SIZE) : region);
      for (const k of extra) assert.ok(covered(moved, k), `seed ${seed}: anchor ${k} is ignored but not covered by the region`);
    }
    if ('flip' in options) assert.ok(sawFlip, 'a flipped draw was seen');
    assert.ok(seedsIgnoring > 0, 'some draws keep the region big enough to ignore anchors');
  }
});

test('positions format and parse; a bad one is refused', () => {
  assert.deepEqual(parsePosition(formatPosition({ epoch: 3, index: 41 })), { epoch: 3, index: 41 });
  assert.throws(() => parsePosition('3-41'), /invalid sampler position/);
});

test('epoch orders are permutations that depend on (seed, epoch)', () => {
  const a = epochOrder(50, 9, 0);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(epochOrder(50, 9, 0), a);
  assert.notDeepEqual(epochOrder(50, 9, 1), a);
  assert.notDeepEqual(epochOrder(50, 10, 0), a);
});

async function take(n: number, rng: SeededRng, start?: { epoch: number; index: number }): Promise<{ ids: number[][]; flips: boolean[][]; pixels: number[][]; positions: string[] }> {
  const it = trainingBatches(dataset, 3, rng, { anchors, shuffleSeed: 5, start, flip: true });
  const out = { ids: [] as number[][], flips: [] as boolean[][], pixels: [] as number[][], positions: [] as string[] };
  for (let i = 0; i < n; i++) {
    const before = tf.memory().numTensors;
    const batch: TrainBatch = it.next().value;
    assert.deepEqual(batch.images.shape, [3, SIZE, SIZE, 3]);
    assert.deepEqual(batch.targets.classTargets.shape, [3, anchors.numAnchors, 2]);
    out.ids.push(batch.imageIds);
    out.flips.push(batch.flipped);
    out.pixels.push(Array.from(await batch.images.data()));
    out.positions.push(formatPosition(batch.position));
    disposeBatch(batch);
    assert.equal(tf.memory().numTensors, before, 'a disposed batch leaves no tensors');
  }
  return out;
}

test('batches are full, straddle epochs, and every image appears once per epoch', async () => {
  const { ids, positions } = await take(7, new SeededRng(1)); // 21 images = 3 epochs of 7
  const flat = ids.flat();
  for (let e = 0; e < 3; e++) assert.deepEqual(flat.slice(e * 7, e * 7 + 7).sort((a, b) => a - b), scenes.map((s) => s.id));
  assert.equal(positions[2], '1:2'); // 9 images consumed: one epoch of 7 plus 2
});

test('a stream resumed from a reported position and rng state repeats the original exactly', async () => {
  const rng = new SeededRng(42);
  const whole = await take(6, rng);
  const rng2 = new SeededRng(42);
  const head = await take(2, rng2);
  const tail = await take(4, new SeededRng(rng2.state), parsePosition(head.positions[1]));
  assert.deepEqual([...head.ids, ...tail.ids], whole.ids);
  assert.deepEqual([...head.flips, ...tail.flips], whole.flips);
  assert.deepEqual([...head.pixels, ...tail.pixels], whole.pixels);
  assert.ok(whole.flips.flat().some((f) => f) && whole.flips.flat().some((f) => !f), 'flips are drawn both ways');
});

test('in flipped batch images the target boxes still sit on their coloured rectangles', async () => {
  const it = trainingBatches(dataset, 7, new SeededRng(3), { anchors, shuffleSeed: 1, flip: true });
  let flipped = 0;
  for (let n = 0; n < 3; n++) {
    const batch = it.next().value;
    const pixels = await batch.images.data(); // preprocessed: 255 → 1, 0 → −1
    batch.boxes.forEach(({ boxes, classIds }, i) => {
      if (batch.flipped[i]) flipped++;
      const [x1, y1, x2, y2] = boxes[0];
      const o = ((i * SIZE + Math.floor((y1 + y2) / 2)) * SIZE + Math.floor((x1 + x2) / 2)) * 3;
      const red = pixels[o] > 0.2 && pixels[o + 2] < -0.2;
      const blue = pixels[o + 2] > 0.2 && pixels[o] < -0.2;
      assert.ok(classIds[0] === 0 ? red : blue, `batch ${n} item ${i} (flipped ${batch.flipped[i]}): wrong colour under the box`);
    });
    disposeBatch(batch);
  }
  assert.ok(flipped > 0);
});

test('a flipped image is the mirror of the unflipped one; flipping a box twice is the identity', async () => {
  const im = dataset.images[0];
  const plain = imagesToTensor([im], SIZE);
  const mirrored = imagesToTensor([im], SIZE, [true]);
  const expected = tf.reverse(plain, 2);
  assert.deepEqual(await mirrored.data(), await expected.data());
  tf.dispose([plain, mirrored, expected]);
  const box = im.boxes[0];
  assert.deepEqual(flipBox(flipBox(box, SIZE), SIZE), box);
  assert.deepEqual(flipBox([2, 3, 10, 20], 32), [22, 3, 30, 20]);
});

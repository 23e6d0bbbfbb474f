// Tests for fetch + decode of one ImageRef: every kind of bad input becomes its rejection reason; outages throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAD_VALUE } from '../../../src/image/letterbox.ts';
import type { ObjectStore } from '../../../src/io/object_store.ts';
import { prepareImage, type Prepared } from '../../../src/stages/teacher/prepare_image.ts';
import { RetriesExhaustedError } from '../../../src/stages/teacher/retry.ts';
import { tempStore } from '../ingest/topology_fixture.ts';
import { encodedImage, imageRef } from './fixtures.ts';

const OPTIONS = { inputSize: 64, maxImagePixels: 100 * 100, maxObjectBytes: 1_000_000, retry: { retries: 2, initialDelayMs: 1, sleep: async () => undefined } };

/** A store whose `get` fails `failures` times with `error` before delegating. */
function flakyStore(inner: ObjectStore, error: () => Error, failures: number): ObjectStore & { gets: number } {
  const store = Object.create(inner) as ObjectStore & { gets: number };
  store.gets = 0;
  store.get = async (key: string) => {
    store.gets++;
    if (store.gets <= failures) throw error();
    return inner.get(key);
  };
  return store;
}

function reasonOf(p: Prepared): string {
  return p.kind === 'unusable' ? p.reason : 'image';
}

test('a good image is letterboxed to the model input', async () => {
  const { store, cleanup } = await tempStore();
  try {
    await store.put('a.jpg', await encodedImage(80, 40, 'jpeg'));
    const steps: [string, number][] = [];
    const p = await prepareImage(store, imageRef('a.jpg'), { ...OPTIONS, onStep: (step, seconds) => steps.push([step, seconds]) });
    assert.equal(p.kind, 'image');
    if (p.kind !== 'image') return;
    assert.deepEqual(steps.map(([step]) => step), ['fetch', 'decode', 'letterbox'], 'each step timed once, in order');
    assert.ok(steps.every(([, seconds]) => seconds >= 0));
    assert.equal(p.pixels.length, 64 * 64 * 3);
    assert.deepEqual([p.transform.width, p.transform.height, p.transform.padX, p.transform.padY], [80, 40, 0, 16]);
    assert.equal(p.pixels[0], PAD_VALUE, 'the top rows are padding');
  } finally {
    await cleanup();
  }
});

test('missing, empty, non-image, truncated and oversized objects come back with their reasons', async () => {
  const { store, cleanup } = await tempStore();
  try {
    const jpeg = await encodedImage(80, 60, 'jpeg');
    await store.put('empty.jpg', new Uint8Array(0));
    await store.put('text.jpg', 'hello, I am not an image');
    await store.put('cut.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    await store.put('big.png', await encodedImage(120, 100, 'png'));
    const cases: Array<[string, string, RegExp]> = [
      ['missing.jpg', 'missing-object', /object not found: missing\.jpg/],
      ['empty.jpg', 'empty-object', /0 bytes/],
      ['text.jpg', 'not-an-image', /not a decodable image/],
      ['cut.jpg', 'corrupt-image', /corrupt or truncated/],
      ['big.png', 'too-large', /120×100 = 12000 pixels, over the limit of 10000/],
    ];
    for (const [key, reason, detail] of cases) {
      const p = await prepareImage(store, imageRef(key), OPTIONS);
      assert.equal(reasonOf(p), reason, key);
      assert.match(p.kind === 'unusable' ? p.detail : '', detail, key);
    }
  } finally {
    await cleanup();
  }
});

test('sizes in the ImageRef refuse a decompression bomb without fetching it', async () => {
  const { store: inner, cleanup } = await tempStore();
  try {
    const store = flakyStore(inner, () => new Error('unused'), 0);
    const p = await prepareImage(store, imageRef('bomb.png', { width: 10000, height: 10000 }), OPTIONS);
    assert.equal(reasonOf(p), 'too-large');
    assert.equal(store.gets, 0);
  } finally {
    await cleanup();
  }
});

test('a labeled image whose size disagrees with its annotations is rejected (its boxes would be misplaced)', async () => {
  const { store, cleanup } = await tempStore();
  try {
    await store.put('l.jpg', await encodedImage(80, 60, 'jpeg'));
    const bad = await prepareImage(store, imageRef('l.jpg', { split: 'labeled', width: 40, height: 30, gt: [] }), OPTIONS);
    assert.equal(reasonOf(bad), 'size-mismatch');
    const good = await prepareImage(store, imageRef('l.jpg', { split: 'labeled', width: 80, height: 60, gt: [] }), OPTIONS);
    assert.equal(good.kind, 'image');
  } finally {
    await cleanup();
  }
});

test('transient store errors are retried; permanent ones reject the image; an outage throws', async () => {
  const { store: inner, cleanup } = await tempStore();
  try {
    await inner.put('a.jpg', await encodedImage(32, 32, 'jpeg'));
    const transient = (): Error => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const flaky = flakyStore(inner, transient, 2);
    assert.equal((await prepareImage(flaky, imageRef('a.jpg'), OPTIONS)).kind, 'image');
    assert.equal(flaky.gets, 3);

    const denied = flakyStore(inner, () => Object.assign(new Error('access denied'), { retriable: false }), 99);
    const p = await prepareImage(denied, imageRef('a.jpg'), OPTIONS);
    assert.equal(reasonOf(p), 'fetch-failed');
    assert.equal(denied.gets, 1);

    const down = flakyStore(inner, transient, 99);
    await assert.rejects(prepareImage(down, imageRef('a.jpg'), OPTIONS), RetriesExhaustedError);
    assert.equal(down.gets, 3);
  } finally {
    await cleanup();
  }
});

test('objects over maxObjectBytes are refused by their listed size without fetching, and again as fetched', async () => {
  const { store, cleanup } = await tempStore();
  try {
    const bytes = await encodedImage(64, 48, 'jpeg');
    await store.put('big.jpg', bytes);
    const options = { ...OPTIONS, maxObjectBytes: bytes.length - 1 };
    const listed = await prepareImage(store, imageRef('big.jpg', { size: bytes.length }), options);
    assert.deepEqual(listed.kind === 'unusable' ? [listed.reason, /as listed/.test(listed.detail)] : listed.kind, ['object-too-large', true]);
    // Listed small, grown since: caught once fetched.
    const grown = await prepareImage(store, imageRef('big.jpg', { size: 10 }), options);
    assert.deepEqual(grown.kind === 'unusable' ? [grown.reason, /as fetched/.test(grown.detail)] : grown.kind, ['object-too-large', true]);
    assert.equal(reasonOf(await prepareImage(store, imageRef('big.jpg', { size: bytes.length }), { ...options, maxObjectBytes: bytes.length })), 'image');
  } finally {
    await cleanup();
  }
});

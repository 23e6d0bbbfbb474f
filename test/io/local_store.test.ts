import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalStore } from '../../src/io/local_store.ts';
import { ObjectNotFoundError, joinKey, listAll } from '../../src/io/object_store.ts';

async function withStore(fn: (store: LocalStore) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-store-'));
  try {
    await fn(new LocalStore({ root: dir }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('put/get/head/delete round trip', () =>
  withStore(async (store) => {
    await store.put('a/b/c.bin', new Uint8Array([1, 2, 3]));
    assert.deepEqual([...(await store.get('a/b/c.bin'))], [1, 2, 3]);
    const info = await store.head('a/b/c.bin');
    assert.equal(info?.size, 3);
    await store.put('a/b/c.bin', 'hello');
    assert.notEqual((await store.head('a/b/c.bin'))?.etag, undefined);
    assert.equal(new TextDecoder().decode(await store.get('a/b/c.bin')), 'hello');
    await store.delete('a/b/c.bin');
    assert.equal(await store.head('a/b/c.bin'), undefined);
  }));

test('get of a missing key throws ObjectNotFoundError', () =>
  withStore(async (store) => {
    await assert.rejects(store.get('nope'), (err: unknown) => err instanceof ObjectNotFoundError && err.key === 'nope');
  }));

test('keys that escape the root are refused', () =>
  withStore(async (store) => {
    await assert.rejects(store.put('../x', 'y'), /invalid object key/);
    await assert.rejects(store.get('/etc/passwd'), /invalid object key/);
  }));

test('list paginates in key order and resumes after a key', () =>
  withStore(async (store) => {
    for (let i = 0; i < 7; i++) await store.put(`img/${i}.jpg`, `x${i}`);
    await store.put('other/z', 'z');
    const first = await store.list('img/', { maxKeys: 3 });
    assert.deepEqual(first.objects.map((o) => o.key), ['img/0.jpg', 'img/1.jpg', 'img/2.jpg']);
    assert.ok(first.nextToken);
    const all: string[] = [];
    for await (const o of listAll(store, 'img/', { maxKeys: 2 })) all.push(o.key);
    assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6].map((i) => `img/${i}.jpg`));
    const resumed = await store.list('img/', { startAfter: 'img/4.jpg' });
    assert.deepEqual(resumed.objects.map((o) => o.key), ['img/5.jpg', 'img/6.jpg']);
    assert.equal(resumed.nextToken, undefined);
    assert.deepEqual((await store.list('missing/')).objects, []);
  }));

test('joinKey normalises slashes', () => {
  assert.equal(joinKey('runs/', '/a/', 'model.json'), 'runs/a/model.json');
  assert.equal(joinKey('', 'x'), 'x');
});

test('a page stats its keys concurrently, not one at a time (one await per key would stall listing)', () =>
  withStore(async (store) => {
    for (let i = 0; i < 120; i++) await store.put(`many/${String(i).padStart(3, '0')}.jpg`, 'x');
    // In the embedded job each event-loop turn can last a whole training step, so a stat per turn is far too slow.
    // Count the stats in flight at once: all of a page's stats start before the first one finishes.
    let inFlight = 0;
    let mostInFlight = 0;
    const head = store.head.bind(store);
    store.head = async (key) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      try {
        return await head(key);
      } finally {
        inFlight--;
      }
    };
    const page = await store.list('many/');
    assert.equal(page.objects.length, 120);
    assert.equal(mostInFlight, 120, 'every key of the page is stat-ed concurrently');
  }));

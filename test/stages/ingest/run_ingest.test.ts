// Tests for the ingest runner: pagination, resume from the cursor after a crash, limits, labeled ground truth, watch mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ListOptions, ListPage, ObjectStore } from '../../../src/io/object_store.ts';
import { decodeImageRef, type ImageRef } from '../../../src/messages/image_ref.ts';
import { readCursor } from '../../../src/stages/ingest/cursor.ts';
import { runIngestStage } from '../../../src/stages/ingest/run_ingest.ts';
import type { StageContext } from '../../../src/stages/stage.ts';
import type { CompiledTopology, IngestStageOptions } from '../../../src/topology/types.ts';
import { MemoryTransport } from '../../../src/transport/memory.ts';
import { waitForMessages } from '../../../src/transport/transport.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { stageOf, tempStore, testTopology } from './topology_fixture.ts';
import type { IngestStageConfig } from '../../../src/stages/ingest/run_ingest.ts';

/** Delegates to a real store, records list calls, and can fail the n-th one (a crash mid-listing). */
class RecordingStore implements ObjectStore {
  readonly lists: ListOptions[] = [];
  failListAt: number | undefined;
  constructor(private readonly inner: ObjectStore) {}
  get(key: string): Promise<Uint8Array> {
    return this.inner.get(key);
  }
  put(key: string, body: Uint8Array | string): Promise<void> {
    return this.inner.put(key, body);
  }
  head(key: string): ReturnType<ObjectStore['head']> {
    return this.inner.head(key);
  }
  async list(prefix: string, options?: ListOptions): Promise<ListPage> {
    this.lists.push({ ...options });
    if (this.failListAt === this.lists.length) throw new Error('simulated crash while listing');
    return this.inner.list(prefix, options);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  describe(): string {
    return `recording(${this.inner.describe()})`;
  }
}

const PREFIX = 'corpus/unlabeled/images/';

function context(topology: CompiledTopology, store: ObjectStore, transport: MemoryTransport, signal = new AbortController().signal): StageContext<IngestStageConfig> {
  return { topology, stage: stageOf(topology, 'ingest'), store, transport, logger: silentLogger(), signal };
}

async function putImages(store: ObjectStore, names: string[], prefix = PREFIX): Promise<void> {
  for (const n of names) await store.put(`${prefix}${n}`, Uint8Array.of(1, 2, 3));
}

async function published(transport: MemoryTransport, topic: string): Promise<ImageRef[]> {
  const high = transport.watermarks(topic).reduce((s, p) => s + p.high, 0);
  const messages = await waitForMessages(transport, topic, high);
  return messages.map((m) => {
    const ref = decodeImageRef(m.value);
    assert.equal(m.key, ref.key, 'message key = object key');
    return ref;
  });
}

test('lists page by page with continuation tokens and publishes one ImageRef per object, in key order', async () => {
  const { store: local, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  try {
    const store = new RecordingStore(local);
    await putImages(store, ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg']);
    await local.put('corpus/other/z.jpg', 'not under the prefix');
    const topology = testTopology({ ingest: { pageSize: 2 } });
    const progress: number[] = [];
    const stage = runIngestStage({ ...context(topology, store, transport), onProgress: (c) => progress.push(c.published) });
    const counters = await stage.done;
    assert.deepEqual(counters, { listed: 5, published: 5, skipped: 0, pages: 3 });
    assert.deepEqual(progress, [2, 4, 5]);
    assert.deepEqual(
      store.lists.map((l) => l.continuationToken ?? null),
      [null, `${PREFIX}b.jpg`, `${PREFIX}d.jpg`],
    );
    assert.ok(store.lists.every((l) => l.maxKeys === 2));
    const refs = await published(transport, 'test.images');
    assert.deepEqual(
      refs.map((r) => r.key),
      ['a', 'b', 'c', 'd', 'e'].map((n) => `${PREFIX}${n}.jpg`),
    );
    const head = await local.head(`${PREFIX}a.jpg`);
    assert.deepEqual(refs[0], { v: 1, imageId: `${PREFIX}a.jpg`, bucket: 'corpus', key: `${PREFIX}a.jpg`, etag: head?.etag, size: 3, split: 'unlabeled' });
    const cursor = await readCursor(store, 'ingest-unlabeled');
    assert.equal(cursor?.lastKey, `${PREFIX}e.jpg`);
    assert.equal(cursor?.published, 5);
  } finally {
    await transport.close();
    await cleanup();
  }
});

test('a stage keeps its cursor under its cursorPrefix: runs with another prefix list from the start', async () => {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  try {
    await putImages(store, ['1.jpg', '2.jpg', '3.jpg']);
    const runA = testTopology({ ingest: { cursorPrefix: 'runs/a/ingest' } });
    assert.equal((await runIngestStage(context(runA, store, transport)).done).published, 3);
    assert.equal((await readCursor(store, 'ingest-unlabeled', 'runs/a/ingest'))?.published, 3);
    assert.equal(await store.head('runs/a/ingest/ingest-unlabeled.json').then((h) => h !== undefined), true);
    assert.equal(await readCursor(store, 'ingest-unlabeled'), undefined, 'nothing under the default prefix');

    // Run b's stage has the same name: it does not resume from run a's position.
    const runB = testTopology({ ingest: { cursorPrefix: 'runs/b/ingest/' } });
    assert.equal((await runIngestStage(context(runB, store, transport)).done).published, 3);
    assert.equal((await readCursor(store, 'ingest-unlabeled', 'runs/b/ingest'))?.lastKey, `${PREFIX}3.jpg`);
    // Run a again resumes from its own cursor: nothing new.
    assert.equal((await runIngestStage(context(runA, store, transport)).done).published, 0);
  } finally {
    await transport.close();
    await cleanup();
  }
});

test('after a crash mid-listing the next run resumes after the last acked page, without duplicates', async () => {
  const { store: local, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  try {
    const store = new RecordingStore(local);
    await putImages(store, ['1.jpg', '2.jpg', '3.jpg', '4.jpg', '5.jpg', '6.jpg', '7.jpg']);
    const topology = testTopology({ ingest: { pageSize: 3 } });
    store.failListAt = 2;
    await assert.rejects(runIngestStage(context(topology, store, transport)).done, /simulated crash while listing/);
    assert.equal((await readCursor(store, 'ingest-unlabeled'))?.lastKey, `${PREFIX}3.jpg`);

    store.failListAt = undefined;
    store.lists.length = 0;
    const counters = await runIngestStage(context(topology, store, transport)).done;
    assert.equal(counters.published, 4);
    assert.equal(store.lists[0].startAfter, `${PREFIX}3.jpg`, 'a new run starts after the cursor, not from a stale token');
    const keys = (await published(transport, 'test.images')).map((r) => r.key);
    assert.deepEqual(keys, ['1', '2', '3', '4', '5', '6', '7'].map((n) => `${PREFIX}${n}.jpg`));

    // Objects added later are picked up by the next run, and only they are.
    await putImages(store, ['8.jpg', '9.jpg']);
    assert.equal((await runIngestStage(context(topology, store, transport)).done).published, 2);
    assert.equal((await published(transport, 'test.images')).length, 9);
    assert.equal((await readCursor(store, 'ingest-unlabeled'))?.published, 9);
  } finally {
    await transport.close();
    await cleanup();
  }
});

test('the next page is listed while the current one waits on a full topic, and the cursor still moves only after the ack', async () => {
  const { store: local, cleanup } = await tempStore();
  // Capacity 2 with a consumer that holds its first batch: the first page's send blocks until the gate opens.
  const transport = new MemoryTransport({ topicDefaults: { capacity: 2 } });
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const consumer = transport.consumer({ groupId: 'slow-reader' });
  try {
    const store = new RecordingStore(local);
    await putImages(store, ['1.jpg', '2.jpg', '3.jpg', '4.jpg', '5.jpg', '6.jpg']);
    const topology = testTopology({ ingest: { pageSize: 3 } });
    await transport.createTopics([{ topic: 'test.images', partitions: 1 }]);
    await consumer.connect();
    await consumer.subscribe({ topics: ['test.images'], fromBeginning: true });
    const consuming = consumer.run({ eachBatch: () => gate, maxBatchSize: 1 });
    const stage = runIngestStage(context(topology, store, transport));
    const deadline = Date.now() + 2000;
    while (store.lists.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(stage.counters.pages, 0, 'the first page is still waiting for room');
    assert.equal(store.lists.length, 2, 'the second page was listed while the first one was being sent');
    assert.equal(await readCursor(store, 'ingest-unlabeled'), undefined, 'no cursor before the first page is acked');
    open();
    assert.deepEqual(await stage.done, { listed: 6, published: 6, skipped: 0, pages: 2 });
    assert.deepEqual(
      store.lists.map((l) => l.continuationToken ?? null),
      [null, `${PREFIX}3.jpg`],
    );
    assert.equal((await readCursor(store, 'ingest-unlabeled'))?.lastKey, `${PREFIX}6.jpg`);
    await consumer.stop();
    await consuming;
    const keys = (await published(transport, 'test.images')).map((r) => r.key);
    assert.deepEqual(keys, ['1', '2', '3', '4', '5', '6'].map((n) => `${PREFIX}${n}.jpg`));
  } finally {
    open();
    await transport.close();
    await cleanup();
  }
});

test('a cursor written for another prefix is ignored and listing starts over', async () => {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  try {
    await putImages(store, ['a.jpg', 'b.jpg']);
    await putImages(store, ['x.jpg'], 'elsewhere/');
    await runIngestStage(context(testTopology({ ingest: { prefix: 'elsewhere/' } }), store, transport)).done;
    const counters = await runIngestStage(context(testTopology(), store, transport)).done;
    assert.equal(counters.published, 2);
  } finally {
    await transport.close();
    await cleanup();
  }
});

test('limit caps the total published across runs, cutting a page short', async () => {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  try {
    await putImages(store, ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg']);
    const topology = testTopology({ ingest: { pageSize: 2, limit: 3 } });
    assert.equal((await runIngestStage(context(topology, store, transport)).done).published, 3);
    assert.equal((await readCursor(store, 'ingest-unlabeled'))?.lastKey, `${PREFIX}c.jpg`);
    assert.equal((await runIngestStage(context(topology, store, transport)).done).published, 0);
    const raised = testTopology({ ingest: { pageSize: 2, limit: 4 } });
    assert.equal((await runIngestStage(context(raised, store, transport)).done).published, 1);
    assert.deepEqual(
      (await published(transport, 'test.images')).map((r) => r.key.slice(PREFIX.length)),
      ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'],
    );
  } finally {
    await transport.close();
    await cleanup();
  }
});

test('labeled ingest attaches converted ground truth and skips images missing from the annotations', async () => {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  try {
    const prefix = 'corpus/labeled/images/';
    await putImages(store, ['1.jpg', '2.jpg', 'stray.jpg'], prefix);
    await store.put(
      'corpus/labeled/annotations.json',
      JSON.stringify({
        images: [
          { id: 1, file_name: 'images/1.jpg', width: 100, height: 80 },
          { id: 2, file_name: 'images/2.jpg', width: 100, height: 80 },
        ],
        annotations: [
          { id: 1, image_id: 1, category_id: 3, bbox: [10, 10, 20, 30] },
          { id: 2, image_id: 1, category_id: 1, bbox: [0, 0, 5, 5] },
        ],
        categories: [{ id: 3 }, { id: 1 }],
      }),
    );
    const options: Partial<IngestStageOptions> = { prefix, split: 'labeled', annotations: 'corpus/labeled/annotations.json' };
    const counters = await runIngestStage(context(testTopology({ ingest: options }), store, transport)).done;
    assert.deepEqual(counters, { listed: 3, published: 2, skipped: 1, pages: 2 });
    const refs = await published(transport, 'test.images');
    assert.deepEqual(
      refs.map((r) => [r.imageId, r.split, r.width, r.height, r.gt]),
      [
        [
          '1',
          'labeled',
          100,
          80,
          [
            { box: [10, 10, 30, 40], classId: 1 },
            { box: [0, 0, 5, 5], classId: 0 },
          ],
        ],
        ['2', 'labeled', 100, 80, []],
      ],
    );
    const cursor = await readCursor(store, 'ingest-unlabeled');
    assert.equal(cursor?.skipped, 1);
    assert.equal(cursor?.lastKey, `${prefix}stray.jpg`, 'a skipped object is not listed again');
  } finally {
    await transport.close();
    await cleanup();
  }
});

test('labeled ingest without an annotation file fails at start', async () => {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  try {
    await assert.rejects(runIngestStage(context(testTopology({ ingest: { split: 'labeled' } }), store, transport)).done, /labeled split needs an annotations file/);
  } finally {
    await transport.close();
    await cleanup();
  }
});

test('watch mode publishes objects that appear later, until stopped', async () => {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  try {
    await putImages(store, ['a.jpg']);
    const controller = new AbortController();
    const topology = testTopology({ ingest: { watch: true, watchIntervalMs: 10 } });
    const stage = runIngestStage(context(topology, store, transport, controller.signal));
    await transport.waitUntil(() => transport.watermarks('test.images')[0]?.high === 1, { timeoutMs: 5000 });
    await putImages(store, ['b.jpg', 'c.jpg']);
    await transport.waitUntil(() => transport.watermarks('test.images')[0].high === 3, { timeoutMs: 5000 });
    controller.abort();
    const counters = await stage.done;
    assert.equal(counters.published, 3);

    // stop() works the same way as the signal.
    const again = runIngestStage(context(topology, store, transport));
    await putImages(store, ['d.jpg']);
    await transport.waitUntil(() => transport.watermarks('test.images')[0].high === 4, { timeoutMs: 5000 });
    await again.stop();
    assert.equal(again.counters.published, 1);
  } finally {
    await transport.close();
    await cleanup();
  }
});

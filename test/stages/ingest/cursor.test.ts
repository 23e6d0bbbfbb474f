// Tests for the ingest cursor object: round trip, absence, corrupt files, unsafe stage names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cursorKey, readCursor, writeCursor, type IngestCursor } from '../../../src/stages/ingest/cursor.ts';
import { tempStore } from './topology_fixture.ts';

const cursor: IngestCursor = { v: 1, stage: 'ingest-a', prefix: 'p/', split: 'unlabeled', lastKey: 'p/9.jpg', published: 9, skipped: 1, pages: 5, updatedAt: '2025-01-01T00:00:00.000Z' };

test('a written cursor reads back; no cursor reads as undefined', async () => {
  const { store, cleanup } = await tempStore();
  try {
    assert.equal(await readCursor(store, 'ingest-a'), undefined);
    await writeCursor(store, cursor);
    assert.equal(cursorKey('ingest-a'), 'state/ingest/ingest-a.json');
    assert.deepEqual(await readCursor(store, 'ingest-a'), cursor);
  } finally {
    await cleanup();
  }
});

test('a corrupt cursor is an error naming the file, not a silent restart', async () => {
  const { store, cleanup } = await tempStore();
  try {
    await store.put('state/ingest/x.json', 'nope');
    await assert.rejects(readCursor(store, 'x'), /state\/ingest\/x\.json: ingest cursor is not JSON/);
    await store.put('state/ingest/y.json', JSON.stringify({ ...cursor, published: -1 }));
    await assert.rejects(readCursor(store, 'y'), /invalid ingest cursor .*published/);
  } finally {
    await cleanup();
  }
});

test('a cursor key sits under the cursorPrefix; stage names and prefixes that cannot name one are refused', () => {
  assert.throws(() => cursorKey('a/b'), /cannot name a cursor object/);
  assert.throws(() => cursorKey(''), /cannot name a cursor object/);
  assert.equal(cursorKey('ingest-a', 'runs/r1/ingest/'), 'runs/r1/ingest/ingest-a.json');
  assert.throws(() => cursorKey('ingest-a', '/'), /cursorPrefix must name a store prefix/);
});

// Image arguments → sources (files, directories, store prefixes) and file name → COCO image id matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { imageIdMatcher, resolveLocation, resolveSources } from '../../src/detect/sources.ts';
import { LocalStore } from '../../src/io/local_store.ts';

test('files, directories (images only, sorted) and store prefixes expand in argument order', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-sources-'));
  try {
    await mkdir(path.join(dir, 'imgs', 'sub'), { recursive: true });
    for (const f of ['imgs/b.jpg', 'imgs/a.PNG', 'imgs/notes.txt', 'imgs/sub/c.webp', 'single.bin']) await writeFile(path.join(dir, f), 'x');
    const store = new LocalStore({ root: path.join(dir, 'bucket') });
    await store.put('corpus/test/images/1.jpg', 'x');
    await store.put('corpus/test/annotations.json', '{}');

    const sources = await resolveSources([path.join(dir, 'single.bin'), path.join(dir, 'imgs'), 'corpus/test/'], store);
    assert.deepEqual(
      sources.map((s) => [s.name, s.key]),
      [
        ['single.bin', 'single.bin'],
        ['a.PNG', 'a.PNG'],
        ['b.jpg', 'b.jpg'],
        ['sub/c.webp', 'sub/c.webp'],
        ['images/1.jpg', 'corpus/test/images/1.jpg'],
      ],
    );
    assert.equal(sources[4].store, store);
    await assert.rejects(resolveSources([path.join(dir, 'missing')], undefined), /no such file or directory \(pass --topology/);
    await assert.rejects(resolveSources(['corpus/none/'], store), /no image objects under this prefix/);
    await assert.rejects(resolveSources([path.join(dir, 'imgs', 'sub', '..', '..', 'bucket', 'corpus', 'test', 'images', 'x')], undefined), /no such file/);

    const local = await resolveLocation(path.join(dir, 'imgs'), undefined);
    assert.equal(local.prefix, '');
    assert.deepEqual(await resolveLocation('runs/x/student/', store), { store, prefix: 'runs/x/student' });
    await assert.rejects(resolveLocation('runs/x', undefined), /no such file or directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('image ids match by file_name, else by a unique base name', () => {
  const match = imageIdMatcher({
    images: [
      { id: 1, file_name: 'images/000001.jpg' },
      { id: 2, file_name: 'a/dup.jpg' },
      { id: 3, file_name: 'b/dup.jpg' },
      { id: 4 },
    ],
  });
  assert.equal(match('images/000001.jpg'), 1);
  assert.equal(match('000001.jpg'), 1);
  assert.equal(match('other/000001.jpg'), 1);
  assert.equal(match('b/dup.jpg'), 3);
  assert.equal(match('dup.jpg'), undefined, 'ambiguous base names do not guess');
  assert.equal(match('nothing.jpg'), undefined);
});

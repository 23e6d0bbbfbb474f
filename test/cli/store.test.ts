// `distillery store create-bucket|upload|ls` (src/cli/store.ts) in-process via main(), on a local directory and the real S3 server.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { contentTypeOf, formatBytes, listLocalFiles, uploadDirectory, uploadProgressReporter, type StoreCommandIo, type UploadProgress } from '../../src/cli/store.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import type { ObjectStore, PutOptions } from '../../src/io/object_store.ts';
import { cli, ok } from '../helpers/cli.ts';
import { emptyAndDeleteBucket, uniqueBucketName, useTestBucket } from '../helpers/s3.ts';

const STAGES = 'stages:\n  - { name: ingest, kind: ingest, options: { prefix: corpus/unlabeled/images/, split: unlabeled } }\n';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'distillery-store-cli-'));

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A dataset-like tree: COCO JSON at the top, images in a subfolder, a nested file two levels down. */
async function makeTree(name: string): Promise<{ dir: string; files: Record<string, Uint8Array> }> {
  const dir = path.join(tmp, name);
  const files: Record<string, Uint8Array> = {
    'annotations.json': new TextEncoder().encode(JSON.stringify({ images: [], annotations: [], categories: [{ id: 1, name: 'x' }] })),
    'images/1.jpg': Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256),
    'images/2.png': Uint8Array.from({ length: 120 }, (_, i) => (i * 13) % 256),
    'images/deeper/notes.txt': new TextEncoder().encode('nested'),
  };
  for (const [rel, bytes] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), bytes);
  }
  return { dir, files };
}

async function localTopology(name: string): Promise<{ file: string; root: string }> {
  const root = path.join(tmp, `${name}-store`);
  const file = path.join(tmp, `${name}.yaml`);
  await writeFile(file, `name: ${name}\nconfig:\n  store: { kind: local, root: ${JSON.stringify(root)} }\n${STAGES}`);
  return { file, root };
}

test('contentTypeOf knows the dataset and model file types, case-insensitively', () => {
  assert.equal(contentTypeOf('a/annotations.json'), 'application/json');
  assert.equal(contentTypeOf('x.JPG'), 'image/jpeg');
  assert.equal(contentTypeOf('x.jpeg'), 'image/jpeg');
  assert.equal(contentTypeOf('dir.png/y.png'), 'image/png');
  assert.equal(contentTypeOf('group1-shard1of1.bin'), undefined);
});

test('formatBytes uses decimal units', () => {
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(12.6), '13 B');
  assert.equal(formatBytes(1500), '1.5 kB');
  assert.equal(formatBytes(2_500_000), '2.5 MB');
});

test('listLocalFiles walks the tree with / separated relative paths and names a missing directory', async () => {
  const { dir, files } = await makeTree('walk');
  const listed = await listLocalFiles(dir);
  assert.deepEqual(listed.map((f) => f.relative), Object.keys(files).sort());
  assert.deepEqual(listed.map((f) => f.size), Object.keys(files).sort().map((k) => files[k].byteLength));
  await assert.rejects(listLocalFiles(path.join(tmp, 'absent')), /absent: no such directory/);
  await assert.rejects(listLocalFiles(path.join(dir, 'annotations.json')), /not a directory/);
});

test('uploadDirectory sets content types, reports progress per file, and stops at the first failure naming the file', async () => {
  const { dir, files } = await makeTree('types');
  const local = new LocalStore({ root: path.join(tmp, 'types-store') });
  const types = new Map<string, string | undefined>();
  const recording: ObjectStore = {
    get: (k) => local.get(k),
    head: (k) => local.head(k),
    list: (p, o) => local.list(p, o),
    delete: (k) => local.delete(k),
    describe: () => local.describe(),
    put: async (k: string, body: Uint8Array | string, options?: PutOptions) => {
      types.set(k, options?.contentType);
      await local.put(k, body, options);
    },
  };
  const progress: UploadProgress[] = [];
  const summary = await uploadDirectory(recording, dir, 'ds', { concurrency: 2, onProgress: (p) => progress.push(p) });
  const total = Object.values(files).reduce((s, b) => s + b.byteLength, 0);
  assert.deepEqual([summary.files, summary.uploaded, summary.skipped, summary.bytes], [4, 4, 0, total]);
  assert.deepEqual(Object.fromEntries(types), {
    'ds/annotations.json': 'application/json',
    'ds/images/1.jpg': 'image/jpeg',
    'ds/images/2.png': 'image/png',
    'ds/images/deeper/notes.txt': undefined,
  });
  assert.deepEqual(progress.map((p) => p.files), [1, 2, 3, 4]);
  assert.deepEqual(progress.at(-1), { files: 4, bytes: total, totalFiles: 4, totalBytes: total });

  const attempted: string[] = [];
  const failing: ObjectStore = {
    ...recording,
    put: async (k: string) => {
      attempted.push(k);
      if (k.endsWith('1.jpg')) throw new Error('disk on fire');
    },
  };
  await assert.rejects(uploadDirectory(failing, dir, 'ds', { concurrency: 1 }), /upload of images\/1\.jpg failed \(1 file\(s\) uploaded before\): disk on fire/);
  assert.deepEqual(attempted, ['ds/annotations.json', 'ds/images/1.jpg'], 'no new uploads start after a failure');
});

test('the progress log without a TTY is throttled; the summary is the caller\'s', () => {
  const lines: string[] = [];
  const io: StoreCommandIo = { stdout: { write: () => true }, stderr: { write: (t: string) => lines.push(t), isTTY: false } };
  const every = uploadProgressReporter(io, 0);
  every.update({ files: 1, bytes: 500, totalFiles: 2, totalBytes: 1000 });
  every.update({ files: 2, bytes: 1000, totalFiles: 2, totalBytes: 1000 });
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^upload: 1\/2 files, 500 B of 1\.0 kB \(50%\), \d+\.\d s\n$/);
  const throttled = uploadProgressReporter(io, 60_000);
  throttled.update({ files: 1, bytes: 500, totalFiles: 2, totalBytes: 1000 });
  assert.equal(lines.length, 2);
});

test('local store: create-bucket has nothing to do, upload writes <prefix>/<relative path>, ls lists with sizes and a total', async () => {
  const { file, root } = await localTopology('local');
  const created = ok(await cli('store', 'create-bucket', '--topology', file));
  assert.match(created.out, /is a local store: nothing to create/);

  const { dir, files } = await makeTree('local-tree');
  const up = ok(await cli('store', 'upload', dir, '/datasets/mine/', '--topology', file, '--concurrency', '3'));
  const total = Object.values(files).reduce((s, b) => s + b.byteLength, 0);
  assert.match(up.out, new RegExp(`uploaded 4 of 4 files \\(${formatBytes(total).replace('.', '\\.')}, ${total} bytes\\) to file://.*/datasets/mine/ in \\d+\\.\\d s`));
  assert.match(up.err, /upload: 4 files .* from .*local-tree to /);
  const store = new LocalStore({ root });
  for (const [rel, bytes] of Object.entries(files)) assert.deepEqual(await store.get(`datasets/mine/${rel}`), bytes, rel);

  const ls = ok(await cli('store', 'ls', 'datasets/mine/images/', '--topology', file));
  const lines = ls.out.trim().split('\n');
  assert.deepEqual(lines.slice(0, -1).map((l) => l.trim().split(/\s+/)), [
    ['300', 'datasets/mine/images/1.jpg'],
    ['120', 'datasets/mine/images/2.png'],
    ['6', 'datasets/mine/images/deeper/notes.txt'],
  ]);
  assert.match(lines.at(-1) ?? '', /^3 objects, 426 B \(426 bytes\) under file:\/\/.*\/datasets\/mine\/images\/$/);

  const limited = ok(await cli('store', 'ls', 'datasets/', '--limit', '2', '--topology', file));
  assert.equal(limited.out.trim().split('\n').length, 3);
  assert.match(limited.out, /2 objects, .* stopped at --limit 2, more follow/);
  assert.match(ok(await cli('store', 'ls', 'nothing/', '--topology', file)).out, /^no objects under /);

  // --set overrides the store like every other command.
  const other = path.join(tmp, 'other-root');
  ok(await cli('store', 'upload', dir, 'x', '--topology', file, '--set', `config.store.root=${other}`));
  assert.ok(await new LocalStore({ root: other }).head('x/images/deeper/notes.txt'));
});

test('local store: --skip-existing skips keys of the same size and re-uploads changed ones', async () => {
  const { file, root } = await localTopology('skip');
  const { dir } = await makeTree('skip-tree');
  ok(await cli('store', 'upload', dir, 'p', '--topology', file));
  const again = ok(await cli('store', 'upload', dir, 'p', '--topology', file, '--skip-existing'));
  assert.match(again.out, /uploaded 0 of 4 files .*; skipped 4 already present/);
  await writeFile(path.join(dir, 'images', '2.png'), new Uint8Array(121).fill(9));
  const changed = ok(await cli('store', 'upload', dir, 'p', '--topology', file, '--skip-existing'));
  assert.match(changed.out, /uploaded 1 of 4 files \(121 B, 121 bytes\).*; skipped 3 already present/);
  assert.deepEqual(await new LocalStore({ root }).get('p/images/2.png'), new Uint8Array(121).fill(9));
});

test('upload errors are one line with a non-zero exit: missing directory, bad concurrency, missing topology', async () => {
  const { file } = await localTopology('errors');
  const missing = await cli('store', 'upload', path.join(tmp, 'no-such-dir'), 'p', '--topology', file);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^distillery: .*no-such-dir: no such directory\n$/);
  const empty = path.join(tmp, 'empty-dir');
  await mkdir(empty);
  assert.match((await cli('store', 'upload', empty, 'p', '--topology', file)).err, /empty-dir: no files to upload/);
  const bad = await cli('store', 'upload', empty, 'p', '--concurrency', '0', '--topology', file);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /expected a positive integer/);
  const noTopology = await cli('store', 'ls', '--topology', path.join(tmp, 'absent.yaml'));
  assert.equal(noTopology.code, 1);
  assert.match(noTopology.err, /absent\.yaml.*no such file/);
});

s3Tests();

/** The same commands against the real S3 server (versitygw from scripts/services), on a bucket of this file's own. */
function s3Tests(): void {
  const bucket = useTestBucket();
  const topology = path.join(tmp, 's3.yaml');
  let written: Promise<void> | undefined;
  /** The topology file naming the test bucket (known once the bucket hook has run). */
  const s3Topology = async (): Promise<string> => {
    written ??= writeFile(topology, `name: s3\nconfig:\n  store: { kind: s3, bucket: ${bucket.name}, endpoint: '\${S3_ENDPOINT}' }\n${STAGES}`);
    await written;
    return topology;
  };

  test('s3: create-bucket creates a missing bucket once, then reports it exists', async () => {
    await s3Topology();
    const fresh = uniqueBucketName();
    try {
      const first = ok(await cli('store', 'create-bucket', '--topology', topology, '--set', `config.store.bucket=${fresh}`));
      assert.match(first.out, new RegExp(`^created bucket ${fresh} at http://.*/${fresh}\\n$`));
      const second = ok(await cli('store', 'create-bucket', '--topology', topology, '--set', `config.store.bucket=${fresh}`));
      assert.match(second.out, new RegExp(`^bucket ${fresh} already exists`));
      assert.match(ok(await cli('store', 'ls', '--topology', topology, '--set', `config.store.bucket=${fresh}`)).out, /^no objects under/);
    } finally {
      await emptyAndDeleteBucket(bucket.store().client, fresh);
    }
  });

  test('s3: upload to a missing bucket fails once with the command that creates it', async () => {
    await s3Topology();
    const absent = uniqueBucketName();
    const { dir } = await makeTree('s3-absent-tree');
    const result = await cli('store', 'upload', dir, 'p', '--topology', topology, '--set', `config.store.bucket=${absent}`);
    assert.equal(result.code, 1);
    assert.match(result.err, new RegExp(`bucket ${absent} does not exist at .*; create it with: distillery store create-bucket --topology .*s3\\.yaml --set config\\.store\\.bucket=${absent}\\n$`));
  });

  test('s3: upload a nested tree, list it, and skip what is already there', async () => {
    await s3Topology();
    const { dir, files } = await makeTree('s3-tree');
    const up = ok(await cli('store', 'upload', dir, 'datasets/coco', '--topology', topology));
    assert.match(up.out, new RegExp(`uploaded 4 of 4 files .* to http://.*/${bucket.name}/datasets/coco/ in`));
    const store = bucket.store();
    for (const [rel, bytes] of Object.entries(files)) assert.deepEqual(await store.get(`datasets/coco/${rel}`), bytes, rel);

    const ls = ok(await cli('store', 'ls', 'datasets/coco/', '--topology', topology));
    const keys = ls.out.trim().split('\n').slice(0, -1).map((l) => l.trim().split(/\s+/)[1]);
    assert.deepEqual(keys, Object.keys(files).sort().map((k) => `datasets/coco/${k}`));
    assert.match(ls.out, /4 objects, .*\(\d+ bytes\) under http:\/\/.*\/datasets\/coco\/\n$/);

    const skipped = ok(await cli('store', 'upload', dir, 'datasets/coco', '--topology', topology, '--skip-existing'));
    assert.match(skipped.out, /uploaded 0 of 4 files .*; skipped 4 already present/);
    await writeFile(path.join(dir, 'annotations.json'), '{"images":[],"annotations":[],"categories":[]}');
    const changed = ok(await cli('store', 'upload', dir, 'datasets/coco', '--topology', topology, '--skip-existing', '--concurrency', '2'));
    assert.match(changed.out, /uploaded 1 of 4 files .*; skipped 3 already present/);
    assert.equal(new TextDecoder().decode(await store.get('datasets/coco/annotations.json')), '{"images":[],"annotations":[],"categories":[]}');
  });

  test('s3: corpus generate --topology lands corpus/manifest.json and the splits in the bucket; a rerun is up to date', async () => {
    await s3Topology();
    const args = ['corpus', 'generate', '--topology', topology, '--labeled', '2', '--test', '2', '--unlabeled', '3', '--workers', '0'];
    const gen = ok(await cli(...args));
    assert.match(gen.out, /generated in \d+\.\d s/);
    const store = bucket.store();
    const manifest = JSON.parse(new TextDecoder().decode(await store.get('corpus/manifest.json'))) as { splits: Record<string, { images: number }> };
    assert.deepEqual([manifest.splits.labeled.images, manifest.splits.test.images, manifest.splits.unlabeled.images], [2, 2, 3]);
    assert.ok(await store.head('corpus/labeled/annotations.json'));
    assert.ok(await store.head('corpus/test/annotations.json'));
    assert.equal((await store.list('corpus/unlabeled/images/')).objects.length, 3);
    assert.match(ok(await cli(...args)).out, new RegExp(`corpus at http://.*/${bucket.name}/corpus is up to date`));
  });
}

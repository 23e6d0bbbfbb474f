import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { LocalStore } from '../../src/io/local_store.ts';
import { ObjectNotFoundError, listAll } from '../../src/io/object_store.ts';
import { openStore } from '../../src/io/open_store.ts';
import { MIN_PART_SIZE, S3Store, S3StoreError, resolveS3StoreOptions } from '../../src/io/s3_store.ts';
import { buildDetector, forward } from '../../src/model/detector.ts';
import { resolveDetectorConfig } from '../../src/model/detector_config.ts';
import { loadDetector, saveDetector } from '../../src/model/store_io.ts';
import { emptyAndDeleteBucket, startFaultProxy, uniqueBucketName, useTestBucket, type FaultProxy } from '../helpers/s3.ts';

const bucket = useTestBucket();

async function withProxy(fn: (proxy: FaultProxy) => Promise<void>): Promise<void> {
  const proxy = await startFaultProxy(bucket.env.endpoint);
  try {
    await fn(proxy);
  } finally {
    await proxy.close();
  }
}

const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('hex');

test('put/get/head/delete round trip, binary and string', async () => {
  const store = bucket.store();
  const binary = new Uint8Array([0, 1, 2, 255, 254, 0, 128]);
  await store.put('rt/a/b/c.bin', binary);
  assert.deepEqual(await store.get('rt/a/b/c.bin'), binary);
  const info = await store.head('rt/a/b/c.bin');
  assert.equal(info?.key, 'rt/a/b/c.bin');
  assert.equal(info?.size, binary.length);
  assert.ok(info?.lastModified instanceof Date && info.lastModified.getTime() > Date.now() - 3_600_000);
  await store.put('rt/a/b/c.bin', 'héllo ✓');
  const after = await store.head('rt/a/b/c.bin');
  assert.notEqual(after?.etag, info?.etag, 'etag changes with the bytes');
  assert.equal(after?.size, new TextEncoder().encode('héllo ✓').length);
  assert.equal(new TextDecoder().decode(await store.get('rt/a/b/c.bin')), 'héllo ✓');
  await store.put('rt/empty', new Uint8Array(0));
  assert.equal((await store.get('rt/empty')).length, 0);
  await store.delete('rt/a/b/c.bin');
  assert.equal(await store.head('rt/a/b/c.bin'), undefined);
  await store.delete('rt/a/b/c.bin'); // deleting a missing key is not an error

  // The compatibility mode for servers that reject the SDK's default checksum headers reads the same bytes.
  const plain = bucket.store({ checksums: 'when-required' });
  await plain.put('rt/plain.bin', binary);
  assert.deepEqual(await plain.get('rt/plain.bin'), binary);
  assert.deepEqual(await store.get('rt/plain.bin'), binary);
});

test('contentType is stored with the object', async () => {
  const store = bucket.store();
  await store.put('ct/model.json', '{"a":1}', { contentType: 'application/json' });
  const out = await store.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'ct/model.json' }));
  assert.equal(out.ContentType, 'application/json');
});

test('missing keys: head gives undefined, get throws ObjectNotFoundError', async () => {
  const store = bucket.store();
  assert.equal(await store.head('missing/nope'), undefined);
  await assert.rejects(store.get('missing/nope'), (err: unknown) => {
    assert.ok(err instanceof ObjectNotFoundError);
    assert.equal(err.key, 'missing/nope');
    assert.equal(err.store, store.describe());
    return true;
  });
  await assert.rejects(store.get(''), /invalid object key/);
});

test('a missing bucket is an error, not an empty listing or a missing object', async () => {
  const store = bucket.store({ bucket: uniqueBucketName('distillery-absent') });
  await assert.rejects(store.list(''), (err: unknown) => err instanceof S3StoreError && err.code === 'NoSuchBucket' && err.operation === 'list' && !err.retriable);
  await assert.rejects(store.get('x'), (err: unknown) => err instanceof S3StoreError && !(err instanceof ObjectNotFoundError) && /NoSuchBucket/.test(err.message));
  // HEAD's 404 has no body; the store checks what is missing before answering "no such key".
  await assert.rejects(store.head('x'), (err: unknown) => err instanceof S3StoreError && err.code === 'NoSuchBucket' && err.operation === 'head');
});

test('list paginates in key order (maxKeys 2 over 7 keys), resumes after a key, and listAll follows the pages', async () => {
  const store = bucket.store();
  const keys = [0, 1, 2, 3, 4, 5, 6].map((i) => `img/${i}.jpg`);
  await Promise.all(keys.map((k, i) => store.put(k, `x${i}`)));
  await store.put('other/z', 'z');
  await store.put('imgz', 'not under img/');

  const pages: string[][] = [];
  let token: string | undefined;
  do {
    const page = await store.list('img/', { maxKeys: 2, continuationToken: token });
    pages.push(page.objects.map((o) => o.key));
    token = page.nextToken;
  } while (token !== undefined);
  assert.deepEqual(pages, [keys.slice(0, 2), keys.slice(2, 4), keys.slice(4, 6), keys.slice(6)]);

  const first = await store.list('img/', { maxKeys: 3 });
  assert.deepEqual(first.objects.map((o) => o.key), keys.slice(0, 3));
  assert.equal(first.objects[1].size, 2);
  assert.ok(first.objects[1].etag.length > 0 && !first.objects[1].etag.includes('"'), 'etags come unquoted');
  assert.ok(first.nextToken);

  const all: string[] = [];
  for await (const o of listAll(store, 'img/', { maxKeys: 2 })) all.push(o.key);
  assert.deepEqual(all, keys);

  const resumed = await store.list('img/', { startAfter: 'img/4.jpg' });
  assert.deepEqual(resumed.objects.map((o) => o.key), ['img/5.jpg', 'img/6.jpg']);
  assert.equal(resumed.nextToken, undefined);
  const resumedAll: string[] = [];
  for await (const o of listAll(store, 'img/', { startAfter: 'img/2.jpg', maxKeys: 2 })) resumedAll.push(o.key);
  assert.deepEqual(resumedAll, keys.slice(3));

  assert.deepEqual((await store.list('nothing-here/')).objects, []);
  assert.equal((await store.list('nothing-here/')).nextToken, undefined);
});

test('nested prefixes list everything below them, and only that', async () => {
  const store = bucket.store();
  for (const k of ['nest/a/1', 'nest/a/b/2', 'nest/a/b/c/3', 'nest/ab', 'nest/b/4']) await store.put(k, k);
  const under = async (prefix: string): Promise<string[]> => {
    const out: string[] = [];
    for await (const o of listAll(store, prefix)) out.push(o.key);
    return out;
  };
  assert.deepEqual(await under('nest/a/'), ['nest/a/1', 'nest/a/b/2', 'nest/a/b/c/3']);
  assert.deepEqual(await under('nest/a/b/'), ['nest/a/b/2', 'nest/a/b/c/3']);
  assert.deepEqual(await under('nest/a'), ['nest/a/1', 'nest/a/b/2', 'nest/a/b/c/3', 'nest/ab']);
  assert.deepEqual(await under('nest/'), ['nest/a/1', 'nest/a/b/2', 'nest/a/b/c/3', 'nest/ab', 'nest/b/4']);
});

test('a body above the threshold goes up as a multipart upload, parts bounded by maxConcurrency', () =>
  withProxy(async (proxy) => {
    // 11 MiB in 5 MiB parts = 3 parts; the upload queue would run 4 at once, the store allows 2.
    const store = bucket.store({ endpoint: proxy.endpoint, multipartThreshold: MIN_PART_SIZE, partSize: MIN_PART_SIZE, uploadQueueSize: 4, maxConcurrency: 2 });
    const body = new Uint8Array(randomBytes(11 * 1024 * 1024));
    await store.put('big/blob.bin', body, { contentType: 'application/octet-stream' });
    const partUploads = proxy.requests.filter((r) => r.method === 'PUT' && /[?&]partNumber=/.test(r.url));
    assert.equal(partUploads.length, 3);
    assert.ok(proxy.requests.some((r) => r.method === 'POST' && /[?&]uploads/.test(r.url)), 'CreateMultipartUpload sent');
    assert.ok(proxy.peakInFlight <= 2, `peak in flight ${proxy.peakInFlight} > 2`);
    assert.equal((await store.head('big/blob.bin'))?.size, body.length);
    assert.equal(md5(await store.get('big/blob.bin')), md5(body));

    proxy.reset();
    const small = new Uint8Array(randomBytes(MIN_PART_SIZE)); // at the threshold: one PutObject
    await store.put('big/small.bin', small);
    assert.deepEqual(proxy.requests.map((r) => r.method), ['PUT']);
    assert.ok(!/partNumber|uploadId/.test(proxy.requests[0].url));
    assert.equal(md5(await store.get('big/small.bin')), md5(small));
  }));

test('requests in flight never exceed maxConcurrency (gets hold their slot until the body is read)', () =>
  withProxy(async (proxy) => {
    const store = bucket.store({ endpoint: proxy.endpoint, maxConcurrency: 3 });
    const keys = Array.from({ length: 12 }, (_, i) => `conc/${String(i).padStart(2, '0')}`);
    const payload = new Uint8Array(randomBytes(256 * 1024));
    await Promise.all(keys.map((k) => store.put(k, payload)));
    assert.equal(proxy.peakInFlight, 3, `puts: peak in flight ${proxy.peakInFlight}, expected exactly 3`);
    proxy.reset();
    const results = await Promise.all([
      ...keys.map((k) => store.get(k)),
      ...keys.map((k) => store.head(k)),
      store.list('conc/', { maxKeys: 5 }),
      store.delete('conc/absent'),
    ]);
    assert.equal(proxy.requests.length, 2 * keys.length + 2);
    assert.equal(proxy.peakInFlight, 3, `peak in flight ${proxy.peakInFlight}`);
    for (const bytes of results.slice(0, keys.length)) assert.equal(md5(bytes as Uint8Array), md5(payload));
  }));

test('throttling and 5xx are retried with backoff; a dropped body is re-fetched; 4xx is not retried', () =>
  withProxy(async (proxy) => {
    const store = bucket.store({ endpoint: proxy.endpoint, maxAttempts: 3, retryMode: 'standard' });
    await store.put('retry/obj', 'payload-123');

    proxy.reset();
    // One throttle (the SDK backs off from 500 ms for those) and one transient 5xx (from 100 ms).
    const faults = [
      { kind: 'error', status: 503, code: 'SlowDown' },
      { kind: 'error', status: 502, code: 'BadGateway' },
    ] as const;
    proxy.setFaults((_, i) => faults[i] ?? { kind: 'pass' });
    assert.equal(new TextDecoder().decode(await store.get('retry/obj')), 'payload-123');
    assert.equal(proxy.requests.length, 3, 'a throttled and a failed attempt, then success');

    proxy.reset();
    proxy.setFaults((_, i) => (i === 0 ? { kind: 'cut-body' } : { kind: 'pass' }));
    assert.equal(new TextDecoder().decode(await store.get('retry/obj')), 'payload-123');
    assert.equal(proxy.requests.length, 2, 'the cut body was fetched again');

    proxy.reset();
    proxy.setFaults(() => ({ kind: 'reset' }));
    await assert.rejects(store.get('retry/obj'), (err: unknown) => err instanceof S3StoreError && err.retriable && !(err instanceof ObjectNotFoundError));
    assert.equal(proxy.requests.length, 3, 'connection resets: maxAttempts tries in all (the body retry does not multiply them)');

    proxy.reset();
    proxy.setFaults(() => ({ kind: 'error', status: 500, code: 'InternalError' }));
    await assert.rejects(store.put('retry/other', 'x'), (err: unknown) => {
      assert.ok(err instanceof S3StoreError);
      assert.equal(err.statusCode, 500);
      assert.equal(err.retriable, true);
      assert.match(err.message, /^S3 put .*\/retry\/other failed: InternalError \(HTTP 500\)/);
      return true;
    });
    assert.equal(proxy.requests.length, 3, 'maxAttempts tries, then give up');

    proxy.reset();
    proxy.setFaults(() => ({ kind: 'error', status: 403, code: 'AccessDenied' }));
    await assert.rejects(store.head('retry/obj'), (err: unknown) => err instanceof S3StoreError && !err.retriable && err.statusCode === 403);
    assert.equal(proxy.requests.length, 1, 'a 403 is not retried');
  }));

test('wrong credentials fail with a clear error that contains no secret', async () => {
  const { env } = bucket;
  const wrongSecret = `wrong-${randomBytes(12).toString('hex')}`;
  const cases = [
    { accessKeyId: env.accessKeyId, secretAccessKey: wrongSecret },
    { accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: wrongSecret },
  ];
  for (const credentials of cases) {
    const store = bucket.store({ credentials, maxAttempts: 2 });
    const err = await store.put('creds/x', 'y').then(
      () => assert.fail('a put with wrong credentials succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof S3StoreError, `got ${String(err)}`);
    assert.equal(err.retriable, false);
    // AWS: 403 InvalidAccessKeyId / SignatureDoesNotMatch. versitygw: 404 XAdminUserNotFound for an unknown key.
    assert.ok(err.statusCode === 403 || err.statusCode === 404, `status ${err.statusCode}`);
    assert.match(err.message, /^S3 put .*\/creds\/x failed: \w+ \(HTTP 40[34]\): .*Check the credentials/);
    const everything = [err.message, err.stack ?? '', inspect(err, { depth: 10, showHidden: true }), JSON.stringify(err)].join('\n');
    assert.ok(!everything.includes(wrongSecret), 'the secret in use does not leak');
    assert.ok(!everything.includes(env.secretAccessKey), 'the real secret does not leak');
    // Reads must not mistake an auth failure for a missing object.
    const fresh = bucket.store({ credentials, maxAttempts: 1 });
    await assert.rejects(fresh.head('creds/x'), (e: unknown) => e instanceof S3StoreError && e.operation === 'head' && /Check the credentials/.test(e.message));
    await assert.rejects(fresh.get('creds/x'), (e: unknown) => e instanceof S3StoreError && !(e instanceof ObjectNotFoundError));
  }
});

test('describe() names bucket and endpoint host, never credentials', () => {
  const { env } = bucket;
  const store = bucket.store();
  const endpoint = new URL(env.endpoint);
  assert.equal(store.describe(), `${endpoint.protocol}//${endpoint.host}/${bucket.name}`);
  assert.ok(!store.describe().includes(env.secretAccessKey) && !store.describe().includes(env.accessKeyId));
  const withUserInfo = new S3Store({ bucket: 'b-1', region: 'us-east-1', endpoint: 'http://user:hunter2@minio.local:9000', credentials: { accessKeyId: 'AK', secretAccessKey: 'SECRETSECRET' } });
  assert.equal(withUserInfo.describe(), 'http://minio.local:9000/b-1');
  withUserInfo.close();
  const aws = new S3Store({ bucket: 'b-2', region: 'eu-west-1' });
  assert.equal(aws.describe(), 's3://b-2');
  assert.equal(aws.options.forcePathStyle, false);
  aws.close();
  const virtualHost = new S3Store({ bucket: 'b-3', region: 'us-east-1', endpoint: 'https://s3.example.com', forcePathStyle: false });
  assert.equal(virtualHost.describe(), 'https://b-3.s3.example.com');
  virtualHost.close();
});

test('options: defaults resolved, impossible settings refused at construction', () => {
  const resolved = resolveS3StoreOptions({ bucket: 'b-1', region: 'us-east-1', endpoint: 'http://127.0.0.1:7070' });
  assert.equal(resolved.forcePathStyle, true, 'a custom endpoint defaults to path-style');
  assert.equal(resolved.maxConcurrency, 16);
  assert.equal(resolved.multipartThreshold, 8 * 1024 * 1024);
  assert.equal(resolveS3StoreOptions({ bucket: 'b', region: 'r', endpoint: '' }).endpoint, undefined);
  assert.throws(() => resolveS3StoreOptions({ bucket: 'b', region: 'r', partSize: 1024 }), /partSize must be ≥/);
  assert.throws(() => resolveS3StoreOptions({ bucket: 'b', region: 'r', maxConcurrency: 0 }), /maxConcurrency/);
  assert.throws(() => resolveS3StoreOptions({ bucket: 'b', region: 'r', partSize: 6 * 1024 * 1024, multipartThreshold: MIN_PART_SIZE }), /multipartThreshold/);
  assert.throws(() => resolveS3StoreOptions({ bucket: 'b', region: 'r', endpoint: 'ftp://u:pw@x' }), (err: unknown) => err instanceof Error && !err.message.includes('pw'));
});

test('ensureBucket creates a missing bucket once and accepts an existing one', async () => {
  const name = uniqueBucketName();
  const store = bucket.store({ bucket: name });
  try {
    assert.equal(await store.ensureBucket(), true);
    assert.equal(await store.ensureBucket(), false);
    await store.put('k', 'v');
    assert.equal(new TextDecoder().decode(await store.get('k')), 'v');
  } finally {
    await emptyAndDeleteBucket(store.client, name);
  }
  assert.equal(await bucket.store().ensureBucket(), false);
});

test('openStore gives a LocalStore for local configs and an S3Store for s3 configs', async () => {
  const local = openStore({ kind: 'local', root: 'data/some-store' });
  assert.ok(local instanceof LocalStore);
  assert.equal(local.root, new LocalStore({ root: 'data/some-store' }).root, 'relative roots resolve as before');

  const { env } = bucket;
  const s3 = openStore({ kind: 's3', bucket: bucket.name, endpoint: env.endpoint, region: env.region, forcePathStyle: true }, { s3: { maxConcurrency: 4 } });
  try {
    assert.ok(s3 instanceof S3Store);
    assert.equal(s3.options.maxConcurrency, 4);
    await s3.put('open/x', 'via openStore');
    assert.equal(new TextDecoder().decode(await bucket.store().get('open/x')), 'via openStore');
  } finally {
    s3.close();
  }
});

test('a student checkpoint saved with saveDetector loads back from S3 with the same outputs', async () => {
  const store = bucket.store();
  const detector = buildDetector(resolveDetectorConfig({ inputSize: 64, numClasses: 3, name: 'unit-student' }, 'student'));
  await saveDetector(detector, store, 'ckpt/step-7', { step: 7 });
  const keys: string[] = [];
  for await (const o of listAll(store, 'ckpt/step-7/')) keys.push(o.key);
  assert.deepEqual(keys, ['ckpt/step-7/group1-shard1of1.bin', 'ckpt/step-7/model.json']);

  const loaded = await loadDetector(store, 'ckpt/step-7');
  assert.deepEqual(loaded.config, detector.config);
  assert.equal(loaded.metadata.step, 7);
  const x = tf.randomNormal([2, 64, 64, 3]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const diff = tf.tidy(() => {
    const a = forward(detector, x);
    const b = forward(loaded, x);
    return tf.maximum(tf.abs(a.classLogits.sub(b.classLogits)).max(), tf.abs(a.boxDeltas.sub(b.boxDeltas)).max());
  });
  assert.equal((await diff.data())[0], 0);
  diff.dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  detector.model.dispose();
  loaded.model.dispose();
  await assert.rejects(loadDetector(store, 'ckpt/absent'), ObjectNotFoundError);
});

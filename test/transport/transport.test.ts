import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryTransport } from '../../src/transport/memory.ts';
import {
  TransportError,
  TransportTimeoutError,
  groupLag,
  murmur2,
  nextOffset,
  parseOffset,
  partitionForKey,
  waitForMessages,
} from '../../src/transport/transport.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

test('murmur2 matches the Java client (Kafka UtilsTest.testMurmur2 vectors)', () => {
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [input, expected] of vectors) assert.equal(murmur2(utf8(input)), expected, input);
});

test('partitionForKey is toPositive(murmur2) % n, stable and in range', () => {
  // Java: toPositive(-973932308) = -973932308 & 0x7fffffff = 1173551340.
  assert.equal(partitionForKey('21', 1000), 1173551340 % 1000);
  for (let i = 0; i < 200; i++) {
    const key = `images/${i}.jpg`;
    const p = partitionForKey(key, 7);
    assert.ok(p >= 0 && p < 7);
    assert.equal(partitionForKey(key, 7), p);
  }
  // Spreads keys: every one of 7 partitions gets some of 200 keys.
  const used = new Set(Array.from({ length: 200 }, (_, i) => partitionForKey(`k${i}`, 7)));
  assert.equal(used.size, 7);
  assert.throws(() => partitionForKey('x', 0), TransportError);
});

test('offsets are non-negative decimal strings', () => {
  assert.equal(parseOffset('0'), 0);
  assert.equal(parseOffset('12345'), 12345);
  assert.equal(nextOffset('41'), '42');
  for (const bad of ['-1', '01', '1.5', '', ' 1', 'abc', '1e3', '99999999999999999999']) {
    assert.throws(() => parseOffset(bad), TransportError, bad);
  }
});

test('groupLag combines watermarks and commits', async () => {
  const transport = new MemoryTransport();
  await transport.createTopics([{ topic: 't', partitions: 2 }]);
  const producer = transport.producer();
  await producer.connect();
  await producer.send('t', [0, 0, 0, 1, 1].map((partition, i) => ({ key: `k${i}`, value: utf8('x'), partition })));
  await transport.setGroupOffsets('g', 't', [{ partition: 0, offset: '2' }]);
  const lag = await groupLag(transport, 'g', 't');
  assert.deepEqual(
    lag.partitions.map((p) => [p.partition, p.high, p.committed, p.lag]),
    [
      [0, 3, 2, 1],
      [1, 2, undefined, 2],
    ],
  );
  assert.equal(lag.total, 3);
  await transport.close();
});

test('waitForMessages reads with a fresh group and times out with a count', { timeout: 30_000 }, async () => {
  const transport = new MemoryTransport();
  await transport.createTopics([{ topic: 't', partitions: 3 }]);
  const producer = transport.producer();
  await producer.connect();
  await producer.send('t', Array.from({ length: 9 }, (_, i) => ({ key: `k${i}`, value: utf8(`v${i}`) })));

  const first = await waitForMessages(transport, 't', 9);
  assert.deepEqual(first.map((m) => new TextDecoder().decode(m.value)).sort(), Array.from({ length: 9 }, (_, i) => `v${i}`).sort());
  for (const m of first) assert.equal(m.partition, partitionForKey(m.key, 3));
  // A second call sees the same messages: its group is new, and the helper commits nothing.
  assert.equal((await waitForMessages(transport, 't', 9)).length, 9);

  // A wait that ignored its timeout would hang here until the test's own timeout fails it.
  await assert.rejects(waitForMessages(transport, 't', 10, { timeoutMs: 100 }), (err: unknown) => {
    assert.ok(err instanceof TransportTimeoutError);
    assert.match(err.message, /got 9 of 10/);
    return true;
  });

  // Later messages arrive while waiting.
  const waiting = waitForMessages(transport, 't', 11, { timeoutMs: 2000 });
  await producer.send('t', [{ key: 'late1', value: utf8('l1') }, { key: 'late2', value: utf8('l2') }]);
  assert.equal((await waiting).length, 11);
  await transport.close();
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryTransport, type MemoryConsumer } from '../../src/transport/memory.ts';
import {
  NotAssignedError,
  TransportClosedError,
  TransportError,
  TransportTimeoutError,
  UnknownTopicError,
  partitionForKey,
  type EachBatchPayload,
  type OutgoingMessage,
  type RunOptions,
} from '../../src/transport/transport.ts';
import { gate, msgs, text, utf8, type Seen } from '../helpers/transport_fixtures.ts';


async function setup(partitions = 4, topic = 't'): Promise<MemoryTransport> {
  const transport = new MemoryTransport();
  await transport.createTopics([{ topic, partitions }]);
  return transport;
}

async function produce(transport: MemoryTransport, topic: string, messages: OutgoingMessage[]): Promise<void> {
  const producer = transport.producer();
  await producer.connect();
  await producer.send(topic, messages);
  await producer.disconnect();
}

/** Starts a consumer that records what it sees; `handler` runs after recording. */
async function startConsumer(
  transport: MemoryTransport,
  groupId: string,
  options: Partial<RunOptions> & { topics?: string[]; fromBeginning?: boolean; handler?: (p: EachBatchPayload) => Promise<void> } = {},
): Promise<{ consumer: MemoryConsumer; seen: Seen[]; running: Promise<void> }> {
  const consumer = transport.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topics: options.topics ?? ['t'], fromBeginning: options.fromBeginning ?? true });
  const seen: Seen[] = [];
  const running = consumer.run({
    maxBatchSize: options.maxBatchSize,
    maxInFlightBatches: options.maxInFlightBatches,
    eachBatchAutoResolve: options.eachBatchAutoResolve,
    exactlyOnce: options.exactlyOnce,
    eachBatch: async (payload) => {
      for (const m of payload.batch.messages) {
        seen.push({ topic: payload.batch.topic, partition: payload.batch.partition, offset: Number(m.offset), key: m.key, value: text(m.value) });
      }
      await options.handler?.(payload);
    },
  });
  return { consumer, seen, running };
}

test('createTopics is idempotent and refuses a different partition count', async () => {
  const transport = new MemoryTransport();
  assert.equal(await transport.createTopics([{ topic: 'a', partitions: 2 }]), true);
  assert.equal(await transport.createTopics([{ topic: 'a', partitions: 2 }]), false);
  await assert.rejects(transport.createTopics([{ topic: 'a', partitions: 3 }]), /exists with 2 partitions/);
  await assert.rejects(transport.createTopics([{ topic: 'b', partitions: 0 }]), /positive integer/);
  assert.deepEqual(await transport.topicOffsets('a'), [
    { partition: 0, low: '0', high: '0' },
    { partition: 1, low: '0', high: '0' },
  ]);
  await assert.rejects(transport.topicOffsets('nope'), UnknownTopicError);
  await transport.close();
});

test('send: acks with base offsets, routes by key hash or explicit partition, validates before appending', async () => {
  const transport = await setup(4);
  const producer = transport.producer();
  await assert.rejects(producer.send('t', msgs(1)), /not connected/);
  await producer.connect();
  await assert.rejects(producer.send('nope', msgs(1)), UnknownTopicError);

  const meta = await producer.send('t', [...msgs(6), { key: 'x', value: utf8('explicit'), partition: 3 }]);
  const watermarks = await transport.topicOffsets('t');
  assert.equal(
    watermarks.reduce((s, w) => s + Number(w.high), 0),
    7,
  );
  for (const m of meta) assert.equal(m.baseOffset, '0');
  const second = await producer.send('t', [{ key: 'x', value: utf8('again'), partition: 3 }]);
  assert.deepEqual(second, [{ topic: 't', partition: 3, baseOffset: watermarks[3].high }]);

  // One bad message rejects the whole request: nothing of it is appended.
  const before = JSON.stringify(await transport.topicOffsets('t'));
  await assert.rejects(producer.send('t', [...msgs(3), { key: 'bad', value: utf8('x'), partition: 9 }]), /partition 9 out of range/);
  await assert.rejects(producer.send('t', [{ key: 'bad', value: 'str' as unknown as Uint8Array }]), /value must be a Uint8Array/);
  assert.equal(JSON.stringify(await transport.topicOffsets('t')), before);
  await transport.close();
});

test('per-partition order and key → partition stability', async () => {
  const transport = await setup(4);
  // 10 keys × 20 messages each, sent in several requests.
  for (let round = 0; round < 4; round++) await produce(transport, 't', msgs(50, 'k', 10).map((m, i) => ({ ...m, value: utf8(`${m.key}:${round * 50 + i}`) })));
  const { consumer, seen } = await startConsumer(transport, 'g', { maxBatchSize: 7 });
  await transport.waitUntil(() => seen.length === 200, { timeoutMs: 2000 });
  await consumer.stop();

  for (const s of seen) assert.equal(s.partition, partitionForKey(s.key, 4), `key ${s.key}`);
  for (let p = 0; p < 4; p++) {
    const offsets = seen.filter((s) => s.partition === p).map((s) => s.offset);
    assert.deepEqual(offsets, offsets.map((_, i) => i), `partition ${p} offsets`);
  }
  for (let k = 0; k < 10; k++) {
    const sequence = seen.filter((s) => s.key === `k${k}`).map((s) => Number(s.value.split(':')[1]));
    assert.equal(sequence.length, 20);
    assert.deepEqual(sequence, [...sequence].sort((a, b) => a - b), `key k${k} in send order`);
  }
  await transport.close();
});

test('consumed values are copies: a producer reusing its buffer changes nothing', async () => {
  const transport = await setup(1);
  const buffer = utf8('original');
  await produce(transport, 't', [{ key: 'k', value: buffer }]);
  buffer.fill(0);
  const { consumer, seen } = await startConsumer(transport, 'g', {
    handler: async ({ batch }) => {
      batch.messages[0].value.fill(1);
    },
  });
  await transport.waitUntil(() => seen.length === 1);
  const again = await startConsumer(transport, 'other');
  await transport.waitUntil(() => again.seen.length === 1);
  assert.equal(seen[0].value, 'original');
  assert.equal(again.seen[0].value, 'original');
  await consumer.stop();
  await again.consumer.stop();
  await transport.close();
});

test('a group splits partitions between members; other groups get everything', async () => {
  const transport = await setup(4);
  const a = await startConsumer(transport, 'g');
  const b = await startConsumer(transport, 'g');
  const other = await startConsumer(transport, 'h');
  const pa = a.consumer.assignment().map((tp) => tp.partition);
  const pb = b.consumer.assignment().map((tp) => tp.partition);
  assert.equal(pa.length, 2);
  assert.equal(pb.length, 2);
  assert.deepEqual([...pa, ...pb].sort(), [0, 1, 2, 3]);

  await produce(transport, 't', msgs(100));
  await transport.waitUntil(() => a.seen.length + b.seen.length === 100 && other.seen.length === 100, { timeoutMs: 2000 });
  for (const s of a.seen) assert.ok(pa.includes(s.partition));
  for (const s of b.seen) assert.ok(pb.includes(s.partition));
  const keys = [...a.seen, ...b.seen].map((s) => s.value).sort();
  assert.deepEqual(keys, [...new Set(keys)], 'each message went to exactly one member');
  await transport.close();
  await Promise.all([a.running, b.running, other.running]);
});

test('rebalance on join and leave; uncommitted work of a leaver is redelivered', async () => {
  const transport = await setup(4);
  const a = await startConsumer(transport, 'g', {
    handler: async (p) => p.commit(),
  });
  assert.equal(a.consumer.assignment().length, 4);

  const b = await startConsumer(transport, 'g'); // never commits
  assert.equal(a.consumer.assignment().length, 2);
  assert.equal(b.consumer.assignment().length, 2);
  const bPartitions = b.consumer.assignment().map((tp) => tp.partition);

  await produce(transport, 't', msgs(40));
  await transport.waitUntil(() => a.seen.length + b.seen.length === 40, { timeoutMs: 2000 });
  const bCount = b.seen.length;
  assert.ok(bCount > 0);

  await b.consumer.stop();
  await b.running;
  assert.equal(a.consumer.assignment().length, 4, 'a takes the partitions back');
  // b committed nothing, so a reads b's partitions again from the start.
  await transport.waitUntil(() => a.seen.length === 40, { timeoutMs: 2000 });
  const redelivered = a.seen.slice(40 - bCount).filter((s) => bPartitions.includes(s.partition));
  assert.deepEqual(
    redelivered.map((s) => s.value).sort(),
    b.seen.map((s) => s.value).sort(),
  );
  await transport.waitUntil(() => transport.isDrained('g', 't'));
  await transport.close();
});

test('manual commit: a restarted consumer resumes at the committed offset; uncommitted messages come again', async () => {
  const transport = await setup(1);
  await produce(transport, 't', msgs(10));
  const first = await startConsumer(transport, 'g', {
    maxBatchSize: 4,
    handler: async (p) => {
      // Commit only up to offset 5 (next offset 6), whatever the batches are.
      const last = Number(p.batch.lastOffset());
      if (last <= 5) await p.commit();
      else if (Number(p.batch.firstOffset()) <= 5) await p.commit('6');
    },
  });
  await transport.waitUntil(() => first.seen.length === 10);
  await first.consumer.disconnect();
  assert.deepEqual(await transport.groupOffsets('g', 't'), [{ partition: 0, offset: '6' }]);

  const second = await startConsumer(transport, 'g');
  await transport.waitUntil(() => second.seen.length === 4);
  assert.deepEqual(
    second.seen.map((s) => s.offset),
    [6, 7, 8, 9],
  );
  await second.consumer.stop();

  // Nothing committed by the second run: a third run gets the same four again.
  const third = await startConsumer(transport, 'g');
  await transport.waitUntil(() => third.seen.length === 4);
  assert.deepEqual(
    third.seen.map((s) => s.offset),
    [6, 7, 8, 9],
  );
  await transport.close();
});

test('fromBeginning: false starts a new group at the log end', async () => {
  const transport = await setup(1);
  await produce(transport, 't', msgs(5));
  const c = await startConsumer(transport, 'late', { fromBeginning: false });
  await produce(transport, 't', msgs(2, 'new'));
  await transport.waitUntil(() => c.seen.length === 2);
  assert.deepEqual(
    c.seen.map((s) => s.offset),
    [5, 6],
  );
  await transport.close();
});

test('commit is refused for a partition the member does not own, and past the high watermark', async () => {
  const transport = await setup(2);
  await produce(transport, 't', msgs(4));
  const a = await startConsumer(transport, 'g');
  const b = await startConsumer(transport, 'g');
  const notMine = b.consumer.assignment()[0].partition;
  await assert.rejects(a.consumer.commit('t', notMine, '0'), NotAssignedError);
  const mine = a.consumer.assignment()[0].partition;
  await assert.rejects(a.consumer.commit('t', mine, '999'), /past the high watermark/);
  await assert.rejects(a.consumer.commit('t', mine, '-1'), TransportError);
  await transport.close();
});

const highOf = (transport: MemoryTransport, topic = 't'): number => transport.watermarks(topic).reduce((sum, w) => sum + w.high, 0);
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('backpressure: a bounded topic blocks the producer while a live consumer is behind', async () => {
  const transport = new MemoryTransport();
  const capacity = 5;
  await transport.createTopics([{ topic: 't', partitions: 1, capacity }]);
  const firstBatch = gate();
  let processed = 0;
  let batches = 0;
  const c = await startConsumer(transport, 'slow', {
    maxBatchSize: 2,
    handler: async (p) => {
      batches += 1;
      if (batches === 1) await firstBatch.promise;
      else await new Promise((r) => setTimeout(r, 1));
      processed += p.batch.messages.length;
    },
  });
  let maxBacklog = 0;
  const probe = transport.waitUntil(() => {
    maxBacklog = Math.max(maxBacklog, highOf(transport) - processed);
    return processed === 20;
  });
  const producer = transport.producer();
  await producer.connect();
  let sendDone = false;
  const sending = producer.send('t', msgs(20)).then(() => {
    sendDone = true;
  });
  await settle();
  assert.equal(highOf(transport), capacity, 'the producer stopped at the capacity');
  assert.equal(sendDone, false);
  assert.equal(c.seen.length, 2, 'the consumer got a first batch at once (appends are announced before the producer waits)');

  firstBatch.open();
  await sending;
  await probe;
  assert.equal(processed, 20);
  assert.equal(maxBacklog, capacity, 'the backlog reached the bound but never passed it');
  await transport.close();
});

test('backpressure ignores groups without running members (they could only deadlock)', async () => {
  const transport = new MemoryTransport({ topicDefaults: { capacity: 3 } });
  await transport.createTopics([{ topic: 't', partitions: 1 }]);
  const c = await startConsumer(transport, 'g');
  await c.consumer.stop();
  await produce(transport, 't', msgs(10));
  assert.equal(highOf(transport), 10);
  await transport.close();
});

test('a consumer holds at most maxInFlightBatches batches, each from a different partition', async () => {
  const transport = await setup(4);
  await produce(transport, 't', msgs(80));
  let concurrent = 0;
  let maxConcurrent = 0;
  const active = new Set<number>();
  const c = await startConsumer(transport, 'g', {
    maxBatchSize: 3,
    maxInFlightBatches: 2,
    handler: async (p) => {
      assert.equal(active.has(p.batch.partition), false, 'two batches of one partition at once');
      active.add(p.batch.partition);
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((r) => setTimeout(r, 1));
      concurrent -= 1;
      active.delete(p.batch.partition);
      assert.ok(p.batch.messages.length <= 3);
    },
  });
  await transport.waitUntil(() => c.seen.length === 80, { timeoutMs: 5000 });
  assert.equal(maxConcurrent, 2);
  await transport.close();
  await c.running;
});

test('stop(): stops fetching, finishes the in-flight batch, then returns', async () => {
  const transport = await setup(1);
  await produce(transport, 't', msgs(10));
  const hold = gate();
  let runningInside: boolean | undefined;
  let finished = 0;
  const c = await startConsumer(transport, 'g', {
    maxBatchSize: 3,
    handler: async (p) => {
      await hold.promise;
      runningInside = p.isRunning();
      await p.commit();
      finished += 1;
    },
  });
  await transport.waitUntil(() => c.seen.length === 3);
  let stopped = false;
  const stopping = c.consumer.stop().then(() => {
    stopped = true;
  });
  await settle();
  assert.equal(stopped, false, 'stop() waits for the in-flight batch');
  hold.open();
  await stopping;
  await c.running;
  assert.equal(finished, 1);
  assert.equal(runningInside, false, 'isRunning() is false once stop() was called');
  assert.equal(c.seen.length, 3, 'no batch after stop()');
  assert.deepEqual(await transport.groupOffsets('g', 't'), [{ partition: 0, offset: '3' }]);
  assert.deepEqual(c.consumer.assignment(), []);
  await transport.close();
});

test('a partition moved by a rebalance waits for the old owner\'s in-flight batch and its commit', async () => {
  const transport = await setup(2);
  await produce(transport, 't', [0, 0, 0, 1, 1, 1].map((partition, i) => ({ key: `k${i}`, value: utf8(`v${i}`), partition })));
  const hold = gate();
  let staleSeen: boolean | undefined;
  const a = await startConsumer(transport, 'g', {
    maxBatchSize: 10,
    handler: async (p) => {
      if (p.batch.partition !== 1) return p.commit();
      await hold.promise;
      staleSeen = p.isStale();
      await p.commit('2'); // processed offsets 0 and 1 only
    },
  });
  await transport.waitUntil(() => a.seen.filter((s) => s.partition === 1).length === 3);
  const b = await startConsumer(transport, 'g');
  assert.deepEqual(b.consumer.assignment(), [{ topic: 't', partition: 1 }]);
  await settle();
  assert.equal(b.seen.length, 0, 'the new owner waits while the old batch is in flight');
  hold.open();
  await transport.waitUntil(() => b.seen.length === 1);
  assert.equal(staleSeen, true);
  assert.deepEqual(
    b.seen.map((s) => s.offset),
    [2],
    'the new owner starts at the old owner\'s commit',
  );
  await transport.close();
});

test('eachBatch throwing: run() rejects, the member leaves, the batch is redelivered to others', async () => {
  const transport = await setup(1);
  await produce(transport, 't', msgs(5));
  const boom = new Error('boom');
  const bad = await startConsumer(transport, 'g', {
    handler: async () => {
      throw boom;
    },
  });
  await assert.rejects(bad.running, (err) => err === boom);
  assert.deepEqual(bad.consumer.assignment(), []);
  const good = await startConsumer(transport, 'g', { handler: async (p) => p.commit() });
  await transport.waitUntil(() => transport.isDrained('g', 't'));
  assert.deepEqual(
    good.seen.map((s) => s.offset),
    [0, 1, 2, 3, 4],
  );
  await transport.close();
});

test('eachBatchAutoResolve: false refetches what was not resolved', async () => {
  const transport = await setup(1);
  await produce(transport, 't', msgs(6));
  let calls = 0;
  const c = await startConsumer(transport, 'g', {
    eachBatchAutoResolve: false,
    handler: async (p) => {
      calls += 1;
      // First call: process only the first two messages, as a stage cut short by stop() would.
      const upTo = calls === 1 ? 1 : p.batch.messages.length - 1;
      p.resolveOffset(p.batch.messages[upTo].offset);
      assert.throws(() => p.resolveOffset('99'), /outside the batch/);
    },
  });
  await transport.waitUntil(() => c.seen.length === 10);
  assert.deepEqual(
    c.seen.map((s) => s.offset),
    [0, 1, 2, 3, 4, 5, 2, 3, 4, 5],
  );
  await transport.close();
});

test('pause() and resume() a partition', async () => {
  const transport = await setup(2);
  const c = await startConsumer(transport, 'g');
  c.consumer.pause([{ topic: 't', partitions: [0] }]);
  await produce(transport, 't', [0, 1, 0, 1].map((partition, i) => ({ key: `k${i}`, value: utf8(`v${i}`), partition })));
  await transport.waitUntil(() => c.seen.length === 2);
  await settle();
  assert.deepEqual(
    c.seen.map((s) => s.partition),
    [1, 1],
  );
  c.consumer.resume([{ topic: 't' }]);
  await transport.waitUntil(() => c.seen.length === 4);
  assert.deepEqual(
    c.seen.slice(2).map((s) => s.partition),
    [0, 0],
  );
  await transport.close();
});

test("retention 'committed' drops what every reader committed; new readers start at the log start", async () => {
  const transport = new MemoryTransport();
  await transport.createTopics([{ topic: 't', partitions: 1, retention: 'committed' }]);
  // Readers join before the data: retention only waits for groups that exist (as on Kafka).
  const a = await startConsumer(transport, 'a', { handler: async (p) => p.commit() });
  const b = await startConsumer(transport, 'b', {
    maxBatchSize: 4,
    handler: async (p) => {
      if (p.batch.firstOffset() === '0') await p.commit();
    },
  });
  await produce(transport, 't', msgs(10));
  await transport.waitUntil(() => transport.isDrained('a', 't') && b.seen.length === 10);
  assert.deepEqual(transport.watermarks('t'), [{ partition: 0, low: 4, high: 10 }]);
  assert.deepEqual(await transport.topicOffsets('t'), [{ partition: 0, low: '4', high: '10' }]);
  await assert.rejects(transport.deleteGroups(['b']), /running members/);
  await b.consumer.stop();
  await transport.deleteGroups(['b']);
  assert.deepEqual(transport.watermarks('t'), [{ partition: 0, low: 10, high: 10 }]);
  const late = await startConsumer(transport, 'late');
  await produce(transport, 't', msgs(1, 'z'));
  await transport.waitUntil(() => late.seen.length === 1);
  assert.equal(late.seen[0].offset, 10);
  await transport.close();
  await a.running;
});

test('whenDrained: a two-stage pipeline runs dry; waitUntil times out', async () => {
  const transport = new MemoryTransport();
  await transport.createTopics([
    { topic: 'in', partitions: 2 },
    { topic: 'out', partitions: 3 },
  ]);
  const producer = transport.producer();
  await producer.connect();
  const stage = await startConsumer(transport, 'double', {
    topics: ['in'],
    handler: async (p) => {
      await producer.send(
        'out',
        p.batch.messages.map((m) => ({ key: m.key, value: utf8(`${text(m.value)}!`) })),
      );
      await p.commit();
    },
  });
  const sink = await startConsumer(transport, 'sink', { topics: ['out'], maxBatchSize: 5, handler: async (p) => p.commit() });
  await producer.send('in', msgs(30));
  assert.equal(transport.isDrained('double', 'in'), false);
  await transport.whenDrained(
    [
      { groupId: 'double', topic: 'in' },
      { groupId: 'sink', topic: 'out' },
    ],
    { timeoutMs: 2000 },
  );
  assert.equal(sink.seen.length, 30);
  // 'committed' can hold while the committing batch is still finishing; 'processed' waits for it.
  await transport.waitUntil(() => transport.isDrained('sink', 'out', 'processed'), { timeoutMs: 2000 });
  assert.equal(transport.isDrained('double', 'in', 'processed'), true);
  await assert.rejects(transport.waitUntil(() => false, { timeoutMs: 20 }), TransportTimeoutError);
  await transport.close();
  await Promise.all([stage.running, sink.running]);
});

test('setGroupOffsets moves an idle group; refused while it runs', async () => {
  const transport = await setup(1);
  await produce(transport, 't', msgs(5));
  await transport.setGroupOffsets('g', 't', [{ partition: 0, offset: '3' }]);
  await assert.rejects(transport.setGroupOffsets('g', 't', [{ partition: 0, offset: '9' }]), /past the end/);
  const c = await startConsumer(transport, 'g');
  await transport.waitUntil(() => c.seen.length === 2);
  assert.deepEqual(
    c.seen.map((s) => s.offset),
    [3, 4],
  );
  await assert.rejects(transport.setGroupOffsets('g', 't', [{ partition: 0, offset: '0' }]), /running members/);
  await transport.close();
});

test('close(): fails a producer blocked on a full topic at once, then waits for in-flight batches', async () => {
  const transport = new MemoryTransport();
  await transport.createTopics([{ topic: 't', partitions: 1, capacity: 2 }]);
  const hold = gate();
  let batchDone = false;
  const c = await startConsumer(transport, 'g', {
    handler: async () => {
      await hold.promise;
      batchDone = true;
    },
  });
  const producer = transport.producer();
  await producer.connect();
  const blocked = producer.send('t', msgs(5));
  await transport.waitUntil(() => c.seen.length === 2);
  let closed = false;
  const closing = transport.close().then(() => {
    closed = true;
  });
  await assert.rejects(blocked, TransportClosedError);
  await assert.rejects(producer.send('t', msgs(1)), TransportClosedError);
  await assert.rejects(transport.consumer({ groupId: 'x' }).connect(), TransportClosedError);
  assert.equal(closed, false, 'close() waits for the in-flight batch');
  hold.open();
  await closing;
  await c.running;
  assert.equal(batchDone, true);
});

test('lifecycle misuse gives clear errors', async () => {
  const transport = await setup(1);
  const c = transport.consumer({ groupId: 'g' });
  await assert.rejects(c.subscribe({ topics: ['t'] }), /not connected/);
  await c.connect();
  await assert.rejects(c.run({ eachBatch: async () => undefined }), /no subscription/);
  await assert.rejects(c.subscribe({ topics: ['nope'] }), UnknownTopicError);
  await c.subscribe({ topics: ['t'] });
  await assert.rejects(c.run({ eachBatch: async () => undefined, maxBatchSize: 0 }), /maxBatchSize/);
  const running = c.run({ eachBatch: async () => undefined });
  await assert.rejects(c.run({ eachBatch: async () => undefined }), /already running/);
  await c.disconnect();
  await running;
  await assert.rejects(c.connect(), TransportClosedError);
  assert.throws(() => transport.consumer({ groupId: '' }), /groupId/);
  await transport.close();
});

test('produceAndCommit: outputs and the commit land together, only with exactlyOnce, still allowed to a batch whose partition moved', async () => {
  const transport = await setup(2);
  await transport.createTopics([
    { topic: 'out', partitions: 2 },
    { topic: 'side', partitions: 1 },
  ]);
  await produce(transport, 't', msgs(6));
  const plain = await startConsumer(transport, 'plain', {
    handler: async (p) => {
      await assert.rejects(p.produceAndCommit([]), /exactlyOnce/);
      await p.commit();
    },
  });
  await transport.whenDrained([{ groupId: 'plain', topic: 't' }]);
  await plain.consumer.stop();

  // Every observation of the logs (taken on each transport event) shows outputs and commit in step.
  const torn: string[] = [];
  const observe = transport.waitUntil(() => {
    const outputs = transport.watermarks('out').reduce((s, w) => s + w.high, 0) + transport.watermarks('side')[0].high;
    const committed = transport.isDrained('eo', 't') ? 6 : undefined;
    if (committed === 6 && outputs !== 12) torn.push(`drained with ${outputs} outputs`);
    return outputs === 12;
  });
  const c = await startConsumer(transport, 'eo', {
    exactlyOnce: true,
    maxBatchSize: 2,
    handler: async (p) => {
      const outputs = p.batch.messages.map((m) => ({ key: m.key, value: m.value }));
      await assert.rejects(p.produceAndCommit([{ topic: 'out', messages: [{ key: 'x', value: utf8('x'), partition: 7 }] }]), /out of range/);
      await assert.rejects(p.produceAndCommit([], '99'), /past the high watermark/);
      await p.produceAndCommit([
        { topic: 'out', messages: outputs },
        { topic: 'side', messages: outputs },
      ]);
    },
  });
  await observe;
  await transport.whenDrained([{ groupId: 'eo', topic: 't' }]);
  assert.deepEqual(torn, []);
  assert.deepEqual(
    (await transport.groupOffsets('eo', 't')).map((o) => o.offset),
    transport.watermarks('t').map((w) => String(w.high)),
  );
  await c.consumer.stop();

  // A member that does not own the partition (any more) appends nothing.
  const lost = transport.consumer({ groupId: 'eo' });
  const other = transport.consumer({ groupId: 'eo' });
  for (const m of [lost, other]) {
    await m.connect();
    await m.subscribe({ topics: ['t'], fromBeginning: true });
  }
  await produce(transport, 't', [{ key: 'late', value: utf8('late'), partition: 0 }]);
  const held = gate();
  let refused: unknown;
  const running = lost.run({
    exactlyOnce: true,
    eachBatch: async (p) => {
      await held.promise;
      // The batch's own partition stays committable while in flight (its new owner waits): another's is not.
      refused = await p.produceAndCommit([{ topic: 'out', messages: [{ key: 'late', value: utf8('late') }] }]).then(
        () => undefined,
        (e: unknown) => e,
      );
    },
  });
  await transport.waitUntil(() => lost.assignment().length === 2 && transport.watermarks('t')[0].high === 4);
  const stopping = lost.stop();
  held.open();
  await stopping;
  await running;
  assert.equal(refused, undefined, 'an in-flight batch may still finish after a rebalance, like commit()');
  await other.disconnect();
  await lost.disconnect();
  await transport.close();
});

test('produceAndCommit waits for room in a bounded output topic, then appends everything at once', async () => {
  const transport = await setup(1);
  await transport.createTopics([{ topic: 'out', partitions: 1, capacity: 3 }]);
  await produce(transport, 't', msgs(4));
  const held = gate();
  const reader = await startConsumer(transport, 'reader', { topics: ['out'], handler: async () => held.promise });
  await produce(transport, 'out', msgs(3, 'pre'));
  const c = await startConsumer(transport, 'eo', {
    exactlyOnce: true,
    maxBatchSize: 4,
    handler: async (p) => p.produceAndCommit([{ topic: 'out', messages: p.batch.messages.map((m) => ({ key: m.key, value: m.value })) }]),
  });
  await settle();
  await settle();
  assert.equal(transport.watermarks('out')[0].high, 3, 'nothing of the transaction appended while the topic is full');
  assert.equal((await transport.groupOffsets('eo', 't'))[0].offset, '-1');
  held.open();
  await transport.whenDrained([{ groupId: 'eo', topic: 't' }]);
  assert.equal(transport.watermarks('out')[0].high, 7);
  await Promise.all([c.consumer.stop(), reader.consumer.stop()]);
  await transport.close();
});

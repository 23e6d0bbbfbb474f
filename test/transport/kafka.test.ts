import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import kafkajs from '../../src/transport/kafkajs.ts';
import { KafkaTransport, kafkaLogCreator, type KafkaTransportConsumer } from '../../src/transport/kafka.ts';
import { MemoryTransport } from '../../src/transport/memory.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { openTransport } from '../../src/transport/open_transport.ts';
import {
  NotAssignedError,
  TransportClosedError,
  TransportError,
  TransportTimeoutError,
  UnknownTopicError,
  groupLag,
  partitionForKey,
  waitForMessages,
  type EachBatchPayload,
  type OutgoingMessage,
  type RunOptions,
} from '../../src/transport/transport.ts';
import { gate, msgs, text, utf8, type Seen } from '../helpers/transport_fixtures.ts';
import { KafkaTestNames, eventually, kafkaBrokers, openTestKafka, within } from '../helpers/kafka.ts';


let transport: KafkaTransport;
const names = new KafkaTestNames();

before(() => {
  // Fails every test with instructions when KAFKA_BROKERS is unset: these tests never skip.
  transport = openTestKafka();
});

after(async () => {
  if (transport === undefined) return;
  await names.cleanup(transport);
  await transport.close();
});

async function topicWith(partitions: number, label = 't'): Promise<string> {
  const topic = names.topic(label);
  assert.equal(await transport.createTopics([{ topic, partitions }]), true);
  return topic;
}

async function produce(topic: string, messages: OutgoingMessage[], on: KafkaTransport = transport): Promise<void> {
  const producer = on.producer();
  await producer.connect();
  await producer.send(topic, messages);
  await producer.disconnect();
}

interface Started {
  consumer: KafkaTransportConsumer;
  seen: Seen[];
  batches: number[];
  running: Promise<void>;
}

/** Starts a consumer that records what it sees; `handler` runs after recording. Waits until it joined and fetched unless `ready: false`. */
async function startConsumer(
  topic: string,
  groupId: string,
  options: Partial<RunOptions> & { fromBeginning?: boolean; ready?: boolean; handler?: (p: EachBatchPayload) => Promise<void>; on?: KafkaTransport } = {},
): Promise<Started> {
  const consumer = (options.on ?? transport).consumer({ groupId, clientId: 'kafka-test' });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: options.fromBeginning ?? true });
  const seen: Seen[] = [];
  const batches: number[] = [];
  const running = consumer.run({
    maxBatchSize: options.maxBatchSize,
    maxInFlightBatches: options.maxInFlightBatches,
    eachBatchAutoResolve: options.eachBatchAutoResolve,
    eachBatch: async (payload) => {
      batches.push(payload.batch.messages.length);
      for (const m of payload.batch.messages) {
        seen.push({ topic: payload.batch.topic, partition: payload.batch.partition, offset: Number(m.offset), key: m.key, value: text(m.value) });
      }
      await options.handler?.(payload);
    },
  });
  // Tests that expect a rejection await `running` themselves; this only keeps Node from calling it unhandled meanwhile.
  running.catch(() => undefined);
  if (options.ready ?? true) await within(`consumer of ${groupId} ready`, consumer.ready());
  return { consumer, seen, batches, running };
}

test('createTopics creates partitions, is idempotent and refuses a different partition count', async () => {
  const a = names.topic('a');
  assert.equal(await transport.createTopics([{ topic: a, partitions: 2 }]), true);
  assert.equal(await transport.createTopics([{ topic: a, partitions: 2 }]), false);
  await assert.rejects(transport.createTopics([{ topic: a, partitions: 3 }]), /exists with 2 partitions, not 3/);
  // A mismatch fails the whole call before anything is created.
  const b = names.topic('b');
  await assert.rejects(
    transport.createTopics([
      { topic: b, partitions: 1 },
      { topic: a, partitions: 5 },
    ]),
    /exists with 2 partitions/,
  );
  await assert.rejects(transport.topicOffsets(b), UnknownTopicError);
  await assert.rejects(transport.createTopics([{ topic: names.topic('zero'), partitions: 0 }]), /positive integer/);
  assert.deepEqual(await transport.topicOffsets(a), [
    { partition: 0, low: '0', high: '0' },
    { partition: 1, low: '0', high: '0' },
  ]);
  await assert.rejects(transport.topicOffsets(names.topic('nope')), UnknownTopicError);
  assert.equal(transport.describe(), `kafka://${kafkaBrokers().join(',')}`);
});

test('send: acks with base offsets, routes by key hash or explicit partition, validates before appending', async () => {
  const topic = await topicWith(4);
  const producer = transport.producer();
  await assert.rejects(producer.send(topic, msgs(1)), /not connected/);
  await producer.connect();
  await assert.rejects(producer.send(names.topic('nope'), msgs(1)), UnknownTopicError);

  const meta = await producer.send(topic, [...msgs(6), { key: 'x', value: utf8('explicit'), partition: 3 }]);
  const watermarks = await transport.topicOffsets(topic);
  assert.equal(
    watermarks.reduce((s, w) => s + Number(w.high), 0),
    7,
  );
  for (const m of meta) assert.equal(m.baseOffset, '0');
  assert.deepEqual(
    meta.map((m) => m.partition),
    [...new Set([...msgs(6).map((m) => partitionForKey(m.key, 4)), 3])].sort(),
  );
  const second = await producer.send(topic, [{ key: 'x', value: utf8('again'), partition: 3 }]);
  assert.deepEqual(second, [{ topic, partition: 3, baseOffset: watermarks[3].high }]);

  // One bad message rejects the whole request: nothing of it is appended.
  const before = JSON.stringify(await transport.topicOffsets(topic));
  await assert.rejects(producer.send(topic, [...msgs(3), { key: 'bad', value: utf8('x'), partition: 9 }]), /partition 9 out of range/);
  await assert.rejects(producer.send(topic, [{ key: 'bad', value: 'str' as unknown as Uint8Array }]), /value must be a Uint8Array/);
  await assert.rejects(producer.send(topic, [{ key: 'bad', value: utf8('x'), headers: { n: 1 as unknown as string } }]), /header n must be a string/);
  assert.equal(JSON.stringify(await transport.topicOffsets(topic)), before);
  await producer.disconnect();
  await assert.rejects(producer.send(topic, msgs(1)), TransportClosedError);
});

test("kafkajs's default partitioner puts every key where partitionForKey says; order holds per partition and key", async () => {
  const topic = await topicWith(7);
  // 10 keys (the empty key among them) × 20 messages each, in several requests.
  const keyOf = (i: number): string => (i % 10 === 0 ? '' : `images/${i % 10}.jpg`);
  for (let round = 0; round < 4; round++) {
    await produce(
      topic,
      Array.from({ length: 50 }, (_, i) => ({ key: keyOf(i), value: utf8(`${keyOf(i)}:${round * 50 + i}`) })),
    );
  }
  const c = await startConsumer(topic, names.group(), { maxBatchSize: 7 });
  await eventually('200 messages', () => c.seen.length >= 200);
  await c.consumer.stop();
  await c.running;
  assert.equal(c.seen.length, 200);
  for (const s of c.seen) assert.equal(s.partition, partitionForKey(s.key, 7), `key '${s.key}'`);
  assert.ok(
    c.batches.every((n) => n <= 7),
    `batches ${c.batches.join(',')} exceed maxBatchSize`,
  );
  for (let p = 0; p < 7; p++) {
    const offsets = c.seen.filter((s) => s.partition === p).map((s) => s.offset);
    assert.deepEqual(offsets, offsets.map((_, i) => i), `partition ${p} offsets`);
  }
  for (let k = 0; k < 10; k++) {
    const sequence = c.seen.filter((s) => s.key === keyOf(k)).map((s) => Number(s.value.split(':')[1]));
    assert.equal(sequence.length, 20);
    assert.deepEqual(sequence, [...sequence].sort((a, b) => a - b), `key ${keyOf(k)} in send order`);
  }
});

test('maxBatchSize cuts a byte-bounded kafkajs fetch into consecutive slices', async () => {
  const topic = await topicWith(1);
  await produce(topic, msgs(25)); // one request: one record batch, fetched whole
  const slices: Array<[number, number]> = [];
  const c = await startConsumer(topic, names.group(), {
    maxBatchSize: 7,
    handler: async (p) => {
      slices.push([Number(p.batch.firstOffset()), Number(p.batch.lastOffset())]);
      assert.equal(p.batch.highWatermark, '25');
      assert.equal(p.batch.offsetLag(), String(25 - 1 - Number(p.batch.lastOffset())));
    },
  });
  await eventually('25 messages', () => c.seen.length >= 25);
  await c.consumer.stop();
  assert.ok(
    c.batches.every((n) => n >= 1 && n <= 7),
    `batch sizes ${c.batches.join(',')}`,
  );
  assert.ok(c.batches.filter((n) => n === 7).length >= 3, `the fetch was split: ${c.batches.join(',')}`);
  assert.deepEqual(
    c.seen.map((s) => s.offset),
    Array.from({ length: 25 }, (_, i) => i),
  );
  for (let i = 1; i < slices.length; i++) assert.equal(slices[i][0], slices[i - 1][1] + 1, 'slices are consecutive');
});

test('consumed messages carry keys and headers, with values as plain Uint8Array copies', async () => {
  const topic = await topicWith(1);
  const buffer = utf8('original');
  await produce(topic, [
    { key: 'k', value: buffer, headers: { stage: 'teacher', 'error-class': 'ZodError', empty: '' } },
    { key: '', value: new Uint8Array(0) },
  ]);
  buffer.fill(0);
  const got: Array<{ key: string; value: Uint8Array; headers: Record<string, string>; timestamp: string }> = [];
  const c = await startConsumer(topic, names.group(), {
    handler: async ({ batch }) => {
      for (const m of batch.messages) got.push({ key: m.key, value: m.value, headers: m.headers, timestamp: m.timestamp });
    },
  });
  await eventually('2 messages', () => got.length >= 2);
  await c.consumer.stop();
  assert.equal(got[0].key, 'k');
  assert.equal(text(got[0].value), 'original');
  assert.deepEqual(got[0].headers, { stage: 'teacher', 'error-class': 'ZodError', empty: '' });
  assert.equal(Object.getPrototypeOf(got[0].value), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer view');
  assert.equal(got[0].value.byteLength, got[0].value.buffer.byteLength, 'its own memory, not a view into the fetch response');
  assert.match(got[0].timestamp, /^[0-9]+$/);
  assert.ok(Math.abs(Number(got[0].timestamp) - Date.now()) < 60_000);
  assert.deepEqual({ key: got[1].key, value: got[1].value.length, headers: got[1].headers }, { key: '', value: 0, headers: {} });
});

test('a group splits partitions; other groups get everything; commits are refused for partitions not owned; a leaver\u2019s uncommitted work is redelivered', async () => {
  const topic = await topicWith(4);
  const group = names.group();
  const a = await startConsumer(topic, group, { handler: async (p) => p.commit() });
  assert.equal(a.consumer.assignment().length, 4);
  const b = await startConsumer(topic, group, { ready: false }); // never commits
  const other = await startConsumer(topic, names.group('other'));
  await eventually('a and b split the partitions', () => a.consumer.assignment().length === 2 && b.consumer.assignment().length === 2);
  const pa = a.consumer.assignment().map((tp) => tp.partition);
  const pb = b.consumer.assignment().map((tp) => tp.partition);
  assert.deepEqual([...pa, ...pb].sort(), [0, 1, 2, 3]);

  await produce(topic, msgs(100));
  await eventually('100 messages each to the group and to the other group', () => a.seen.length + b.seen.length >= 100 && other.seen.length >= 100);
  await sleep(200);
  assert.equal(a.seen.length + b.seen.length, 100, 'each message went to exactly one member');
  assert.equal(other.seen.length, 100);
  for (const s of a.seen) assert.ok(pa.includes(s.partition));
  for (const s of b.seen) assert.ok(pb.includes(s.partition));
  assert.ok(b.seen.length > 0);

  // The broker would take any member's commit for any partition; the adapter refuses what this member does not own.
  await assert.rejects(a.consumer.commit(topic, pb[0], '0'), NotAssignedError);
  await assert.rejects(a.consumer.commit(topic, pa[0], '999'), /past the high watermark/);
  await assert.rejects(a.consumer.commit(topic, pa[0], '-1'), TransportError);

  await b.consumer.stop();
  await b.running;
  assert.deepEqual(b.consumer.assignment(), []);
  await eventually('a takes the partitions back', () => a.consumer.assignment().length === 4);
  // b committed nothing, so a reads b's partitions again from the start.
  await eventually('redelivery to a', () => a.seen.length >= 100);
  const redelivered = a.seen.filter((s) => pb.includes(s.partition));
  assert.deepEqual(
    redelivered.map((s) => s.value).sort(),
    b.seen.map((s) => s.value).sort(),
  );
  await eventually('a committed everything', async () => (await groupLag(transport, group, topic)).total === 0);
  await a.consumer.stop();
  await other.consumer.stop();
  await Promise.all([a.running, other.running]);
});

test('manual commit: a restarted group resumes at the committed offset; uncommitted messages come again', async () => {
  const topic = await topicWith(1);
  const group = names.group();
  await produce(topic, msgs(10));
  const first = await startConsumer(topic, group, {
    maxBatchSize: 4,
    handler: async (p) => {
      // Commit only up to offset 5 (next offset 6), whatever the batches are.
      const last = Number(p.batch.lastOffset());
      if (last <= 5) await p.commit();
      else if (Number(p.batch.firstOffset()) <= 5) await p.commit('6');
    },
  });
  await eventually('10 messages', () => first.seen.length >= 10);
  await first.consumer.disconnect();
  await first.running;
  assert.deepEqual(await transport.groupOffsets(group, topic), [{ partition: 0, offset: '6' }]);

  const second = await startConsumer(topic, group);
  await eventually('4 messages', () => second.seen.length >= 4);
  assert.deepEqual(
    second.seen.map((s) => s.offset),
    [6, 7, 8, 9],
  );
  // Not a commit: the consumer's own stop() commits nothing, so a third run gets the same four again.
  await second.consumer.disconnect();
  const third = await startConsumer(topic, group);
  await eventually('4 messages', () => third.seen.length >= 4);
  assert.deepEqual(
    third.seen.map((s) => s.offset),
    [6, 7, 8, 9],
  );
  await third.consumer.disconnect();
});

test('fromBeginning: false starts a new group at the log end', async () => {
  const topic = await topicWith(1);
  await produce(topic, msgs(5));
  const c = await startConsumer(topic, names.group(), { fromBeginning: false });
  await produce(topic, msgs(2, 'new'));
  await eventually('2 messages', () => c.seen.length >= 2);
  assert.deepEqual(
    c.seen.map((s) => s.offset),
    [5, 6],
  );
  await c.consumer.stop();
});

test('a consumer holds at most maxInFlightBatches batches, each from a different partition', async () => {
  const topic = await topicWith(4);
  await produce(topic, msgs(80));
  let concurrent = 0;
  let maxConcurrent = 0;
  const active = new Set<number>();
  const violations: string[] = [];
  const c = await startConsumer(topic, names.group(), {
    maxBatchSize: 3,
    maxInFlightBatches: 2,
    handler: async (p) => {
      if (active.has(p.batch.partition)) violations.push(`two batches of partition ${p.batch.partition} at once`);
      active.add(p.batch.partition);
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await sleep(5);
      concurrent -= 1;
      active.delete(p.batch.partition);
    },
  });
  await eventually('80 messages', () => c.seen.length >= 80, { timeoutMs: 20_000 });
  await c.consumer.stop();
  assert.deepEqual(violations, []);
  assert.equal(maxConcurrent, 2);
  assert.ok(c.batches.every((n) => n <= 3));
});

test('stop(): stops fetching, lets the in-flight batch finish and commit, then returns', async () => {
  const topic = await topicWith(1);
  const group = names.group();
  await produce(topic, msgs(10));
  const hold = gate();
  let runningInside: boolean | undefined;
  let finished = 0;
  const c = await startConsumer(topic, group, {
    maxBatchSize: 3,
    handler: async (p) => {
      await hold.promise;
      runningInside = p.isRunning();
      // kafkajs's consumer.commitOffsets would silently skip this (its runner is stopping): it must land anyway.
      await p.commit();
      finished += 1;
    },
  });
  await eventually('first batch', () => c.seen.length >= 3);
  let stopped = false;
  const stopping = c.consumer.stop().then(() => {
    stopped = true;
  });
  await sleep(300);
  assert.equal(stopped, false, 'stop() waits for the in-flight batch');
  hold.open();
  await stopping;
  await c.running;
  assert.equal(finished, 1);
  assert.equal(runningInside, false, 'isRunning() is false once stop() was called');
  assert.equal(c.seen.length, 3, 'no batch after stop()');
  assert.deepEqual(await transport.groupOffsets(group, topic), [{ partition: 0, offset: '3' }]);
  assert.deepEqual(c.consumer.assignment(), []);
  // The group is empty again (the member left rather than timing out).
  await transport.deleteGroups([group]);
});

test("a rebalance makes the old owner's batch stale; it may still commit, and the partition resumes at that commit", async () => {
  const topic = await topicWith(2);
  const group = names.group();
  await produce(
    topic,
    [0, 0, 0, 1, 1, 1].map((partition, i) => ({ key: `k${i}`, value: utf8(`v${i}`), partition })),
  );
  const hold = gate();
  let staleBefore: boolean | undefined;
  let staleSeen = false;
  let heldOnce = false;
  const a = await startConsumer(topic, group, {
    maxBatchSize: 10,
    handler: async (p) => {
      if (p.batch.partition !== 1 || heldOnce) return p.commit();
      heldOnce = true;
      await hold.promise;
      staleBefore = p.isStale();
      // A long batch heartbeats; the heartbeat is how a member learns that the group is rebalancing.
      await eventually('the batch turns stale', async () => {
        await p.heartbeat();
        return p.isStale();
      });
      staleSeen = true;
      await p.commit('2'); // processed offsets 0 and 1 only
    },
  });
  await eventually('a holds the batch of partition 1', () => a.seen.filter((s) => s.partition === 1).length === 3);
  const b = await startConsumer(topic, group, { ready: false });
  await sleep(300);
  assert.equal(b.seen.length, 0, 'the new member waits while the old batch is in flight');
  assert.equal(staleBefore, undefined);
  hold.open();
  await eventually('partition 1 is read again after the rebalance', () => [...a.seen, ...b.seen].filter((s) => s.partition === 1).length >= 4);
  assert.equal(staleSeen, true);
  // Only one of the two owns partition 1 after the rebalance; a's first three of it are the held batch.
  const again = [...a.seen.filter((s) => s.partition === 1).slice(3), ...b.seen.filter((s) => s.partition === 1)];
  assert.equal(again[0].offset, 2, 'the partition resumes at the old owner\u2019s commit');
  await Promise.all([a.consumer.stop(), b.consumer.stop()]);
});

test('eachBatch throwing: run() rejects with that error, kafkajs does not retry, the batch goes to the next member', async () => {
  const topic = await topicWith(1);
  const group = names.group();
  await produce(topic, msgs(5));
  const boom = new Error('boom');
  let calls = 0;
  const bad = await startConsumer(topic, group, {
    ready: false,
    handler: async () => {
      calls += 1;
      throw boom;
    },
  });
  await assert.rejects(within('run() rejects', bad.running), (err) => err === boom);
  assert.deepEqual(bad.consumer.assignment(), []);
  await sleep(500);
  assert.equal(calls, 1, 'the failing batch was not retried');
  const good = await startConsumer(topic, group, { handler: async (p) => p.commit() });
  await eventually('the group committed everything', async () => (await groupLag(transport, group, topic)).total === 0);
  assert.deepEqual(
    good.seen.map((s) => s.offset),
    [0, 1, 2, 3, 4],
  );
  await good.consumer.stop();
  await bad.consumer.disconnect();
});

test('eachBatchAutoResolve: false fetches again what was not resolved', async () => {
  const topic = await topicWith(1);
  await produce(topic, msgs(6));
  let calls = 0;
  const outside: unknown[] = [];
  const c = await startConsumer(topic, names.group(), {
    eachBatchAutoResolve: false,
    handler: async (p) => {
      calls += 1;
      // First call: process only the first two messages, as a stage cut short by stop() would.
      const upTo = calls === 1 ? 1 : p.batch.messages.length - 1;
      p.resolveOffset(p.batch.messages[upTo].offset);
      try {
        p.resolveOffset('99');
      } catch (e) {
        outside.push(e);
      }
    },
  });
  await eventually('10 deliveries', () => c.seen.length >= 10);
  await c.consumer.stop();
  assert.deepEqual(
    c.seen.map((s) => s.offset),
    [0, 1, 2, 3, 4, 5, 2, 3, 4, 5],
  );
  assert.ok(outside.length >= 2 && outside.every((e) => e instanceof TransportError && /outside the batch/.test(e.message)));
});

test('pause() and resume() a partition', async () => {
  const topic = await topicWith(2);
  const c = await startConsumer(topic, names.group());
  c.consumer.pause([{ topic, partitions: [0] }]);
  await produce(
    topic,
    [0, 1, 0, 1].map((partition, i) => ({ key: `k${i}`, value: utf8(`v${i}`), partition })),
  );
  await eventually('partition 1', () => c.seen.length >= 2);
  await sleep(400);
  assert.deepEqual(
    c.seen.map((s) => s.partition),
    [1, 1],
  );
  c.consumer.resume([{ topic }]);
  await eventually('partition 0 after resume', () => c.seen.length >= 4);
  assert.deepEqual(
    c.seen.slice(2).map((s) => s.partition),
    [0, 0],
  );
  await c.consumer.stop();
});

test('setGroupOffsets moves an idle group; it and deleteGroups are refused while the group runs', async () => {
  const topic = await topicWith(1);
  const group = names.group();
  await produce(topic, msgs(5));
  await transport.setGroupOffsets(group, topic, [{ partition: 0, offset: '3' }]);
  assert.deepEqual(await transport.groupOffsets(group, topic), [{ partition: 0, offset: '3' }]);
  await assert.rejects(transport.setGroupOffsets(group, topic, [{ partition: 0, offset: '9' }]), /past the end/);
  const c = await startConsumer(topic, group);
  await eventually('2 messages', () => c.seen.length >= 2);
  assert.deepEqual(
    c.seen.map((s) => s.offset),
    [3, 4],
  );
  await assert.rejects(transport.setGroupOffsets(group, topic, [{ partition: 0, offset: '0' }]), /running members/);
  await assert.rejects(transport.deleteGroups([group]), /running members/);
  await c.consumer.stop();
  await transport.deleteGroups([group, names.group('never-existed')]);
  assert.deepEqual(await transport.groupOffsets(group, topic), [{ partition: 0, offset: '-1' }]);
});

test('groupLag combines watermarks and commits from the admin API', async () => {
  const topic = await topicWith(2);
  const group = names.group();
  await produce(
    topic,
    [0, 0, 0, 1, 1].map((partition, i) => ({ key: `k${i}`, value: utf8('x'), partition })),
  );
  await transport.setGroupOffsets(group, topic, [{ partition: 0, offset: '2' }]);
  const lag = await groupLag(transport, group, topic);
  assert.deepEqual(
    lag.partitions.map((p) => [p.partition, p.high, p.committed, p.lag]),
    [
      [0, 3, 2, 1],
      [1, 2, undefined, 2],
    ],
  );
  assert.equal(lag.total, 3);
  // A member that is not running may commit for its idle group too (as on the memory transport).
  const idle = transport.consumer({ groupId: group });
  await idle.connect();
  await idle.commit(topic, 1, '2');
  assert.equal((await groupLag(transport, group, topic)).total, 1);
  await idle.disconnect();
});

test('waitForMessages reads with a fresh group and times out with a count', async () => {
  const topic = await topicWith(3);
  const producer = transport.producer();
  await producer.connect();
  await producer.send(
    topic,
    Array.from({ length: 9 }, (_, i) => ({ key: `k${i}`, value: utf8(`v${i}`) })),
  );
  const first = await waitForMessages(transport, topic, 9, { timeoutMs: 10_000 });
  assert.deepEqual(first.map((m) => text(m.value)).sort(), Array.from({ length: 9 }, (_, i) => `v${i}`).sort());
  for (const m of first) assert.equal(m.partition, partitionForKey(m.key, 3));
  // A second call sees the same messages: its group is new, and the helper commits nothing.
  assert.equal((await waitForMessages(transport, topic, 9, { timeoutMs: 10_000 })).length, 9);

  await assert.rejects(waitForMessages(transport, topic, 10, { timeoutMs: 3000 }), (err: unknown) => {
    assert.ok(err instanceof TransportTimeoutError);
    assert.match(err.message, /got 9 of 10/);
    return true;
  });

  // Later messages arrive while waiting.
  const waiting = waitForMessages(transport, topic, 11, { timeoutMs: 10_000 });
  await sleep(200);
  await producer.send(topic, [
    { key: 'late1', value: utf8('l1') },
    { key: 'late2', value: utf8('l2') },
  ]);
  assert.equal((await waiting).length, 11);
  await producer.disconnect();
});

test('close(): waits for in-flight batches, then refuses producers and consumers', async () => {
  const own = openTestKafka();
  const topic = names.topic();
  await own.createTopics([{ topic, partitions: 1 }]);
  await produce(topic, msgs(2), own);
  const hold = gate();
  let batchDone = false;
  const c = await startConsumer(topic, names.group(), {
    on: own,
    handler: async () => {
      await hold.promise;
      batchDone = true;
    },
  });
  const producer = own.producer();
  await producer.connect();
  await eventually('the batch is in flight', () => c.seen.length >= 2);
  let closed = false;
  const closing = own.close().then(() => {
    closed = true;
  });
  await assert.rejects(producer.send(topic, msgs(1)), TransportClosedError);
  await assert.rejects(own.consumer({ groupId: 'x' }).connect(), TransportClosedError);
  await assert.rejects(own.topicOffsets(topic), TransportClosedError);
  await sleep(200);
  assert.equal(closed, false, 'close() waits for the in-flight batch');
  hold.open();
  await closing;
  await c.running;
  assert.equal(batchDone, true);
});

test('stop() while the member is still joining stops it for good (kafkajs alone would orphan its runner)', async () => {
  const topic = await topicWith(1);
  const group = names.group();
  const c = await startConsumer(topic, group, { ready: false });
  await c.consumer.stop();
  await c.running;
  await produce(topic, msgs(3));
  await sleep(500);
  assert.equal(c.seen.length, 0, 'nothing consumed after stop()');
  // An orphaned runner would still be a member: the group would not be deletable.
  await transport.deleteGroups([group]);
});

test('an unreachable broker fails with a retriable TransportError after the configured retries', { timeout: 30_000 }, async () => {
  const unreachable = openTestKafka({
    brokers: ['127.0.0.1:1'],
    retry: { initialRetryTime: 20, retries: 1, maxRetryTime: 50 },
    connectionTimeoutMs: 500,
    logger: silentLogger(), // kafkajs logs each refused connection at error level
  });
  // Unbounded retries would hang here until the test's own timeout fails it.
  const producer = unreachable.producer();
  await assert.rejects(producer.connect(), (err: unknown) => {
    assert.ok(err instanceof TransportError);
    assert.equal(err.retriable, true);
    assert.match(err.message, /127\.0\.0\.1:1/);
    return true;
  });
  await assert.rejects(unreachable.topicOffsets('t'), TransportError);
  await unreachable.close();
});

test('lifecycle misuse gives clear errors', async () => {
  const topic = await topicWith(1);
  const c = transport.consumer({ groupId: names.group() });
  await assert.rejects(c.subscribe({ topics: [topic] }), /not connected/);
  await c.connect();
  await assert.rejects(c.run({ eachBatch: async () => undefined }), /no subscription/);
  await assert.rejects(c.subscribe({ topics: [names.topic('nope')] }), UnknownTopicError);
  await c.subscribe({ topics: [topic] });
  await assert.rejects(c.run({ eachBatch: async () => undefined, maxBatchSize: 0 }), /maxBatchSize/);
  const running = c.run({ eachBatch: async () => undefined });
  await assert.rejects(c.run({ eachBatch: async () => undefined }), /already running/);
  await c.disconnect();
  await running;
  await assert.rejects(c.connect(), TransportClosedError);
  assert.throws(() => transport.consumer({ groupId: '' }), /groupId/);
  assert.throws(() => new KafkaTransport({ brokers: [], clientId: 'x' }), /at least one broker/);
});

test('openTransport opens the transport a topology names', async () => {
  const memory = openTransport({ kind: 'memory', capacity: 3 });
  assert.ok(memory instanceof MemoryTransport);
  await memory.createTopics([{ topic: 't', partitions: 1 }]);
  // The topology's capacity bounds topics that stages create themselves: a live, stuck reader holds a send back.
  const hold = gate();
  const c = memory.consumer({ groupId: 'g' });
  await c.connect();
  await c.subscribe({ topics: ['t'] });
  const running = c.run({ eachBatch: () => hold.promise });
  const producer = memory.producer();
  await producer.connect();
  let sent = false;
  const sending = producer.send('t', msgs(5)).then(() => {
    sent = true;
  });
  await sleep(20);
  assert.equal(sent, false, 'capacity 3 holds back a send of 5');
  hold.open();
  await sending;
  await c.stop();
  await running;
  await memory.close();

  const kafka = openTransport({ kind: 'kafka', brokers: kafkaBrokers(), clientId: 'distillery-open' }, { kafka: { consumer: { maxWaitTimeMs: 100 } } });
  assert.ok(kafka instanceof KafkaTransport);
  assert.equal(kafka.describe(), `kafka://${kafkaBrokers().join(',')}`);
  assert.ok((await kafka.topicOffsets(await topicWith(1))).length === 1);
  await kafka.close();
});

test('kafkajs log entries go to the pino logger with their namespace', () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const log = kafkaLogCreator(logger)(kafkajs.logLevel.WARN);
  log({ namespace: 'Runner', level: kafkajs.logLevel.WARN, label: 'WARN', log: { timestamp: 'now', message: 'rebalancing', groupId: 'g' } });
  log({ namespace: 'Connection', level: kafkajs.logLevel.ERROR, label: 'ERROR', log: { timestamp: 'now', message: 'closed', broker: 'b:1' } });
  // A broker's error answer is the caller's to judge (a heartbeat during a rebalance is routine): debug, not error.
  log({ namespace: 'Connection', level: kafkajs.logLevel.ERROR, label: 'ERROR', log: { timestamp: 'now', message: 'Response Heartbeat(key: 12, version: 3)' } });
  assert.equal(lines.length, 3);
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.kafkajs]),
    [
      [40, 'rebalancing', 'Runner'],
      [50, 'closed', 'Connection'],
      [20, 'Response Heartbeat(key: 12, version: 3)', 'Connection'],
    ],
  );
  assert.equal(lines[0].groupId, 'g');
  assert.equal(lines[0].timestamp, undefined, 'pino stamps its own time');
});

// Exactly-once consume → produce against the real broker: aborted transactions, fenced zombies, rebalances.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaTransport, KafkaTransportConsumer } from '../../src/transport/kafka.ts';
import { transactionalId } from '../../src/transport/kafka_transactions.ts';
import { NotAssignedError, TransportTimeoutError, waitForMessages, type EachBatchPayload, type OutgoingMessage } from '../../src/transport/transport.ts';
import { KafkaTestNames, eventually, openTestKafka, within } from '../helpers/kafka.ts';
import { gate, msgs, utf8 } from '../helpers/transport_fixtures.ts';

let transport: KafkaTransport;
const names = new KafkaTestNames('distillery-txn-test');
const others: KafkaTransport[] = [];

before(() => {
  transport = openTestKafka();
});

after(async () => {
  for (const t of others) await t.close();
  if (transport === undefined) return;
  await names.cleanup(transport);
  await transport.close();
});

async function topicWith(partitions: number, label: string): Promise<string> {
  const topic = names.topic(label);
  await transport.createTopics([{ topic, partitions }]);
  return topic;
}

async function produce(topic: string, messages: OutgoingMessage[]): Promise<void> {
  const producer = transport.producer();
  await producer.connect();
  await producer.send(topic, messages);
  await producer.disconnect();
}

/** Messages appended to a topic, aborted ones and transaction markers included. */
async function appended(topic: string): Promise<number> {
  return (await transport.topicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
}

/** What a read_committed reader (kafkajs's default, our consumers') sees: `expected` messages and then nothing more. */
async function readCommitted(topic: string, expected: number): Promise<string[]> {
  const seen = expected === 0 ? [] : await waitForMessages(transport, topic, expected, { timeoutMs: 20_000 });
  // Nothing beyond: asking for one more times out.
  await assert.rejects(waitForMessages(transport, topic, expected + 1, { timeoutMs: 1500 }), TransportTimeoutError);
  return seen.map((m) => m.key);
}

interface Worker {
  consumer: KafkaTransportConsumer;
  running: Promise<void>;
}

/** An exactly-once worker: each batch's messages go to `out` (same keys) with the batch's commit, through `handler`. */
async function startWorker(on: KafkaTransport, input: string, groupId: string, handler: (p: EachBatchPayload, outputs: OutgoingMessage[]) => Promise<void>): Promise<Worker> {
  const consumer = on.consumer({ groupId, clientId: 'txn-test' });
  await consumer.connect();
  await consumer.subscribe({ topics: [input], fromBeginning: true });
  const running = consumer.run({
    exactlyOnce: true,
    maxBatchSize: 5,
    eachBatch: (p) => handler(p, p.batch.messages.map((m) => ({ key: m.key, value: m.value }))),
  });
  running.catch(() => undefined);
  return { consumer, running };
}

test('transactional ids name the input partition', () => {
  assert.equal(transactionalId('teacher', 'images', 3), 'teacher-images-3');
});

test('a batch aborted mid-transaction leaves nothing visible to read_committed readers and is redone', { timeout: 90_000 }, async () => {
  const input = await topicWith(1, 'in');
  const out = await topicWith(2, 'out');
  const big = await topicWith(1, 'big');
  const group = names.group();
  await produce(input, msgs(8));
  // The first attempt also sends a record over the broker's max.message.bytes: the broker appends the other records of
  // the request inside the transaction and refuses that one, so the transaction fails half written and is aborted.
  const failing = await startWorker(transport, input, group, async (p, outputs) => {
    await p.produceAndCommit([
      { topic: out, messages: outputs },
      { topic: big, messages: [{ key: 'huge', value: new Uint8Array(2 * 1024 * 1024) }] },
    ]);
  });
  await assert.rejects(within('the failing worker stops', failing.running, 60_000), /too large|MESSAGE_TOO_LARGE|larger/i);
  await failing.consumer.disconnect();
  assert.equal((await transport.groupOffsets(group, input))[0].offset, '-1', 'and committed nothing');
  assert.deepEqual(await readCommitted(out, 0), [], 'read_committed readers see none of it');

  const redo = await startWorker(transport, input, group, async (p, outputs) => p.produceAndCommit([{ topic: out, messages: outputs }]));
  await eventually('the group committed everything', async () => (await transport.groupOffsets(group, input))[0].offset === '8', { timeoutMs: 30_000, intervalMs: 200 });
  const keys = await readCommitted(out, 8);
  assert.deepEqual([...keys].sort(), msgs(8).map((m) => m.key).sort(), 'every input once');
  // The log holds more than that: the aborted attempt's records and the transaction markers, skipped by readers.
  assert.ok((await appended(out)) > 8, `the aborted attempt wrote to the log (${await appended(out)} records)`);
  await redo.consumer.stop();
  await redo.running;
});

test('a zombie (a member evicted while holding a batch) is fenced: its late transaction is refused and invisible', { timeout: 90_000 }, async () => {
  const input = await topicWith(1, 'in');
  const out = await topicWith(1, 'out');
  const group = names.group();
  await produce(input, msgs(5));
  // The zombie's own transport (another process, in effect) with a short session so that holding a batch evicts it.
  const zombieSide = openTestKafka({ consumer: { sessionTimeoutMs: 2000, rebalanceTimeoutMs: 3000, heartbeatIntervalMs: 200 } });
  others.push(zombieSide);
  const held = gate();
  let outcome: unknown = 'not reached';
  let zombieBatches = 0;
  const zombie = await startWorker(zombieSide, input, group, async (p, outputs) => {
    zombieBatches += 1;
    if (zombieBatches > 1) return;
    await held.promise;
    outcome = await p.produceAndCommit([{ topic: out, messages: outputs.map((m) => ({ ...m, value: utf8('zombie') })) }]).then(
      () => 'committed',
      (e: unknown) => e,
    );
  });
  await eventually('the zombie holds the batch', () => zombieBatches === 1, { timeoutMs: 30_000 });
  const owner = await startWorker(transport, input, group, async (p, outputs) => p.produceAndCommit([{ topic: out, messages: outputs }]));
  await eventually('the new owner committed everything', async () => (await transport.groupOffsets(group, input))[0].offset === '5', { timeoutMs: 45_000, intervalMs: 200 });
  held.open();
  await eventually('the zombie tried to commit', () => outcome !== 'not reached', { timeoutMs: 30_000 });
  assert.ok(outcome instanceof NotAssignedError, `the zombie's transaction is refused (${String(outcome)})`);
  const values = (await waitForMessages(transport, out, 5, { timeoutMs: 20_000 })).map((m) => new TextDecoder().decode(m.value));
  assert.ok(!values.includes('zombie'), 'nothing of the zombie is visible');
  assert.deepEqual(await readCommitted(out, 5), msgs(5).map((m) => m.key));
  await owner.consumer.stop();
  await zombie.consumer.disconnect();
});

test('a rebalance between two workers mid-stream yields every output exactly once', { timeout: 120_000 }, async () => {
  const input = await topicWith(4, 'in');
  const out = await topicWith(2, 'out');
  const group = names.group();
  const n = 200;
  await produce(input, msgs(n));
  const slow = async (p: EachBatchPayload, outputs: OutgoingMessage[]): Promise<void> => {
    await sleep(30);
    await p.produceAndCommit([{ topic: out, messages: outputs }]);
  };
  const a = await startWorker(transport, input, group, slow);
  await eventually('a is part way through', async () => (await appended(out)) >= 20, { timeoutMs: 30_000, intervalMs: 50 });
  const bSide = openTestKafka();
  others.push(bSide);
  const b = await startWorker(bSide, input, group, slow);
  await eventually('both workers own partitions', () => a.consumer.assignment().length === 2 && b.consumer.assignment().length === 2, { timeoutMs: 30_000, intervalMs: 50 });
  // And a leaves mid-stream: b takes everything back.
  await a.consumer.stop();
  await eventually(
    'the group committed everything',
    async () => (await transport.groupOffsets(group, input)).reduce((s, o) => s + Math.max(0, Number(o.offset)), 0) === n,
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  const keys = await readCommitted(out, n);
  assert.equal(new Set(keys).size, n, 'no output twice');
  await b.consumer.stop();
});

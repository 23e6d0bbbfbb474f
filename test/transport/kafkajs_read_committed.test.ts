// read_committed as the Java client has it: no message of an aborted transaction reaches a reader, whatever the order the broker lists them in.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { filterAborted, type FetchedRecord } from '../../src/transport/kafkajs.ts';
import type { KafkaTransport } from '../../src/transport/kafka.ts';
import { readAllMessages } from '../../src/transport/transport.ts';
import { KafkaTestNames, kafkaBrokers, openTestKafka } from '../helpers/kafka.ts';

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);

function record(offset: number, producerId: string, inTransaction = true, marker?: Buffer): FetchedRecord & { id: string } {
  return { id: `${offset}`, offset: String(offset), key: marker ?? Buffer.from(`k${offset}`), isControlRecord: marker !== undefined, batchContext: { producerId, inTransaction } };
}

const offsetsOf = (records: Array<{ id: string; isControlRecord?: boolean }>): string[] => records.filter((r) => !r.isControlRecord).map((r) => r.id);

test('an earlier transaction aborted later is hidden from its first message on (the broker lists aborts by where they end)', () => {
  // p2 begins at 0, p1 at 1; p1 aborts at 2, p3 commits 3 + marker 4, p2 writes 5 and aborts at 6.
  const messages = [record(0, 'p2'), record(1, 'p1'), record(2, 'p1', true, ABORT), record(3, 'p3'), record(4, 'p3', true, COMMIT), record(5, 'p2'), record(6, 'p2', true, ABORT)];
  const listedByEnd = [
    { producerId: 'p1', firstOffset: '1' },
    { producerId: 'p2', firstOffset: '0' },
  ];
  assert.deepEqual(offsetsOf(filterAborted({ messages, abortedTransactions: listedByEnd })), ['3']);
});

test('a fetch that starts inside several aborted transactions hides all of them at once', () => {
  // Fetched from offset 10; p1's and p2's aborted transactions began before it.
  const messages = [record(10, 'p2'), record(11, 'p1'), record(12, 'p9', false), record(13, 'p1', true, ABORT), record(14, 'p2'), record(15, 'p2', true, ABORT), record(16, 'p2')];
  const aborted = [
    { producerId: 'p1', firstOffset: '3' },
    { producerId: 'p2', firstOffset: '7' },
  ];
  // 12 is not transactional; 16 is p2's next (committed or still open) transaction, after its abort marker.
  assert.deepEqual(offsetsOf(filterAborted({ messages, abortedTransactions: aborted })), ['12', '16']);
});

test('without aborted transactions every record passes, and a producer is hidden again only by a new aborted transaction', () => {
  const messages = [record(0, 'p1'), record(1, 'p1', true, COMMIT), record(2, 'p1')];
  assert.deepEqual(offsetsOf(filterAborted({ messages, abortedTransactions: [] })), ['0', '2']);
  assert.deepEqual(offsetsOf(filterAborted({ messages, abortedTransactions: [{ producerId: 'p1', firstOffset: '2' }] })), ['0']);
});

let transport: KafkaTransport;
const names = new KafkaTestNames('distillery-readcommitted');

before(() => {
  transport = openTestKafka();
});

after(async () => {
  if (transport === undefined) return;
  await names.cleanup(transport);
  await transport.close();
});

test('on Kafka: interleaved transactions, the earlier aborted last — a read_committed reader sees only the committed one', { timeout: 120_000 }, async () => {
  const topic = names.topic('interleaved');
  await transport.createTopics([{ topic, partitions: 1 }]);
  const kafka = new kafkajs.Kafka({ brokers: kafkaBrokers(), clientId: 'read-committed-test', logLevel: kafkajs.logLevel.NOTHING });
  const producers = await Promise.all(
    ['long', 'short', 'committed'].map(async (name) => {
      const p = kafka.producer({ transactionalId: `${topic}-${name}`, idempotent: true, maxInFlightRequests: 1 });
      await p.connect();
      return p;
    }),
  );
  const [long, short, committed] = producers;
  const send = (t: Awaited<ReturnType<typeof long.transaction>>, key: string) => t.send({ topic, acks: -1, messages: [{ key, value: key, partition: 0 }] });
  try {
    const tLong = await long.transaction();
    await send(tLong, 'aborted-long-1');
    const tShort = await short.transaction();
    await send(tShort, 'aborted-short');
    await tShort.abort();
    const tCommitted = await committed.transaction();
    await send(tCommitted, 'committed');
    await tCommitted.commit();
    await send(tLong, 'aborted-long-2');
    await tLong.abort();
  } finally {
    await Promise.all(producers.map((p) => p.disconnect()));
  }
  const seen = await readAllMessages(transport, topic, { idleMs: 1500 });
  assert.deepEqual(
    seen.map((m) => m.key),
    ['committed'],
  );
});

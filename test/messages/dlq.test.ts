import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DLQ_HEADERS, MAX_ERROR_MESSAGE_LENGTH, buildDlqRecord, readDlqRecord } from '../../src/messages/dlq.ts';
import { MessageDecodeError } from '../../src/messages/errors.ts';
import { decodeSample } from '../../src/messages/sample.ts';
import { DEFAULT_TOPICS } from '../../src/messages/topics.ts';
import { MemoryTransport } from '../../src/transport/memory.ts';
import { waitForMessages } from '../../src/transport/transport.ts';

const garbage = new TextEncoder().encode('definitely not a sample');

function decodeError(): MessageDecodeError {
  try {
    decodeSample(garbage);
  } catch (err) {
    if (err instanceof MessageDecodeError) return err;
  }
  assert.fail('expected a MessageDecodeError');
}

test('a DLQ record keeps key and bytes and says where and why it failed', () => {
  const error = decodeError();
  const now = new Date('2024-05-01T12:00:00Z');
  const record = buildDlqRecord({
    stage: 'student',
    error,
    now,
    source: { topic: 'distillery.samples', partition: 3, offset: '1234', key: 'img-9', value: garbage, headers: { trace: 'abc' } },
  });
  assert.equal(record.key, 'img-9');
  assert.deepEqual(record.value, garbage);
  assert.deepEqual(record.headers, {
    trace: 'abc',
    [DLQ_HEADERS.stage]: 'student',
    [DLQ_HEADERS.errorClass]: 'MessageDecodeError',
    [DLQ_HEADERS.errorMessage]: error.message,
    [DLQ_HEADERS.errorReason]: 'bad-magic',
    [DLQ_HEADERS.originalTopic]: 'distillery.samples',
    [DLQ_HEADERS.originalPartition]: '3',
    [DLQ_HEADERS.originalOffset]: '1234',
    [DLQ_HEADERS.failedAt]: '2024-05-01T12:00:00.000Z',
    [DLQ_HEADERS.attempts]: '1',
  });
});

test('attempts count up when a replayed message fails again; records without the header read as 1', () => {
  const source = { topic: 'in', partition: 0, offset: '3', key: 'k', value: garbage };
  const first = buildDlqRecord({ stage: 'teacher', error: decodeError(), source });
  assert.equal(readDlqRecord({ key: 'k', value: garbage, headers: first.headers ?? {} }).attempts, 1);
  // A replay sends the original headers back with the count; failing again adds one.
  const again = buildDlqRecord({ stage: 'teacher', error: decodeError(), source: { ...source, offset: '9', headers: { [DLQ_HEADERS.attempts]: '1' } } });
  assert.equal(again.headers?.[DLQ_HEADERS.attempts], '2');
  const legacy = { ...first.headers };
  delete legacy[DLQ_HEADERS.attempts];
  assert.equal(readDlqRecord({ key: 'k', value: garbage, headers: legacy }).attempts, 1);
});

test('long messages are cut, non-Error throws are described, a stale reason from an earlier failure is dropped', () => {
  const long = buildDlqRecord({ stage: 's', error: new TypeError('x'.repeat(5000)), source: { topic: 't', partition: 0, offset: '0', key: 'k', value: garbage } });
  assert.equal(long.headers?.[DLQ_HEADERS.errorMessage]?.length, MAX_ERROR_MESSAGE_LENGTH);
  assert.equal(long.headers?.[DLQ_HEADERS.errorClass], 'TypeError');
  const thrown = buildDlqRecord({
    stage: 's',
    error: 'just a string',
    source: { topic: 't', partition: 0, offset: '0', key: 'k', value: garbage, headers: { [DLQ_HEADERS.errorReason]: 'truncated' } },
  });
  assert.equal(thrown.headers?.[DLQ_HEADERS.errorClass], 'string');
  assert.equal(thrown.headers?.[DLQ_HEADERS.errorMessage], 'just a string');
  assert.equal(thrown.headers?.[DLQ_HEADERS.errorReason], undefined);
});

test('readDlqRecord reads it back and refuses records without our headers', () => {
  const record = buildDlqRecord({ stage: 'teacher', error: decodeError(), source: { topic: 'in', partition: 1, offset: '7', key: 'k', value: garbage, headers: { a: 'b' } } });
  const back = readDlqRecord({ key: record.key, value: record.value, headers: record.headers ?? {} });
  assert.equal(back.stage, 'teacher');
  assert.equal(back.errorReason, 'bad-magic');
  assert.deepEqual(back.original, { topic: 'in', partition: 1, offset: '7' });
  assert.deepEqual(back.headers, { a: 'b' });
  assert.throws(() => readDlqRecord({ key: 'k', value: garbage, headers: {} }), (err: unknown) => err instanceof MessageDecodeError && /dlq\.stage/.test(err.message));
});

test('end to end: a bad message goes to the DLQ topic through a transport', async () => {
  const transport = new MemoryTransport();
  await transport.createTopics([
    { topic: DEFAULT_TOPICS.samples, partitions: 2 },
    { topic: DEFAULT_TOPICS.dlq, partitions: 1 },
  ]);
  const producer = transport.producer();
  await producer.connect();
  await producer.send(DEFAULT_TOPICS.samples, [{ key: 'img-1', value: garbage }]);
  const consumer = transport.consumer({ groupId: 'student' });
  await consumer.connect();
  await consumer.subscribe({ topics: [DEFAULT_TOPICS.samples], fromBeginning: true });
  const running = consumer.run({
    eachBatch: async ({ batch, commit }) => {
      for (const m of batch.messages) {
        try {
          decodeSample(m.value);
        } catch (error) {
          await producer.send(DEFAULT_TOPICS.dlq, [buildDlqRecord({ stage: 'student', error, source: { ...m, topic: batch.topic, partition: batch.partition } })]);
        }
      }
      await commit();
    },
  });
  const [dead] = await waitForMessages(transport, DEFAULT_TOPICS.dlq, 1);
  const record = readDlqRecord(dead);
  assert.equal(record.key, 'img-1');
  assert.deepEqual(record.value, garbage);
  assert.equal(record.original.topic, DEFAULT_TOPICS.samples);
  assert.equal(record.errorReason, 'bad-magic');
  await transport.close();
  await running;
});

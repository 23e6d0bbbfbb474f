// `distillery dlq ls|show|replay`: the functions on MemoryTransport, and the command through main() on the real broker.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { countByReason, readDlq, reasonOf, replayEntries, selectEntries } from '../../src/cli/dlq.ts';
import { buildDlqRecord, DLQ_HEADERS, readDlqRecord } from '../../src/messages/dlq.ts';
import { MessageDecodeError } from '../../src/messages/errors.ts';
import { decodeImageRef, encodeImageRef, IMAGE_REF_VERSION } from '../../src/messages/image_ref.ts';
import { MemoryTransport } from '../../src/transport/memory.ts';
import { readTopic } from '../../src/transport/read_topic.ts';
import type { OutgoingMessage, Transport } from '../../src/transport/transport.ts';
import { cli, ok } from '../helpers/cli.ts';
import { KafkaTestNames, openTestKafka } from '../helpers/kafka.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ref = (key: string): Uint8Array => encodeImageRef({ v: IMAGE_REF_VERSION, imageId: key, bucket: 'b', key, etag: 'e', size: 10, split: 'unlabeled' });

/** Four dead letters from `images` (two truncated, one schema, one RangeError) and one record that is not ours. */
function deadLetters(images: string): OutgoingMessage[] {
  const fail = (offset: number, key: string, value: Uint8Array, error: Error, stage = 'teacher'): OutgoingMessage =>
    buildDlqRecord({ stage, error, source: { topic: images, partition: 0, offset: String(offset), key, value, headers: { trace: `t${offset}` } } });
  return [
    fail(3, 'img/a.jpg', ref('img/a.jpg'), new MessageDecodeError('ImageRef', 'truncated', 'cut short')),
    fail(5, 'img/b.jpg', ref('img/b.jpg'), new MessageDecodeError('ImageRef', 'schema', 'size: expected a number')),
    fail(8, 'img/c.jpg', ref('img/c.jpg'), new MessageDecodeError('ImageRef', 'truncated', 'cut short')),
    fail(9, 'img/d.jpg', ref('img/d.jpg'), new RangeError('class 5 is outside the teacher\'s 3 classes')),
    { key: 'stray', value: enc('written by something else'), headers: {} },
  ];
}

async function send(transport: Transport, topic: string, messages: OutgoingMessage[]): Promise<void> {
  const producer = transport.producer();
  await producer.connect();
  await producer.send(topic, messages);
  await producer.disconnect();
}

test('ls counts by reason, selection by offset/reason/all, replay sends the original bytes and headers back with the attempts', async () => {
  const transport = new MemoryTransport();
  try {
    await transport.createTopics([
      { topic: 'images', partitions: 1 },
      { topic: 'dlq', partitions: 1 },
    ]);
    await send(transport, 'dlq', deadLetters('images'));
    const entries = await readDlq(transport, 'dlq', { idleMs: 200 });
    assert.deepEqual(entries.map(reasonOf), ['truncated', 'schema', 'truncated', 'RangeError', 'unreadable']);
    assert.deepEqual(countByReason(entries), [
      { reason: 'truncated', stage: 'teacher', count: 2 },
      { reason: 'RangeError', stage: 'teacher', count: 1 },
      { reason: 'schema', stage: 'teacher', count: 1 },
      { reason: 'unreadable', stage: '-', count: 1 },
    ]);

    assert.deepEqual(selectEntries(entries, { reason: 'truncated' }).map((e) => e.offset), ['0', '2']);
    assert.deepEqual(selectEntries(entries, { offsets: ['0:3', '1'] }).map((e) => e.key), ['img/d.jpg', 'img/b.jpg']);
    assert.equal(selectEntries(entries, { all: true }).length, 4, 'all readable records');
    assert.throws(() => selectEntries(entries, { offsets: ['4'] }), /not a distillery DLQ record/);
    assert.throws(() => selectEntries(entries, { offsets: ['7'] }), /no DLQ record at 0:7/);
    assert.throws(() => selectEntries(entries, { all: true, reason: 'x' }), /exactly one/);

    assert.deepEqual(await replayEntries(transport, selectEntries(entries, { reason: 'truncated' })), { images: 2 });
    const replayed = await readTopic(transport, 'images', { idleMs: 200 });
    assert.deepEqual(replayed.map((m) => [m.key, decodeImageRef(m.value).key, m.headers]), [
      ['img/a.jpg', 'img/a.jpg', { trace: 't3', [DLQ_HEADERS.attempts]: '1' }],
      ['img/c.jpg', 'img/c.jpg', { trace: 't8', [DLQ_HEADERS.attempts]: '1' }],
    ]);
    // Failing again after the replay: the new DLQ record counts a second attempt.
    const again = buildDlqRecord({ stage: 'teacher', error: new Error('still bad'), source: { ...replayed[0], topic: 'images', partition: 0 } });
    assert.equal(readDlqRecord({ key: again.key, value: again.value, headers: again.headers ?? {} }).attempts, 2);
  } finally {
    await transport.close();
  }
});

const names = new KafkaTestNames('distillery-test-dlq');
const kafka = openTestKafka();
after(async () => {
  await names.cleanup(kafka);
  await kafka.close();
});

test('on Kafka: `dlq ls`, `dlq show` and `dlq replay` through the command line', async () => {
  const images = names.topic('images');
  const dlq = names.topic('dlq');
  await kafka.createTopics([
    { topic: images, partitions: 1 },
    { topic: dlq, partitions: 1 },
  ]);
  await send(kafka, dlq, deadLetters(images));
  const base = ['--topology', 'topologies/distributed.yaml', '--set', `topics.dlq.name=${dlq}`, '--idle', '1500'];

  const ls = ok(await cli('dlq', 'ls', ...base, '--records'));
  assert.match(ls.out, new RegExp(`${dlq.replace(/\./g, '\\.')}: 5 records`));
  assert.match(ls.out, /truncated\s+teacher\s+2/);
  assert.match(ls.out, /RangeError\s+teacher\s+1/);
  assert.match(ls.out, /unreadable\s+-\s+1/);
  assert.match(ls.out, /0:1 {2}schema {2}stage=teacher {2}from=.*images\[0\]@5 {2}attempts=1 {2}key=img\/b\.jpg/);
  const json = JSON.parse(ok(await cli('dlq', 'ls', ...base, '--json', '--reason', 'truncated')).out) as { total: number; counts: unknown[] };
  assert.deepEqual([json.total, json.counts], [2, [{ reason: 'truncated', stage: 'teacher', count: 2 }]]);

  const show = ok(await cli('dlq', 'show', '3', ...base));
  assert.match(show.out, /original: {2}\S+images partition 0 offset 9/);
  assert.match(show.out, /error: {5}RangeError: class 5 is outside the teacher's 3 classes/);
  assert.match(show.out, /attempts: {2}1/);
  assert.match(show.out, /value: {5}\d+ bytes, an ImageRef: unlabeled b\/img\/d\.jpg/);
  assert.match(show.out, /dlq\.stage: teacher/);
  assert.match(show.out, /trace: t9/);
  const missing = await cli('dlq', 'show', '0:99', ...base);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no record at 0:99/);

  const dry = ok(await cli('dlq', 'replay', ...base, '--reason', 'truncated', '--dry-run'));
  assert.match(dry.out, /would replay 2 records/);
  const replay = ok(await cli('dlq', 'replay', ...base, '--offset', '1,3'));
  assert.match(replay.out, new RegExp(`replayed 2 records: 2 to ${images.replace(/\./g, '\\.')}`));
  const back = await readTopic(kafka, images, { idleMs: 1500 });
  assert.deepEqual(back.map((m) => [m.key, m.headers[DLQ_HEADERS.attempts], m.headers.trace]), [
    ['img/b.jpg', '1', 't5'],
    ['img/d.jpg', '1', 't9'],
  ]);
  const none = await cli('dlq', 'replay', ...base);
  assert.equal(none.code, 1);
  assert.match(none.err, /exactly one of --offset, --reason or --all/);
});

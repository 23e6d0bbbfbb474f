// Student offsets: checkpoint keys, commit positions held back to the oldest untrained sample, seeking on resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsumedOffsets, offsetKey, offsetsForTopic, parseOffsetKey, rewindGroup, seekGroup } from '../../../src/stages/student/offsets.ts';
import { MemoryTransport } from '../../../src/transport/memory.ts';
import { silentLogger } from '../../../src/util/logger.ts';

test('offset keys round-trip and reject malformed keys', () => {
  assert.equal(offsetKey('distillery.samples', 3), 'distillery.samples:3');
  assert.deepEqual(parseOffsetKey('distillery.samples:3'), { topic: 'distillery.samples', partition: 3 });
  for (const bad of ['samples', ':1', 'samples:', 'samples:-1', 'samples:1.5', 'samples:x']) assert.equal(parseOffsetKey(bad), undefined, bad);
  assert.deepEqual(offsetsForTopic({ 'a:1': '5', 'a:0': '7', 'b:0': '1' }, 'a'), [
    { partition: 0, offset: '7' },
    { partition: 1, offset: '5' },
  ]);
});

test('positions are the next consumed offset, held back to the oldest sample not yet trained on', () => {
  const offsets = new ConsumedOffsets({ 't:1': '40' });
  for (let o = 0; o < 10; o++) offsets.done('t', 0, o);
  assert.deepEqual(offsets.positions([]), { 't:0': '10', 't:1': '40' });
  assert.deepEqual(
    offsets.positions([
      { topic: 't', partition: 0, offset: 7 },
      { topic: 't', partition: 0, offset: 4 },
    ]),
    { 't:0': '4', 't:1': '40' },
  );
  offsets.done('t', 1, 40);
  assert.deepEqual(offsets.positions([{ topic: 't', partition: 1, offset: 40 }]), { 't:0': '10', 't:1': '40' });
  assert.deepEqual(offsets.positions([]), { 't:0': '10', 't:1': '41' });
  assert.throws(() => new ConsumedOffsets({ nonsense: '1' }), /invalid offset key/);
});

test('seekGroup sets the checkpoint offsets, reads recreated partitions from the start and ignores foreign entries', async () => {
  const transport = new MemoryTransport();
  try {
    await transport.createTopics([{ topic: 's', partitions: 3 }]);
    const producer = transport.producer();
    await producer.connect();
    await producer.send('s', Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: new Uint8Array([i]), partition: 0 })));
    await producer.send('s', [{ key: 'x', value: new Uint8Array([1]), partition: 1 }]);
    await producer.disconnect();
    const seeked = await seekGroup(transport, 'student', 's', { 's:0': '3', 's:1': '9', 's:7': '1', 'other:0': '2' }, silentLogger());
    assert.deepEqual(seeked, [
      { partition: 0, offset: '3' },
      { partition: 1, offset: '0' },
    ]);
    assert.deepEqual(await transport.groupOffsets('student', 's'), [
      { partition: 0, offset: '3' },
      { partition: 1, offset: '0' },
      { partition: 2, offset: '-1' },
    ]);
    assert.deepEqual(await seekGroup(transport, 'student', 's', {}, silentLogger()), []);

    assert.equal(await rewindGroup(transport, 'student', 's', silentLogger()), true);
    assert.deepEqual(
      (await transport.groupOffsets('student', 's')).map((p) => p.offset),
      ['0', '0', '0'],
    );
    assert.equal(await rewindGroup(transport, 'never-committed', 's', silentLogger()), false);
    assert.deepEqual((await transport.groupOffsets('never-committed', 's')).map((p) => p.offset), ['-1', '-1', '-1']);
  } finally {
    await transport.close();
  }
});

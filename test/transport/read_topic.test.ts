// readTopic reads every partition to its log end at call time, in order, and leaves no group or commit behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryTransport } from '../../src/transport/memory.ts';
import { readTopic } from '../../src/transport/read_topic.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('reads all partitions up to their log end, sorted, then stops; an empty topic reads as nothing', async () => {
  const transport = new MemoryTransport();
  try {
    await transport.createTopics([
      { topic: 't', partitions: 3 },
      { topic: 'empty', partitions: 2 },
    ]);
    const producer = transport.producer();
    await producer.connect();
    await producer.send('t', [0, 1, 2, 3, 4, 5, 6].map((i) => ({ key: `k${i}`, value: enc(`v${i}`), partition: i % 2 === 0 ? 0 : 2 })));
    const messages = await readTopic(transport, 't', { idleMs: 200 });
    assert.deepEqual(
      messages.map((m) => `${m.partition}:${m.offset}:${m.key}`),
      ['0:0:k0', '0:1:k2', '0:2:k4', '0:3:k6', '2:0:k1', '2:1:k3', '2:2:k5'],
    );
    assert.deepEqual(await readTopic(transport, 'empty'), []);
    await producer.disconnect();
  } finally {
    await transport.close();
  }
});

test('messages appended while reading are left for the next read', async () => {
  const transport = new MemoryTransport();
  try {
    await transport.createTopics([{ topic: 't', partitions: 1 }]);
    const producer = transport.producer();
    await producer.connect();
    await producer.send('t', [{ key: 'a', value: enc('a') }, { key: 'b', value: enc('b') }]);
    const reading = readTopic(transport, 't', { idleMs: 300 });
    await producer.send('t', [{ key: 'late', value: enc('late') }]);
    assert.deepEqual((await reading).map((m) => m.key), ['a', 'b']);
    assert.deepEqual((await readTopic(transport, 't', { idleMs: 200 })).map((m) => m.key), ['a', 'b', 'late']);
    await producer.disconnect();
  } finally {
    await transport.close();
  }
});

test('a topic with records that delivers none in time is an error, not an empty answer', async () => {
  const transport = new MemoryTransport();
  try {
    await transport.createTopics([{ topic: 't', partitions: 1 }]);
    const producer = transport.producer();
    await producer.connect();
    await producer.send('t', [{ key: 'a', value: enc('a') }]);
    await producer.disconnect();
    // A consumer whose partition stops fetching before it hands over any record (as if the group never settled).
    const stuck = Object.create(transport) as MemoryTransport;
    stuck.consumer = (config) => {
      const c = transport.consumer(config);
      const run = c.run.bind(c);
      c.run = (options) =>
        run({
          ...options,
          eachBatch: async (payload) => {
            payload.pause();
          },
        });
      return c;
    };
    await assert.rejects(readTopic(stuck, 't', { firstMessageTimeoutMs: 100 }), /no record arrived within 100 ms/);
  } finally {
    await transport.close();
  }
});

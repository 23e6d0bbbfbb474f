// The observed transport: delegates to the real one, and its probe says ready only when connected and assigned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObservedTransport } from '../../src/observability/observed_transport.ts';
import { MemoryTransport } from '../../src/transport/memory.ts';
import { msgs } from '../helpers/transport_fixtures.ts';

test('starting → connecting → unassigned → ready → disconnected, with the traffic passing through', async () => {
  const inner = new MemoryTransport();
  const transport = new ObservedTransport(inner);
  assert.match(transport.probe() ?? '', /^starting: not connected to memory:\/\/ yet/);
  await transport.createTopics([{ topic: 't', partitions: 2 }]);
  const producer = transport.producer();
  const consumer = transport.consumer({ groupId: 'g' });
  assert.match(transport.probe() ?? '', /^connecting to memory:\/\//);
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: ['t'], fromBeginning: true });
  assert.equal(transport.probe(), 'consumer group g has no partition assigned (of t)');
  await producer.send('t', msgs(4));
  let seen = 0;
  let ready: string | undefined = 'never asked';
  const running = consumer.run({
    eachBatch: async ({ batch }) => {
      seen += batch.messages.length;
      ready = transport.probe();
      if (seen >= 4) void consumer.stop();
    },
  });
  await running;
  assert.equal(seen, 4);
  assert.equal(ready, undefined, 'ready while consuming its partitions');
  assert.deepEqual((await transport.topicOffsets('t')).map((w) => w.high).reduce((a, b) => Number(a) + Number(b), 0), 4);
  await consumer.disconnect();
  assert.equal(transport.probe(), 'disconnected from the transport');
  await producer.disconnect();
  await transport.close();
});

// distillery_consumer_lag: per partition from the transport's admin API, once per group, gone when unwatched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineMetrics } from '../../src/observability/metrics.ts';
import { MemoryTransport } from '../../src/transport/memory.ts';
import { partitionForKey } from '../../src/transport/transport.ts';
import { msgs } from '../helpers/transport_fixtures.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';

test('lag per partition, counted once for replicas, unreadable groups left out, removed when unwatched', async () => {
  const transport = new MemoryTransport();
  await transport.createTopics([{ topic: 'images', partitions: 2 }]);
  const producer = transport.producer();
  await producer.connect();
  const messages = msgs(6);
  await producer.send('images', messages);
  const perPartition = [0, 1].map((p) => messages.filter((m) => partitionForKey(m.key, 2) === p).length);
  await transport.setGroupOffsets('teacher', 'images', [{ partition: 0, offset: '1' }]);

  const metrics = new PipelineMetrics({ process: 'all', defaultMetrics: false });
  const lag = async (labels: Record<string, string>): Promise<number | undefined> =>
    sampleValue(parsePrometheus(await metrics.scrape()), 'distillery_consumer_lag', labels);
  const source = { admin: transport, stage: 'teacher', group: 'teacher', topic: 'images' };
  const unwatchA = metrics.watchLag(source);
  const unwatchB = metrics.watchLag({ ...source });
  const broken = metrics.watchLag({ admin: transport, stage: 'student', group: 'student', topic: 'no-such-topic' });
  assert.equal(await lag({ stage: 'teacher', topic: 'images', partition: '0' }), perPartition[0] - 1);
  assert.equal(await lag({ stage: 'teacher', topic: 'images', partition: '1' }), perPartition[1], 'never committed: the whole partition');
  assert.equal(await lag({ stage: 'teacher' }), 5, 'one replica or two, the group is reported once');
  assert.equal(await lag({ stage: 'student' }), undefined);
  broken();
  unwatchA();
  assert.equal(await lag({ stage: 'teacher' }), 5, 'still watched by the other replica');
  unwatchB();
  unwatchB();
  assert.equal(await lag({ stage: 'teacher' }), undefined);
  await producer.disconnect();
  await transport.close();
});

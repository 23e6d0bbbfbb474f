// namePrefix: every topic name and consumer group of a topology carries it; two prefixed pipelines share a transport apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTopology } from '../../src/topology/index.ts';
import { consumerGroupOf } from '../../src/topology/consumer_group.ts';
import { TopologyError } from '../../src/topology/errors.ts';

test('config.namePrefix goes in front of every topic and consumer group; stage names stay as written', async () => {
  const t = await loadTopology('topologies/distributed.yaml', { overrides: ['config.namePrefix=team-a.'], env: {} });
  assert.equal(t.namePrefix, 'team-a.');
  assert.deepEqual(Object.values(t.topics).map((x) => x.name), ['team-a.distillery.images', 'team-a.distillery.samples', 'team-a.distillery.rejected', 'team-a.distillery.dlq']);
  assert.ok(t.stages.some((s) => s.name === 'teacher'));
  assert.equal(consumerGroupOf(t, 'teacher'), 'team-a.teacher');
  const plain = await loadTopology('topologies/distributed.yaml', { env: {} });
  assert.equal(plain.topics.images.name, 'distillery.images');
  assert.equal(consumerGroupOf(plain, 'teacher'), 'teacher');
  await assert.rejects(loadTopology('topologies/distributed.yaml', { overrides: ['config.namePrefix=team a/'], env: {} }), (err: unknown) => err instanceof TopologyError && /namePrefix/.test(err.message));
});

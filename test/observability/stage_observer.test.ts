// observeStage: a stage's readiness under its instance name, its lag under its stage name, and how its end is recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessHealth } from '../../src/observability/health.ts';
import { PipelineMetrics } from '../../src/observability/metrics.ts';
import { observeStage } from '../../src/observability/stage_observer.ts';
import { MemoryTransport } from '../../src/transport/memory.ts';
import { testTopology } from '../stages/ingest/topology_fixture.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';

test('a replica reports readiness as itself and lag as its stage; failure fails the process, success finishes the replica', async () => {
  const topology = testTopology();
  const teacher = topology.stages.find((s) => s.kind === 'teacher');
  assert.ok(teacher);
  const transport = new MemoryTransport();
  await transport.createTopics(Object.values(topology.topics).map((t) => ({ topic: t.name, partitions: 1 })));
  const obs = { metrics: new PipelineMetrics({ process: 'all', defaultMetrics: false }), health: new ProcessHealth() };
  const a = observeStage(obs, topology, teacher, 'teacher#0', transport);
  const b = observeStage(obs, topology, teacher, 'teacher#1', transport);
  assert.equal(a.metrics, b.metrics, 'replicas share the stage metrics');
  assert.deepEqual(Object.keys(obs.health.readiness().body.reasons ?? {}), ['teacher#0', 'teacher#1']);
  const lag = async (): Promise<number | undefined> => sampleValue(parsePrometheus(await obs.metrics.scrape()), 'distillery_consumer_lag', { stage: 'teacher', topic: 'test.images' });
  assert.equal(await lag(), 0);

  a.follow(Promise.resolve());
  b.follow(Promise.reject(new Error('model does not load')));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(obs.health.liveness().body, { status: 'failed', error: { stage: 'teacher#1', message: 'model does not load' } });
  assert.equal(await lag(), undefined, 'both replicas ended: the group is no longer watched');
  await transport.close();
});

// One stage as a process: name lookup, refusing the memory transport, topic creation, a run to completion; `status` tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshotStatus, formatStatus, sampleStatus } from '../../src/cli/status.ts';
import { formatCounters, runStageProcess, stageByName } from '../../src/runner/stage_process.ts';
import { MemoryTransport } from '../../src/transport/memory.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { testTopology, tempStore } from '../stages/ingest/topology_fixture.ts';

test('stages are found by name; an unknown name lists the ones there are', () => {
  const topology = testTopology();
  assert.equal(stageByName(topology, 'teacher').kind, 'teacher');
  assert.throws(() => stageByName(topology, 'techer'), /no stage named 'techer' \(stages: ingest-unlabeled, teacher; or 'all' for the embedded runner\)/);
});

test('a stage alone refuses the memory transport: it cannot connect processes', async () => {
  await assert.rejects(
    runStageProcess({ topology: testTopology(), stageName: 'teacher', logger: silentLogger(), signal: new AbortController().signal }),
    /stage 'teacher' alone needs a shared transport \(config.transport.kind: kafka\)/,
  );
});

test('an ingest stage process creates every topic with its partitions, lists the prefix and finishes', async () => {
  const tmp = await tempStore();
  try {
    const store = tmp.store;
    for (const n of [1, 2, 3]) await store.put(`corpus/unlabeled/images/${n}.jpg`, 'x');
    const topology = testTopology({ partitions: 2 });
    const transport = new MemoryTransport();
    const lines: string[] = [];
    const result = await runStageProcess({
      topology,
      stageName: 'ingest-unlabeled',
      logger: silentLogger(),
      signal: new AbortController().signal,
      transport,
      store,
      status: { write: (t: string) => lines.push(t) },
      statusEveryMs: 0,
    });
    assert.equal(result.stoppedBy, 'completed');
    assert.equal(result.counters.published, 3);
    for (const t of Object.values(topology.topics)) assert.equal((await transport.topicOffsets(t.name)).length, 2, t.name);
    assert.match(lines.join(''), /ingest-unlabeled: finished after [\d.]+ s — .*published 3/);

    // status: images has 3 messages and a consuming teacher group that never committed.
    const topics = await snapshotStatus(transport, topology);
    const images = topics.find((t) => t.role === 'images');
    assert.deepEqual(images?.consumers, ['teacher']);
    assert.equal(images?.partitions.reduce((s, p) => s + p.high, 0), 3);
    assert.equal(images?.partitions.reduce((s, p) => s + (p.groups.teacher?.lag ?? 0), 0), 3);
    const partition = images?.partitions.find((p) => p.high > 0);
    assert.ok(partition);
    await transport.setGroupOffsets('teacher', 'test.images', [{ partition: partition.partition, offset: String(partition.high) }]);
    const after = await sampleStatus(transport, topology, 50);
    const text = formatStatus(after);
    assert.match(text, /images → test\.images \(2 partitions, in 0\.0 msg\/s\)/);
    assert.match(text, new RegExp(`total\\s+3\\s+${3 - partition.high}\\n`));
    assert.match(text, /teacher: committing \d+\.\d msg\/s/);
    await transport.close();
  } finally {
    await tmp.cleanup();
  }
});

test('status says when a topic does not exist yet', async () => {
  const transport = new MemoryTransport();
  const text = formatStatus(await snapshotStatus(transport, testTopology()));
  assert.match(text, /images → test\.images: not created yet/);
});

test('counters print without zeros', () => {
  assert.equal(formatCounters({ consumed: 3, dlq: 0, rate: 1.23456 }), 'consumed 3, rate 1.235');
  assert.equal(formatCounters({ consumed: 0 }), 'idle');
});

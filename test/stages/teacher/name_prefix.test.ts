// Two pipelines with different namePrefixes and the same stage names share one transport without meeting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeImageRef } from '../../../src/messages/image_ref.ts';
import { runTeacherStage } from '../../../src/stages/teacher/run_teacher.ts';
import { consumerGroupOf } from '../../../src/topology/consumer_group.ts';
import type { CompiledTopology } from '../../../src/topology/types.ts';
import { CONFIDENT_BIAS, encodedImage, imageRef, useCpuBackend } from './fixtures.ts';
import { teacherContext, teacherHarness } from './stage_harness.ts';

await useCpuBackend();

function prefixed(t: CompiledTopology, namePrefix: string): CompiledTopology {
  const topics = Object.fromEntries(Object.entries(t.topics).map(([role, c]) => [role, { ...c, name: `${namePrefix}${c.name}` }])) as CompiledTopology['topics'];
  return { ...t, namePrefix, topics };
}

test('each pipeline reads its own images, writes its own samples and commits in its own group', async () => {
  const h = await teacherHarness({}, CONFIDENT_BIAS);
  try {
    const pipelines = [prefixed(h.topology, 'a.'), prefixed(h.topology, 'b.')];
    const producer = h.transport.producer();
    await producer.connect();
    for (const [i, t] of pipelines.entries()) {
      await h.transport.createTopics(Object.values(t.topics).map((c) => ({ topic: c.name, partitions: c.partitions })));
      const keys = i === 0 ? ['x/1.jpg', 'x/2.jpg'] : ['x/3.jpg'];
      for (const key of keys) await h.store.put(key, await encodedImage(48, 48, 'jpeg', key.length + i));
      await producer.send(t.topics.images.name, keys.map((key) => ({ key, value: encodeImageRef(imageRef(key)) })));
    }
    await producer.disconnect();
    const stages = pipelines.map((topology) => runTeacherStage(teacherContext(h, { topology })));
    await h.transport.waitUntil(() => pipelines.every((t) => h.transport.isDrained(consumerGroupOf(t, 'teacher'), t.topics.images.name)), { timeoutMs: 30_000 });
    await Promise.all(stages.map((s) => s.stop()));
    const [a, b] = await Promise.all(stages.map((s) => s.done));
    assert.deepEqual([a.samples, b.samples], [2, 1]);
    assert.deepEqual(h.transport.watermarks('a.test.samples').map((w) => w.high), [2]);
    assert.deepEqual(h.transport.watermarks('b.test.samples').map((w) => w.high), [1]);
    assert.deepEqual(await h.transport.groupOffsets('a.teacher', 'a.test.images'), [{ partition: 0, offset: '2' }]);
    assert.deepEqual(await h.transport.groupOffsets('b.teacher', 'b.test.images'), [{ partition: 0, offset: '1' }]);
    assert.deepEqual(h.transport.watermarks('test.samples').map((w) => w.high), [0], 'the unprefixed topics are untouched');
  } finally {
    await h.cleanup();
  }
});

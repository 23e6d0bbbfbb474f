// The student's consumer side on MemoryTransport: DLQ, ignored pools, waiting for buffer room, positions, close().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readDlqRecord } from '../../../src/messages/dlq.ts';
import { MAGIC, MAX_MESSAGE_BYTES } from '../../../src/messages/envelope.ts';
import { encodeSample } from '../../../src/messages/sample.ts';
import type { StageCounters } from '../../../src/stages/stage.ts';
import { SampleBuffer } from '../../../src/stages/student/sample_buffer.ts';
import { SampleIntake } from '../../../src/stages/student/sample_intake.ts';
import { STUDENT_COUNTERS } from '../../../src/stages/student/run_student.ts';
import { SeededRng } from '../../../src/train/rng.ts';
import { MemoryTransport } from '../../../src/transport/memory.ts';
import { waitForMessages, type OutgoingMessage } from '../../../src/transport/transport.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { ANCHORS, CLASSES, SIZE, makeSample, publish, sampleMessage, studentTopology, until } from './fixtures.ts';

const topology = studentTopology();
const SAMPLES = 'test.samples';
const DLQ = 'test.dlq';

interface Harness {
  transport: MemoryTransport;
  buffer: SampleBuffer;
  intake: SampleIntake;
  counters: StageCounters;
  stop: () => Promise<void>;
}

async function start(buffer: SampleBuffer, messages: OutgoingMessage[]): Promise<Harness> {
  const transport = new MemoryTransport();
  await transport.createTopics([SAMPLES, DLQ].map((topic) => ({ topic, partitions: 1 })));
  await publish(transport, SAMPLES, messages);
  const counters: StageCounters = Object.fromEntries(STUDENT_COUNTERS.map((c) => [c, 0]));
  const producer = transport.producer();
  await producer.connect();
  const intake = new SampleIntake({
    stageName: 'student',
    buffer,
    layout: { anchors: topology.anchors, inputSize: SIZE, numAnchors: ANCHORS, numClasses: CLASSES },
    dlqTopic: DLQ,
    send: (t, m) => producer.send(t, m),
    counters,
    logger: silentLogger(),
  });
  const consumer = transport.consumer({ groupId: 'student' });
  await consumer.connect();
  await consumer.subscribe({ topics: [SAMPLES], fromBeginning: true });
  const running = consumer.run({ eachBatch: intake.eachBatch, eachBatchAutoResolve: false, maxBatchSize: 32 });
  return {
    transport,
    buffer,
    intake,
    counters,
    stop: async () => {
      consumer.pause([{ topic: SAMPLES }]);
      await intake.close();
      await consumer.disconnect();
      await running;
      await producer.disconnect();
      await transport.close();
    },
  };
}

test('admits in offset order: DLQ for bad samples, waits for room instead of dropping fresh ones, positions hold back', async () => {
  const messages = [
    sampleMessage(await makeSample(topology, { id: 'l0', seed: 1, split: 'labeled' })),
    sampleMessage(await makeSample(topology, { id: 'u0', seed: 2 })),
    { key: 'garbage', value: Uint8Array.from([7, 7, 7]) },
    sampleMessage(await makeSample(topology, { id: 'l1', seed: 3, split: 'labeled' })),
    sampleMessage(await makeSample(topology, { id: 'foreign', seed: 4, anchorConfig: { scalesPerOctave: 2 } })),
    sampleMessage(await makeSample(topology, { id: 'u1', seed: 5 })),
    sampleMessage(await makeSample(topology, { id: 'l2', seed: 6, split: 'labeled' })),
    sampleMessage(await makeSample(topology, { id: 'u2', seed: 7 })),
  ];
  const h = await start(new SampleBuffer({ capacity: 10, labeledFraction: 0.5, labeledOnly: false, maxFresh: 4 }), messages);
  try {
    // Four fresh samples fill maxFresh: the consumer stops before l2 (offset 6) and waits.
    await until(() => h.counters.consumed === 6 && h.buffer.fresh() === 4, 'six messages handled');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual([h.counters.consumed, h.counters.labeled, h.counters.unlabeled, h.counters.dlq], [6, 2, 2, 2]);
    assert.deepEqual(h.intake.positions(), { [`${SAMPLES}:0`]: '0' }, 'nothing trained on yet: a restart would redeliver everything');

    const batch = h.buffer.draw(2, new SeededRng(1));
    assert.deepEqual(batch.map((s) => s.id), ['l0', 'u0']);
    await until(() => h.counters.consumed === 8, 'all handled');
    assert.deepEqual([h.counters.labeled, h.counters.unlabeled, h.buffer.fresh()], [3, 3, 4]);
    assert.deepEqual(h.intake.positions(), { [`${SAMPLES}:0`]: '3' }, 'held back to l1, the oldest sample not trained on');
    h.buffer.draw(6, new SeededRng(2));
    assert.deepEqual(h.intake.positions(), { [`${SAMPLES}:0`]: '8' });
    assert.deepEqual(h.intake.teachers, ['sha256:test']);
    assert.deepEqual(h.intake.teacherModels, [{ id: 'tiny-teacher', hash: 'sha256:test' }], 'the id samples name their teacher by, for the model card');

    const dlq = (await waitForMessages(h.transport, DLQ, 2)).map((m) => readDlqRecord(m));
    assert.deepEqual(
      dlq.map((d) => [d.key, d.stage, d.errorClass, d.errorReason, d.original.offset]),
      [
        ['garbage', 'student', 'MessageDecodeError', 'truncated', '2'],
        ['foreign', 'student', 'SampleMismatchError', 'anchor-layout', '4'],
      ],
    );
    assert.deepEqual(dlq[0].value, Uint8Array.from([7, 7, 7]), 'the original bytes are kept');
  } finally {
    await h.stop();
  }
});

test('close() cuts a wait for room short without admitting the waiting sample', { timeout: 30_000 }, async () => {
  const messages = await Promise.all([1, 2, 3].map(async (seed) => sampleMessage(await makeSample(topology, { id: `u${seed}`, seed }))));
  const h = await start(new SampleBuffer({ capacity: 10, labeledFraction: 0.5, labeledOnly: false, maxFresh: 2 }), messages);
  try {
    await until(() => h.counters.consumed === 2, 'two handled');
    // Nothing ever makes room, so a close() that waited for room would hang here until the test's timeout.
    await h.intake.close();
    assert.deepEqual([h.counters.consumed, h.buffer.size], [2, 2]);
    assert.deepEqual(h.intake.positions(), { [`${SAMPLES}:0`]: '0' });
    // Closed, the handler pauses its partition instead of letting the transport hand the batch over in a loop.
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(h.counters.consumed, 2);
  } finally {
    await h.stop();
  }
});

test('waiting for room while the buffer changes often leaves no timer or listener behind per change', { timeout: 30_000 }, async () => {
  const messages = await Promise.all([1, 2, 3, 4].map(async (seed) => sampleMessage(await makeSample(topology, { id: `u${seed}`, seed }))));
  const h = await start(new SampleBuffer({ capacity: 10, labeledFraction: 0.5, labeledOnly: false, maxFresh: 2 }), messages);
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w.name);
  };
  process.on('warning', onWarning);
  try {
    await until(() => h.counters.consumed === 2, 'two handled');
    const [used] = h.buffer.draw(1, new SeededRng(1));
    await until(() => h.counters.consumed === 3 && h.buffer.fresh() === 2, 'the third admitted, the fourth waits');
    // Each replayed sample changes the buffer without making room for a fresh one: more changes than Node's limit of
    // 10 listeners, well within one heartbeat interval. Each used to leave a pending timer listening on the closing signal.
    for (let i = 0; i < 14; i++) {
      h.buffer.add({ ...used, uses: 1 });
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual([h.counters.consumed, h.buffer.fresh()], [3, 2], 'still waiting: no room was made');
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
    h.buffer.draw(2, new SeededRng(2));
    await until(() => h.counters.consumed === 4, 'the fourth admitted once there is room');
  } finally {
    process.off('warning', onWarning);
    await h.stop();
  }
});

test('a labeled-only student counts unlabeled samples as ignored and never buffers them', async () => {
  const messages = [
    sampleMessage(await makeSample(topology, { id: 'u0', seed: 2 })),
    sampleMessage(await makeSample(topology, { id: 'l0', seed: 1, split: 'labeled' })),
    sampleMessage(await makeSample(topology, { id: 'u1', seed: 3 })),
  ];
  const h = await start(new SampleBuffer({ capacity: 10, labeledFraction: 0.5, labeledOnly: true }), messages);
  try {
    await until(() => h.counters.consumed === 3, 'three handled');
    assert.deepEqual([h.counters.ignored, h.counters.labeled, h.counters.unlabeled, h.buffer.count('unlabeled')], [2, 1, 0, 0]);
    assert.deepEqual(h.intake.positions(), { [`${SAMPLES}:0`]: '1' }, 'ignored samples are done; l0 is not trained on yet');
  } finally {
    await h.stop();
  }
});

test('hostile samples — over the size limit, of a future schema, of another anchor layout — are dead-lettered with their reason', async () => {
  const good = await makeSample(topology, { id: 'u0', seed: 2 });
  const future = Uint8Array.from(encodeSample(good));
  future[4] = 2; // envelope version from a newer build
  const oversized = new Uint8Array(MAX_MESSAGE_BYTES + 1);
  oversized.set(MAGIC);
  const messages: OutgoingMessage[] = [
    { key: 'oversized', value: oversized },
    { key: 'future', value: future },
    sampleMessage(await makeSample(topology, { id: 'layout', seed: 3, anchorConfig: { ratios: [1] } })),
    sampleMessage(good),
  ];
  const h = await start(new SampleBuffer({ capacity: 10, labeledFraction: 0.5, labeledOnly: false }), messages);
  try {
    await until(() => h.counters.consumed === 4, 'all handled');
    assert.deepEqual([h.counters.dlq, h.counters.unlabeled], [3, 1], 'the good sample after them is admitted');
    const dlq = (await waitForMessages(h.transport, DLQ, 3)).map((m) => readDlqRecord(m));
    assert.deepEqual(
      dlq.map((d) => [d.key, d.errorClass, d.errorReason]),
      [
        ['oversized', 'MessageDecodeError', 'too-large'],
        ['future', 'MessageDecodeError', 'unsupported-version'],
        ['layout', 'SampleMismatchError', 'anchor-layout'],
      ],
    );
  } finally {
    await h.stop();
  }
});

test('messages handed over again (a rejoin restarts from the last commit) are skipped, not buffered twice', async () => {
  const messages = [0, 1, 2].map(async (i) => sampleMessage(await makeSample(topology, { id: `s${i}`, seed: i + 1, split: 'labeled' })));
  const h = await start(new SampleBuffer({ capacity: 10, labeledFraction: 0.5, labeledOnly: false }), await Promise.all(messages));
  try {
    await until(() => h.counters.consumed === 3, 'three handled');
    // Another group's consumer stands in for the rejoined one: it delivers offsets 0..2 once more.
    const again = h.transport.consumer({ groupId: 'rejoined' });
    await again.connect();
    await again.subscribe({ topics: [SAMPLES], fromBeginning: true });
    const running = again.run({ eachBatch: h.intake.eachBatch, eachBatchAutoResolve: false });
    await h.transport.whenDrained([{ groupId: 'rejoined', topic: SAMPLES, measure: 'processed' }]);
    await again.disconnect();
    await running;
    assert.equal(h.buffer.count('labeled'), 3);
    assert.deepEqual([h.counters.consumed, h.counters.labeled, h.counters.redelivered], [3, 3, 3]);
  } finally {
    await h.stop();
  }
});

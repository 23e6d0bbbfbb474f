// A teacher stage on MemoryTransport + a temporary local store: publish inputs, run until drained, read the outputs.
import type { ObjectStore } from '../../../src/io/object_store.ts';
import { encodeImageRef, type ImageRef } from '../../../src/messages/image_ref.ts';
import type { StageContext, StageCounters } from '../../../src/stages/stage.ts';
import { runTeacherStage, type TeacherStageConfig, type TeacherStageHooks } from '../../../src/stages/teacher/run_teacher.ts';
import type { CompiledTopology } from '../../../src/topology/types.ts';
import { MemoryTransport } from '../../../src/transport/memory.ts';
import { waitForMessages, type OutgoingMessage, type ReceivedMessage } from '../../../src/transport/transport.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { stageOf, tempStore, testTopology, type TopologyParts } from '../ingest/topology_fixture.ts';
import { saveTinyTeacher } from './fixtures.ts';

export const IMAGES = 'test.images';

export interface TeacherHarness {
  store: ObjectStore;
  transport: MemoryTransport;
  topology: CompiledTopology;
  cleanup: () => Promise<void>;
}

export async function teacherHarness(parts: TopologyParts, class0Bias?: number): Promise<TeacherHarness> {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  const topology = testTopology(parts);
  await saveTinyTeacher(store, 'models/teacher', { class0Bias, config: topology.teacher });
  await transport.createTopics(Object.values(topology.topics).map((t) => ({ topic: t.name, partitions: t.partitions })));
  return {
    store,
    transport,
    topology,
    cleanup: async () => {
      await transport.close();
      await cleanup();
    },
  };
}

export function teacherContext(h: TeacherHarness, extra: Partial<StageContext<TeacherStageConfig>> = {}): StageContext<TeacherStageConfig> {
  return { topology: h.topology, stage: stageOf(h.topology, 'teacher'), store: h.store, transport: h.transport, logger: silentLogger(), signal: new AbortController().signal, ...extra };
}

/** Publishes ImageRefs (encoded here) and raw messages, in order, to the images topic. */
export async function publishInputs(h: TeacherHarness, messages: Array<ImageRef | OutgoingMessage>): Promise<void> {
  const producer = h.transport.producer();
  await producer.connect();
  await producer.send(
    IMAGES,
    messages.map((m) => ('v' in m ? { key: m.key, value: encodeImageRef(m) } : m)),
  );
  await producer.disconnect();
}

/** Runs the stage until it has committed everything on the images topic, then stops it gracefully. */
export async function runToDrain(h: TeacherHarness, ctx: StageContext<TeacherStageConfig>, hooks?: TeacherStageHooks): Promise<StageCounters> {
  const stage = runTeacherStage(ctx, hooks);
  const endedEarly = stage.done.then(() => {
    throw new Error('teacher stage ended before draining its input');
  });
  await Promise.race([h.transport.waitUntil(() => h.transport.isDrained('teacher', IMAGES), { timeoutMs: 30_000 }), endedEarly]);
  await stage.stop();
  return stage.done;
}

export async function readOutputs(h: TeacherHarness, role: 'samples' | 'rejected' | 'dlq'): Promise<ReceivedMessage[]> {
  const topic = h.topology.topics[role].name;
  const count = h.transport.watermarks(topic).reduce((s, p) => s + p.high, 0);
  return waitForMessages(h.transport, topic, count);
}

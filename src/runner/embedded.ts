// The embedded runner: every stage of a topology in one process over the in-memory transport and a local store.
import { openStore as openStoreOf } from '../io/open_store.ts';
import type { ObjectStore } from '../io/object_store.ts';
import { observeStage, type Observability } from '../observability/stage_observer.ts';
import type { RunningStage, StageCounters } from '../stages/stage.ts';
import { startStage } from '../stages/start_stage.ts';
import { consumerGroupOf } from '../topology/consumer_group.ts';
import type { CompiledTopology, StageConfig } from '../topology/types.ts';
import { MemoryTransport } from '../transport/memory.ts';
import { startCpuMeter, type CpuUse } from '../util/cpu_meter.ts';
import type { Logger } from '../util/logger.ts';

export interface EmbeddedRunOptions {
  topology: CompiledTopology;
  logger: Logger;
  /** Aborting stops every stage gracefully (drain, commit, checkpoint). */
  signal?: AbortSignal;
  /** Store to use instead of the topology's (tests). */
  store?: ObjectStore;
  /** Called with a stage's counters whenever they change. */
  onProgress?: (stage: string, counters: Readonly<StageCounters>) => void;
  /** The process's metrics and health (`run all` serves them); every stage reports into them. */
  observability?: Observability;
}

export interface EmbeddedRunResult {
  /** Final counters per stage name. */
  counters: Record<string, StageCounters>;
  /** The transport, still open, so callers can read the topics (e.g. count rejections); close it when done. */
  transport: MemoryTransport;
  store: ObjectStore;
  /** The running stages (finished), for stage-specific accessors such as the student's history. */
  stages: RunningStage[];
  stoppedBy: 'completed' | 'signal';
  /** CPU of the whole process (every thread) over the run's wall time. */
  usage: CpuUse;
  /** When the teacher had labelled every listed image (absent when it never did, e.g. a step budget ended the run first). */
  teacherDrained?: { seconds: number; counters: Record<string, StageCounters> };
}

/** Opens the topology's store: a local directory or an S3 bucket (the transport stays in memory either way). */
export function openStore(topology: CompiledTopology): ObjectStore {
  return openStoreOf(topology.store);
}

/**
 * Runs the pipeline to completion: ingest lists everything, the teacher drains the images topic, and the
 * student trains its configured steps (or, with steps = 0, until the samples are consumed). Whichever comes
 * last ends the run; every other stage is then stopped gracefully.
 */
export async function runEmbedded(options: EmbeddedRunOptions): Promise<EmbeddedRunResult> {
  const { topology, logger } = options;
  const store = options.store ?? openStore(topology);
  const cpu = startCpuMeter();
  const capacity = topology.transport.kind === 'memory' ? topology.transport.capacity : 256;
  const transport = new MemoryTransport({ topicDefaults: { capacity } });
  // Created before any stage starts, so the bounded capacity applies (stages' own createTopics are no-ops then).
  await transport.createTopics(Object.values(topology.topics).map((t) => ({ topic: t.name, partitions: t.partitions, capacity })));

  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const running: { name: string; config: StageConfig; stage: RunningStage }[] = [];
  // Until the teachers stop, the student shares this event loop with them (and ingest) and pauses between steps.
  let teachersDone = false;
  const launch = (config: StageConfig): void => {
    for (let replica = 0; replica < config.parallelism; replica++) {
      const name = config.parallelism > 1 ? `${config.name}#${replica}` : config.name;
      const observed = options.observability && observeStage(options.observability, topology, config, name, transport);
      const stage = startStage({
        topology,
        stage: config,
        store,
        transport: observed?.transport ?? transport,
        logger: logger.child({ stage: name }),
        signal: controller.signal,
        onProgress: (counters) => options.onProgress?.(name, counters),
        metrics: observed?.metrics,
        sharedEventLoop: () => !teachersDone,
      });
      observed?.follow(stage.done);
      running.push({ name, config, stage });
    }
  };
  // Consumers first, so nothing waits on a group that does not exist yet; ingest last.
  for (const kind of ['student', 'teacher'] as const) topology.stages.filter((s) => s.kind === kind).forEach(launch);
  // Labeled splits before the unlabeled corpus: they are small, and the student mixes labeled:unlabeled from its first
  // step. Listed alongside, they would queue behind thousands of unlabeled images and reach the teacher last.
  const ingests = topology.stages.filter((s): s is Extract<StageConfig, { kind: 'ingest' }> => s.kind === 'ingest');
  const labeledFirst = ingests.filter((s) => s.options.split !== 'unlabeled' && !s.options.watch);
  labeledFirst.forEach(launch);
  try {
    await Promise.all(running.filter((r) => labeledFirst.includes(r.config as Extract<StageConfig, { kind: 'ingest' }>)).map((r) => r.stage.done));
  } catch (err) {
    await Promise.allSettled(running.map((r) => r.stage.stop()));
    options.signal?.removeEventListener('abort', onAbort);
    throw err;
  }
  ingests.filter((s) => !labeledFirst.includes(s)).forEach(launch);
  const byKind = (kind: StageConfig['kind']): RunningStage[] => running.filter((r) => r.config.kind === kind).map((r) => r.stage);
  const snapshot = (): Record<string, StageCounters> => Object.fromEntries(running.map((r) => [r.name, { ...r.stage.counters }]));
  let teacherDrained: EmbeddedRunResult['teacherDrained'];
  const failed = Promise.race(running.map((r) => r.stage.done.then(() => new Promise<never>(() => {}))));

  const pipelineDrained = (async () => {
    await Promise.all(byKind('ingest').map((s) => s.done));
    const teachers = topology.stages.filter((s) => s.kind === 'teacher');
    await transport.whenDrained(teachers.map((t) => ({ groupId: consumerGroupOf(topology, t.name), topic: topology.topics.images.name })), { signal: controller.signal });
    const seconds = cpu().wallSeconds;
    await Promise.all(byKind('teacher').map((s) => s.stop()));
    teachersDone = true;
    // After the stop: the teacher counts a model batch just after committing it, so at the drain the last one may be missing.
    teacherDrained = { seconds, counters: snapshot() };
    logger.info('teacher drained the images topic');
  })();

  const students = byKind('student');
  const studentsDone = Promise.all(students.map((s) => s.done)).then(() => undefined);
  const continuous = topology.stages.filter((s): s is Extract<StageConfig, { kind: 'student' }> => s.kind === 'student' && s.options.steps === 0);
  // A student with a step budget ends the run when it is done, even if images remain (a fixed budget); a
  // continuous student (steps 0) ends once the pipeline is drained and it has consumed every sample.
  const finished =
    students.length === 0
      ? pipelineDrained
      : Promise.race([
          studentsDone,
          pipelineDrained.then(async () => {
            if (continuous.length === 0) return studentsDone;
            await transport.whenDrained(
              continuous.map((s) => ({ groupId: consumerGroupOf(topology, s.name), topic: topology.topics.samples.name, measure: 'processed' as const })),
              { signal: controller.signal },
            );
          }),
        ]);
  const aborted = new Promise<'signal'>((resolve) => controller.signal.addEventListener('abort', () => resolve('signal'), { once: true }));
  let stoppedBy: EmbeddedRunResult['stoppedBy'] = 'completed';
  try {
    stoppedBy = await Promise.race([finished.then(() => 'completed' as const), aborted, failed]);
  } finally {
    // Stop whatever still runs (all of it on abort or failure), then wait for each to settle.
    await Promise.allSettled(running.map((r) => r.stage.stop()));
    await Promise.allSettled(running.map((r) => r.stage.done));
    options.signal?.removeEventListener('abort', onAbort);
  }
  return { counters: snapshot(), transport, store, stages: running.map((r) => r.stage), stoppedBy, usage: cpu(), teacherDrained };
}

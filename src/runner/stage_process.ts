// One stage of a topology as its own process (a pod): shared transport and store, graceful stop on SIGTERM.
import os from 'node:os';
import { openStore } from '../io/open_store.ts';
import type { ObjectStore } from '../io/object_store.ts';
import { observeStage, type Observability } from '../observability/stage_observer.ts';
import type { StageCounters } from '../stages/stage.ts';
import { startStage } from '../stages/start_stage.ts';
import type { CompiledTopology, StageConfig } from '../topology/types.ts';
import { openTransport } from '../transport/open_transport.ts';
import type { Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';

export interface StageProcessOptions {
  topology: CompiledTopology;
  /** Name of the stage in the topology. */
  stageName: string;
  logger: Logger;
  /** Aborting stops the stage gracefully: stop fetching → finish the in-flight batch → commit → disconnect. */
  signal: AbortSignal;
  /** Status lines (counters) go here every `statusEveryMs`. */
  status?: { write(text: string): unknown };
  /** Default 10 s; 0 turns status lines off. */
  statusEveryMs?: number;
  /** Injected in tests; by default opened from the topology. */
  transport?: Transport;
  store?: ObjectStore;
  /** This process's metrics and health (the caller serves them); the stage reports into them. */
  observability?: Observability;
}

export interface StageProcessResult {
  stage: string;
  counters: StageCounters;
  /** 'completed': the stage finished its work (ingest listed everything, the student ran its steps); 'signal': stopped. */
  stoppedBy: 'completed' | 'signal';
  seconds: number;
}

/** Finds a stage by name, or explains which names exist. */
export function stageByName(topology: CompiledTopology, name: string): StageConfig {
  const stage = topology.stages.find((s) => s.name === name);
  if (!stage) throw new Error(`${topology.source}: no stage named '${name}' (stages: ${topology.stages.map((s) => s.name).join(', ')}; or 'all' for the embedded runner)`);
  return stage;
}

/**
 * Runs one stage until it finishes or `signal` aborts. Every topic of the topology is created first (with its
 * partition count), so a stage started before its producer finds its input. A memory transport cannot connect
 * processes, so it is refused: use `run all` for that.
 */
export async function runStageProcess(options: StageProcessOptions): Promise<StageProcessResult> {
  const { topology, logger } = options;
  const stage = stageByName(topology, options.stageName);
  if (topology.transport.kind === 'memory' && options.transport === undefined) {
    throw new Error(`${topology.source}: stage '${stage.name}' alone needs a shared transport (config.transport.kind: kafka); the memory transport only connects stages inside \`distillery run all\``);
  }
  const started = performance.now();
  const transport = options.transport ?? openTransport(topology.transport, { logger });
  const store = options.store ?? openStore(topology.store);
  const log = logger.child({ stage: stage.name, host: os.hostname() });
  try {
    await transport.createTopics(Object.values(topology.topics).map((t) => ({ topic: t.name, partitions: t.partitions })));
    log.info({ transport: transport.describe(), store: store.describe(), kind: stage.kind }, 'stage starting');
    const observed = options.observability && observeStage(options.observability, topology, stage, stage.name, transport);
    const running = startStage({ topology, stage, store, transport: observed?.transport ?? transport, logger: log, signal: options.signal, metrics: observed?.metrics });
    observed?.follow(running.done);
    const every = options.statusEveryMs ?? 10_000;
    const timer =
      every > 0 && options.status
        ? setInterval(() => options.status?.write(`${stage.name}: ${formatCounters(running.counters)}\n`), every)
        : undefined;
    timer?.unref();
    try {
      const counters = await running.done;
      const stoppedBy = options.signal.aborted ? 'signal' : 'completed';
      const seconds = (performance.now() - started) / 1000;
      log.info({ counters, stoppedBy, seconds }, 'stage stopped');
      options.status?.write(`${stage.name}: ${stoppedBy === 'signal' ? 'stopped' : 'finished'} after ${seconds.toFixed(1)} s — ${formatCounters(counters)}\n`);
      return { stage: stage.name, counters: { ...counters }, stoppedBy, seconds };
    } finally {
      if (timer) clearInterval(timer);
    }
  } finally {
    if (options.transport === undefined) await transport.close();
    if (options.store === undefined) await store.close?.();
  }
}

/** `consumed 120, samples 100, rejected 20` — non-zero counters, rates rounded. */
export function formatCounters(counters: Readonly<StageCounters>): string {
  const parts = Object.entries(counters)
    .filter(([, v]) => v !== 0 && Number.isFinite(v))
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(3)}`);
  return parts.length > 0 ? parts.join(', ') : 'idle';
}

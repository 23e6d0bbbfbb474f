// What every stage runner receives and returns; the embedded runner and the per-stage CLI both use this.
import type { ObjectStore } from '../io/object_store.ts';
import type { StageMetrics } from '../observability/stage_metrics.ts';
import type { CompiledTopology, StageConfig } from '../topology/types.ts';
import type { Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';

/** Progress and outcome counters a stage reports (for progress bars, logs, the report and tests). */
export type StageCounters = Record<string, number>;

export interface StageContext<S extends StageConfig = StageConfig> {
  topology: CompiledTopology;
  stage: S;
  store: ObjectStore;
  transport: Transport;
  /** Already bound to { stage: name }. */
  logger: Logger;
  /** Aborted on shutdown: stop polling, drain in-flight work, commit, return. */
  signal: AbortSignal;
  /** Called whenever counters change (cheap; may be throttled by the caller). */
  onProgress?: (counters: Readonly<StageCounters>) => void;
  /** Prometheus metrics of this stage (label already bound); absent when nothing exports them. */
  metrics?: StageMetrics;
  /**
   * Other stages run on this thread's event loop (the embedded runner): a stage whose steps block the loop (the
   * student's training) leaves it a share of the time between steps, or their I/O chains stall behind it. Asked
   * after every step: false once the others are done.
   */
  sharedEventLoop?: () => boolean;
}

/** A started stage: `done` settles when it finishes (finite input) or after `stop()` drained it. */
export interface RunningStage {
  readonly name: string;
  readonly counters: Readonly<StageCounters>;
  readonly done: Promise<StageCounters>;
  /** Graceful stop: stop fetching → finish the in-flight batch → commit → resolve `done`. */
  stop(): Promise<void>;
}

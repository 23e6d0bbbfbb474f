// Hooks one started stage into the process's observability: its metrics, its readiness, its group's lag.
import type { CompiledTopology, StageConfig } from '../topology/types.ts';
import type { Transport } from '../transport/transport.ts';
import type { ProcessHealth } from './health.ts';
import type { PipelineMetrics } from './metrics.ts';
import { ObservedTransport } from './observed_transport.ts';
import type { StageMetrics } from './stage_metrics.ts';

/** What a runner hands its stages: one registry and one health state per process. */
export interface Observability {
  metrics: PipelineMetrics;
  health: ProcessHealth;
}

export interface StageObservation {
  /** Give this to the stage instead of the transport itself. */
  transport: Transport;
  metrics: StageMetrics;
  /** Follows the stage to its end: finished on success, failed (liveness down) on error; stops the lag watch. */
  follow(done: Promise<unknown>): void;
}

/**
 * `name` is the running instance (`teacher#1` for a replica in the embedded runner): readiness is per instance,
 * while metrics and lag are per stage (its consumer group), as they would be summed over pods.
 */
export function observeStage(obs: Observability, topology: CompiledTopology, config: StageConfig, name: string, transport: Transport): StageObservation {
  const observed = new ObservedTransport(transport);
  obs.health.watch(name, observed.probe);
  const unwatch =
    config.kind === 'ingest' ? () => undefined : obs.metrics.watchLag({ admin: transport, stage: config.name, group: config.name, topic: topology.topics[config.input].name });
  return {
    transport: observed,
    metrics: obs.metrics.forStage(config.name),
    follow(done) {
      done.then(
        () => obs.health.finish(name),
        (error: unknown) => obs.health.fail(name, error),
      ).finally(unwatch);
    },
  };
}

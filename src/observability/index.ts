// Observability of a process: start the registry, health state and HTTP server together; stages join via observeStage.
import type { Logger } from '../util/logger.ts';
import { ProcessHealth } from './health.ts';
import { PipelineMetrics } from './metrics.ts';
import { startObservabilityServer, type ObservabilityServer } from './server.ts';
import type { Observability } from './stage_observer.ts';

export { ProcessHealth, type HealthVerdict, type ReadinessProbe } from './health.ts';
export { LOSS_TERMS, METRIC_PREFIX, PipelineMetrics, TEACHER_STEPS, type LossTerm, type TeacherStep } from './metrics.ts';
export { MetricsPortInUseError, startObservabilityServer, type ObservabilityServer } from './server.ts';
export { StageMetrics, type StudentStepFigures } from './stage_metrics.ts';
export { observeStage, type Observability, type StageObservation } from './stage_observer.ts';

export interface ProcessObservabilityOptions {
  /** `run` argument of this process (`all` or a stage name): the `stage` label of process-wide metrics. */
  process: string;
  /** Where to serve; undefined serves nothing (the topology's port 0), metrics and health are still kept. */
  endpoint?: { host: string; port: number };
  logger: Logger;
  /** Aborted on SIGTERM: readiness turns false while the stages drain. */
  signal?: AbortSignal;
}

export interface ProcessObservability extends Observability {
  server: ObservabilityServer | undefined;
  close(): Promise<void>;
}

export async function startProcessObservability(options: ProcessObservabilityOptions): Promise<ProcessObservability> {
  const metrics = new PipelineMetrics({ process: options.process, logger: options.logger });
  const health = new ProcessHealth();
  const onAbort = (): void => health.shutdown();
  if (options.signal?.aborted) health.shutdown();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const server = options.endpoint === undefined ? undefined : await startObservabilityServer({ metrics, health, ...options.endpoint, logger: options.logger });
  return {
    metrics,
    health,
    server,
    async close() {
      options.signal?.removeEventListener('abort', onAbort);
      await server?.close();
    },
  };
}

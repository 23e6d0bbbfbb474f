// Liveness and readiness of a process: its stages report in, /healthz and /readyz read the verdict.

/** Why a stage is not ready, or undefined when it is. Called at every probe, so it reflects the state right now. */
export type ReadinessProbe = () => string | undefined;

export interface HealthVerdict {
  ok: boolean;
  /** The JSON body of the answer. */
  body: { status: 'ok' | 'failed' | 'ready' | 'not-ready'; reasons?: Record<string, string>; error?: { stage: string; message: string } };
}

/**
 * One per process. Ready = not shutting down, no stage failed, at least one stage known, and every stage either
 * ready (its probe says so) or finished (it did its work: an ingest that listed everything, a student at its step
 * budget). Live = no stage failed; a blocked event loop fails liveness by itself, since nothing answers.
 */
export class ProcessHealth {
  private readonly probes = new Map<string, ReadinessProbe>();
  private readonly finished = new Set<string>();
  private failure: { stage: string; message: string } | undefined;
  private stopping = false;

  /** A stage starts: it is not ready until `probe` returns undefined. */
  watch(stage: string, probe: ReadinessProbe): void {
    this.probes.set(stage, probe);
    this.finished.delete(stage);
  }

  /** The stage ended without error. */
  finish(stage: string): void {
    this.finished.add(stage);
  }

  /** The stage failed: liveness and readiness report it from now on (the first failure is kept). */
  fail(stage: string, error: unknown): void {
    this.failure ??= { stage, message: error instanceof Error ? error.message : String(error) };
  }

  /** Draining after SIGTERM: not ready (take no new work), still live. */
  shutdown(): void {
    this.stopping = true;
  }

  liveness(): HealthVerdict {
    if (this.failure !== undefined) return { ok: false, body: { status: 'failed', error: this.failure } };
    return { ok: true, body: { status: 'ok' } };
  }

  readiness(): HealthVerdict {
    if (this.failure !== undefined) return { ok: false, body: { status: 'not-ready', reasons: { [this.failure.stage]: `failed: ${this.failure.message}` } } };
    if (this.stopping) return { ok: false, body: { status: 'not-ready', reasons: { process: 'shutting down' } } };
    if (this.probes.size === 0) return { ok: false, body: { status: 'not-ready', reasons: { process: 'starting: no stage running yet' } } };
    const reasons: Record<string, string> = {};
    for (const [stage, probe] of this.probes) {
      if (this.finished.has(stage)) continue;
      const reason = probe();
      if (reason !== undefined) reasons[stage] = reason;
    }
    if (Object.keys(reasons).length > 0) return { ok: false, body: { status: 'not-ready', reasons } };
    return { ok: true, body: { status: 'ready' } };
  }
}

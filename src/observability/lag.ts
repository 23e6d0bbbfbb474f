// distillery_consumer_lag: each watched consumer group's lag per partition, read from the transport at scrape time.
import { Gauge, type Registry } from 'prom-client';
import { groupLag, type Admin } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';

/** A scrape must answer within Prometheus's timeout (10 s by default) even when the broker does not. */
export const LAG_TIMEOUT_MS = 5000;

export interface LagSource {
  /** The transport's admin API (memory or Kafka), the one `distillery status` reads. */
  admin: Admin;
  /** `stage` label. */
  stage: string;
  group: string;
  topic: string;
}

/** The lag gauge and the groups it reports; a group that cannot be read is left out of that scrape (and logged). */
export class LagGauge {
  private readonly sources = new Set<LagSource>();
  /** Replicas of one stage in one process watch the same group: counted once, kept until the last one leaves. */
  private readonly watchers = new Map<string, { source: LagSource; count: number }>();

  constructor(registry: Registry, name: string, logger?: Logger) {
    const sources = this.sources;
    new Gauge({
      name,
      help: 'Messages of the input topic not yet committed by the stage (consumer group), per partition',
      labelNames: ['stage', 'topic', 'partition'],
      registers: [registry],
      async collect() {
        // Partitions that moved or groups that stopped must not linger with their last value.
        this.reset();
        await Promise.all(
          [...sources].map(async (s) => {
            try {
              const lag = await withTimeout(groupLag(s.admin, s.group, s.topic), LAG_TIMEOUT_MS, `lag of group ${s.group} on ${s.topic}`);
              for (const p of lag.partitions) this.set({ stage: s.stage, topic: s.topic, partition: String(p.partition) }, p.lag);
            } catch (err) {
              logger?.warn({ err, group: s.group, topic: s.topic }, 'could not read consumer lag for /metrics');
            }
          }),
        );
      },
    });
  }

  watch(source: LagSource): () => void {
    const key = JSON.stringify([source.stage, source.group, source.topic]);
    const entry = this.watchers.get(key) ?? { source, count: 0 };
    entry.count += 1;
    this.watchers.set(key, entry);
    this.sources.add(entry.source);
    let watching = true;
    return () => {
      if (!watching) return;
      watching = false;
      entry.count -= 1;
      if (entry.count > 0) return;
      this.watchers.delete(key);
      this.sources.delete(entry.source);
    };
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Kafka test helpers: the broker from KAFKA_BROKERS, fast group timings, per-test topic/group names with cleanup, polling waits.
import { randomBytes } from 'node:crypto';
import { KafkaTransport, type KafkaConsumerTimings, type KafkaTransportOptions } from '../../src/transport/kafka.ts';
import { createLogger } from '../../src/util/logger.ts';

const HOW_TO_START = [
  'These tests need a real Apache Kafka broker, and KAFKA_BROKERS is not set.',
  'Start the local services and export their addresses, then run the tests again:',
  '  bash scripts/services/services.sh start',
  '  eval "$(bash scripts/services/services.sh env)"',
  '(or point KAFKA_BROKERS at any broker, e.g. KAFKA_BROKERS=127.0.0.1:9092).',
].join('\n');

/** Broker addresses from KAFKA_BROKERS (comma separated); throws with how to start the services when unset. */
export function kafkaBrokers(): string[] {
  const brokers = (process.env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  if (brokers.length === 0) throw new Error(HOW_TO_START);
  return brokers;
}

/**
 * Group timings for tests: members notice rebalances within 100 ms and an idle fetch (hence `stop()`) returns within
 * 100 ms. The broker the services script starts has group.initial.rebalance.delay.ms=0, so a join takes a few round trips.
 */
export const TEST_KAFKA_TIMINGS: KafkaConsumerTimings = {
  sessionTimeoutMs: 6000,
  rebalanceTimeoutMs: 10_000,
  heartbeatIntervalMs: 100,
  maxWaitTimeMs: 100,
};

/** A transport on the test broker, with test timings and kafkajs logs at error level (DISTILLERY_LOG_LEVEL overrides). */
export function openTestKafka(options: Partial<KafkaTransportOptions> = {}): KafkaTransport {
  return new KafkaTransport({
    brokers: kafkaBrokers(),
    clientId: 'distillery-test',
    logger: createLogger({ level: process.env.DISTILLERY_LOG_LEVEL ?? 'error' }),
    retry: { initialRetryTime: 100, retries: 5, maxRetryTime: 2000 },
    ...options,
    consumer: { ...TEST_KAFKA_TIMINGS, ...options.consumer },
  });
}

/**
 * Unique topic and group names for one test file (a random run id, so reruns and parallel files never meet), and
 * cleanup of everything named: the file's groups, then its topics.
 */
export class KafkaTestNames {
  readonly runId = randomBytes(4).toString('hex');
  private readonly topics = new Set<string>();
  private readonly groups = new Set<string>();
  private seq = 0;

  constructor(readonly prefix = 'distillery-test') {}

  /** A fresh topic name (not created yet). */
  topic(label = 't'): string {
    this.seq += 1;
    const name = `${this.prefix}.${this.runId}.${this.seq}.${label}`;
    this.topics.add(name);
    return name;
  }

  /** A fresh consumer group id. */
  group(label = 'g'): string {
    this.seq += 1;
    const id = `${this.prefix}.${this.runId}.${this.seq}.${label}`;
    this.groups.add(id);
    return id;
  }

  /** Deletes the groups (best effort: a group still running is reported, not fatal) and the topics. */
  async cleanup(transport: KafkaTransport): Promise<void> {
    const groups = [...this.groups];
    this.groups.clear();
    const topics = [...this.topics];
    this.topics.clear();
    for (const g of groups) await transport.deleteGroups([g]).catch((e: unknown) => console.warn(`cleanup: group ${g}: ${String(e)}`));
    await transport.deleteTopics(topics);
  }
}

/** Polls `predicate` every `intervalMs` until it holds; throws naming `what` after `timeoutMs`. */
export { eventually } from './eventually.ts';

/** Rejects with `what` when `promise` takes longer than `timeoutMs` (a hung broker call fails the test, not the run). */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

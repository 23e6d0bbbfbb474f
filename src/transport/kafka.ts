// Kafka Transport over kafkajs: topics from the topology, keyed sends acked by all in-sync replicas, consumer groups with manual commits only.
//
// The contract is transport.ts (the memory transport's tests pin it down). Where kafkajs 2.2.4 behaves otherwise,
// the adapter decides, and says why:
//   * kafkajs retries a batch whose handler threw, then crashes and restarts the consumer: a silent redelivery loop.
//     Here a throw from `eachBatch` never reaches kafkajs: it is recorded, the consumer stops (leaves the group) and
//     `run()` rejects with that very error.
//   * kafkajs bounds fetches by bytes only; a fetched partition batch is handed over in `maxBatchSize` slices, one after
//     the other, resolving as it goes, so a stop or pause between slices leaves the rest to be fetched again.
//   * `consumer.commitOffsets` is a silent no-op in kafkajs once `stop()` was called — exactly when a graceful stop
//     lets the in-flight batch finish and commit. Commits go through the batch payload's `commitOffsetsIfNecessary(offsets)`,
//     which calls the consumer group directly.
//   * kafkajs's `isStale()` means "a seek is pending". Here it also means "a rebalance started" (a heartbeat or commit
//     said so): the broker keeps accepting the old generation's commits until this member rejoins, and kafkajs rejoins
//     only once every in-flight batch returned, so the batch may finish and commit, as the contract says.
//   * The broker does not check which member commits which partition; the adapter refuses commits for partitions this
//     member does not own (NotAssignedError), so a late commit cannot overwrite the new owner's.
//   * After a rebalance kafkajs restarts every partition, kept ones too, from the committed offset: processed but
//     uncommitted messages come again (at-least-once; the memory transport keeps positions of kept partitions).
//   * Exactly-once runs (`run({ exactlyOnce: true })`): `produceAndCommit` is a Kafka transaction of a per-partition
//     transactional producer (kafka_transactions.ts). All producers are re-registered on every join — which fences any
//     other holder of the ids — and a partition's first batch of a generation waits for that, then skips what the group
//     committed meanwhile (a zombie's transaction completing just before it was fenced).
//   * kafkajs's read_committed filter lets the first messages of an aborted transaction through when another
//     transaction on the partition was aborted earlier but began later; kafkajs.ts loads kafkajs with a correct one.
//   * `admin.setOffsets` joins the group and waits for a fetch with kafkajs's default 5 s poll; `setGroupOffsets` joins
//     with this transport's short poll and commits with the joined generation instead.
import type { KafkaConnectionSecurity } from './kafka_security.ts';
import kafkajs from './kafkajs.ts';
import type {
  Admin as KafkaJsAdmin,
  Consumer as KafkaJsConsumer,
  EachBatchPayload as KafkaJsEachBatchPayload,
  IHeaders,
  Kafka as KafkaJsClient,
  KafkaConfig,
  KafkaMessage,
  LogEntry,
  Producer as KafkaJsProducer,
  logCreator as KafkaJsLogCreator,
} from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, type Logger } from '../util/logger.ts';
import { fields, findTyped, hasType, isRetriable, toTransportError } from './kafka_errors.ts';
import { PartitionProducer } from './kafka_transactions.ts';
import {
  NotAssignedError,
  TransportClosedError,
  TransportError,
  UnknownTopicError,
  formatOffset,
  parseOffset,
  type Batch,
  type ConsumedMessage,
  type Consumer,
  type ConsumerConfig,
  type EachBatchPayload,
  type Headers,
  type OutgoingMessage,
  type PartitionOffset,
  type PartitionWatermarks,
  type Producer,
  type ProducerConfig,
  type RecordMetadata,
  type RunOptions,
  type SubscribeOptions,
  type TopicMessages,
  type TopicPartition,
  type TopicSpec,
  type Transport,
} from './transport.ts';

const { Kafka, Partitioners, AssignerProtocol, KafkaJSProtocolError, logLevel: KafkaLogLevel } = kafkajs;

/** Timings of group membership and fetching; the defaults suit production, tests shorten them. */
export interface KafkaConsumerTimings {
  /** A member silent this long is evicted. Default 30000 (the broker's group.min.session.timeout.ms bounds it). */
  sessionTimeoutMs?: number;
  /** How long a rebalance waits for members to rejoin (i.e. for in-flight batches to finish). Default 60000. */
  rebalanceTimeoutMs?: number;
  /** Heartbeats at most this often; members notice a rebalance on their next heartbeat. Default 3000. */
  heartbeatIntervalMs?: number;
  /** Long-poll of an empty fetch; also bounds how long `stop()` waits for a fetch in progress. Default 1000. */
  maxWaitTimeMs?: number;
  /** Fetch size per partition (kafkajs default 1 MiB); batches are then cut to `maxBatchSize` messages. */
  maxBytesPerPartition?: number;
}

/** What `describeGroup` reports. */
export interface GroupDescription {
  groupId: string;
  /** Kafka's group state: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead. */
  state: string;
  members: Array<{ memberId: string; clientId: string; host: string; partitions: TopicPartition[] }>;
}

export interface KafkaRetryOptions {
  /** First backoff, ms (jittered, doubling). Default 300. */
  initialRetryTime?: number;
  /** Retries of one request before it fails. Default 8. */
  retries?: number;
  /** Cap of one backoff, ms. Default 30000. */
  maxRetryTime?: number;
}

export type KafkaLogLevelName = 'error' | 'warn' | 'info' | 'debug';

export interface KafkaTransportOptions {
  /** `host:port` of one or more bootstrap brokers. */
  brokers: string[];
  /** Client id of the admin connection and the default for producers and consumers. */
  clientId: string;
  /** Receives kafkajs's own logs too. Default: a pino logger at DISTILLERY_LOG_LEVEL, else 'warn'. */
  logger?: Logger;
  /** Lowest kafkajs log level forwarded to the logger. Default 'warn'. */
  logLevel?: KafkaLogLevelName;
  /** Default 3000 (kafkajs: 1000, short for a broker that is still starting). */
  connectionTimeoutMs?: number;
  /** Default 30000. */
  requestTimeoutMs?: number;
  retry?: KafkaRetryOptions;
  consumer?: KafkaConsumerTimings;
  /** Replication factor of created topics; default -1 (the broker's default.replication.factor). */
  replicationFactor?: number;
  /** TLS and SASL (see kafka_security.ts: built from the topology and the environment, secrets never logged). */
  security?: KafkaConnectionSecurity;
  /**
   * Exactly-once runs: the broker aborts a transaction left open this long (a worker killed mid-batch whose
   * partition nobody took over). Default 60000; at most the broker's transaction.max.timeout.ms (15 min).
   */
  transactionTimeoutMs?: number;
}

const DEFAULT_MAX_BATCH_SIZE = 100;
const DEFAULT_MAX_IN_FLIGHT = 1;
const DEFAULT_RETRY = { initialRetryTime: 300, retries: 8, maxRetryTime: 30_000 };
const DEFAULT_TIMINGS = { sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 60_000, heartbeatIntervalMs: 3_000, maxWaitTimeMs: 1_000 };

/** Broker answers that mean "this member's generation is over": the partitions may have moved. */
const REBALANCE_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR_FOR_GROUP', 'FENCED_INSTANCE_ID']);
/** Group states in which the group has no live member (admin writes are safe). */
const IDLE_GROUP_STATES = new Set(['Empty', 'Dead']);

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Logging: kafkajs's log entries go to the pino logger, namespaced.

const LEVEL_BY_NAME: Record<KafkaLogLevelName, number> = {
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

/** A kafkajs `logCreator` writing to `logger` (entry fields become pino fields, the namespace a `kafkajs` field). */
export function kafkaLogCreator(logger: Logger): KafkaJsLogCreator {
  return () =>
    ({ namespace, level: entryLevel, log }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _source, ...extra } = log;
      const entry = { kafkajs: namespace, ...extra };
      const text = String(message);
      // kafkajs logs every error response of the broker at error level — each heartbeat of a normal rebalance, every
      // "unknown topic" probe — and then hands the error to the caller, which decides; keep those at debug.
      // kafkajs warns about bounded retries of every idempotent producer; ours are transactional, and a failed
      // transaction is aborted and redone under a new producer epoch, never retried on the old one.
      const bounded = namespace === 'Producer' && text.startsWith('Limiting retries for the idempotent producer');
      const level = (namespace === 'Connection' && text.startsWith('Response ') && entryLevel === KafkaLogLevel.ERROR) || bounded ? KafkaLogLevel.DEBUG : entryLevel;
      if (level === KafkaLogLevel.ERROR) logger.error(entry, text);
      else if (level === KafkaLogLevel.WARN) logger.warn(entry, text);
      else if (level === KafkaLogLevel.INFO) logger.info(entry, text);
      else logger.debug(entry, text);
    };
}

// ---------------------------------------------------------------------------------------------------------------
// Message conversion.

const textDecoder = new TextDecoder();

function headerText(value: Buffer | string): string {
  return typeof value === 'string' ? value : textDecoder.decode(value);
}

/** Kafka allows repeated and binary headers; we keep the last value of each name, as UTF-8 (Java's `lastHeader`). */
function decodeHeaders(headers: IHeaders | undefined): Headers {
  const out: Headers = {};
  if (headers === undefined) return out;
  for (const [name, value] of Object.entries(headers)) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = headerText(last);
  }
  return out;
}

function toConsumed(m: KafkaMessage): ConsumedMessage {
  return {
    key: m.key === null ? '' : textDecoder.decode(m.key),
    // A plain Uint8Array copy: kafkajs hands out Buffer views into the whole fetch response (up to maxBytes), and a
    // Buffer's `slice()` is a view, which code written for Uint8Array would not expect.
    value: m.value === null ? new Uint8Array(0) : new Uint8Array(m.value),
    headers: decodeHeaders(m.headers),
    offset: m.offset,
    timestamp: m.timestamp,
  };
}

class KafkaBatch implements Batch {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly messages: ConsumedMessage[],
    readonly highWatermark: string,
  ) {}

  firstOffset(): string {
    return this.messages[0].offset;
  }

  lastOffset(): string {
    return this.messages[this.messages.length - 1].offset;
  }

  offsetLag(): string {
    return formatOffset(Math.max(0, parseOffset(this.highWatermark) - 1 - parseOffset(this.lastOffset())));
  }
}

function validateOutgoing(m: OutgoingMessage, index: number, topic: string, partitions: number): void {
  const where = `message ${index} to ${topic}`;
  if (typeof m !== 'object' || m === null) throw new TransportError(`${where}: not an object`);
  if (typeof m.key !== 'string') throw new TransportError(`${where}: key must be a string`);
  if (!(m.value instanceof Uint8Array)) throw new TransportError(`${where}: value must be a Uint8Array`);
  if (m.headers !== undefined) {
    for (const [name, value] of Object.entries(m.headers)) {
      if (typeof value !== 'string') throw new TransportError(`${where}: header ${name} must be a string`);
    }
  }
  if (m.partition !== undefined && (!Number.isInteger(m.partition) || m.partition < 0 || m.partition >= partitions)) {
    throw new TransportError(`${where}: partition ${m.partition} out of range 0..${partitions - 1}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------

export class KafkaTransport implements Transport {
  readonly logger: Logger;
  private readonly brokers: string[];
  private readonly clientId: string;
  private readonly baseConfig: KafkaConfig;
  private readonly kafka: KafkaJsClient;
  private readonly retry: Required<KafkaRetryOptions>;
  private readonly timings: Required<Omit<KafkaConsumerTimings, 'maxBytesPerPartition'>> & Pick<KafkaConsumerTimings, 'maxBytesPerPartition'>;
  private readonly replicationFactor: number;
  /** @internal */
  readonly transactionTimeoutMs: number;
  private adminClient: Promise<KafkaJsAdmin> | undefined;
  private readonly producers = new Set<KafkaTransportProducer>();
  private readonly consumers = new Set<KafkaTransportConsumer>();
  /** Partition counts of topics known to exist (producers validate explicit partitions against them). */
  private readonly partitionCounts = new Map<string, number>();
  private closedFlag = false;

  constructor(options: KafkaTransportOptions) {
    if (!Array.isArray(options.brokers) || options.brokers.length === 0 || options.brokers.some((b) => typeof b !== 'string' || b.length === 0)) {
      throw new TransportError('kafka transport needs at least one broker address (host:port)');
    }
    if (typeof options.clientId !== 'string' || options.clientId.length === 0) throw new TransportError('kafka transport needs a non-empty clientId');
    this.brokers = [...options.brokers];
    this.clientId = options.clientId;
    this.logger = (options.logger ?? createLogger({ level: process.env.DISTILLERY_LOG_LEVEL ?? 'warn' })).child({ transport: this.describe() });
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.timings = { ...DEFAULT_TIMINGS, ...options.consumer };
    if (this.timings.heartbeatIntervalMs >= this.timings.sessionTimeoutMs) {
      throw new TransportError(`heartbeatIntervalMs (${this.timings.heartbeatIntervalMs}) must be below sessionTimeoutMs (${this.timings.sessionTimeoutMs})`);
    }
    this.replicationFactor = options.replicationFactor ?? -1;
    this.transactionTimeoutMs = options.transactionTimeoutMs ?? 60_000;
    this.baseConfig = {
      brokers: this.brokers,
      clientId: this.clientId,
      connectionTimeout: options.connectionTimeoutMs ?? 3000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      retry: { ...this.retry },
      logLevel: LEVEL_BY_NAME[options.logLevel ?? 'warn'],
      logCreator: kafkaLogCreator(this.logger),
      ...options.security,
    };
    this.kafka = new Kafka(this.baseConfig);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  describe(): string {
    return `kafka://${this.brokers.join(',')}`;
  }

  producer(config: ProducerConfig = {}): KafkaTransportProducer {
    const producer = new KafkaTransportProducer(this, this.client(config.clientId), config);
    this.producers.add(producer);
    return producer;
  }

  consumer(config: ConsumerConfig): KafkaTransportConsumer {
    if (typeof config.groupId !== 'string' || config.groupId.length === 0) throw new TransportError('consumer needs a non-empty groupId');
    const consumer = new KafkaTransportConsumer(this, this.client(config.clientId), config, this.timings, this.retry);
    this.consumers.add(consumer);
    return consumer;
  }

  // ---- admin -------------------------------------------------------------------------------------------------

  async createTopics(specs: TopicSpec[]): Promise<boolean> {
    this.assertOpen();
    const wanted = new Map<string, number>();
    for (const spec of specs) {
      if (typeof spec.topic !== 'string' || spec.topic.length === 0) throw new TransportError('topic name must be a non-empty string');
      if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
        throw new TransportError(`topic ${spec.topic}: partitions must be a positive integer, got ${spec.partitions}`);
      }
      const other = wanted.get(spec.topic);
      if (other !== undefined && other !== spec.partitions) throw new TransportError(`topic ${spec.topic} requested with ${other} and ${spec.partitions} partitions`);
      wanted.set(spec.topic, spec.partitions);
    }
    if (wanted.size === 0) return false;
    const admin = await this.admin();
    const existing = new Set(await this.adminCall('list topics', () => admin.listTopics()));
    const present = [...wanted.keys()].filter((t) => existing.has(t));
    // Check first, create after: a mismatch must not leave the other topics half created.
    await this.checkPartitionCounts(admin, present, wanted);
    const missing = [...wanted].filter(([topic]) => !existing.has(topic));
    if (missing.length === 0) return false;
    const created = await this.adminCall('create topics', () =>
      admin.createTopics({
        topics: missing.map(([topic, partitions]) => ({ topic, numPartitions: partitions, replicationFactor: this.replicationFactor })),
        waitForLeaders: true,
      }),
    );
    // Another process may have created some of them meanwhile, possibly with other counts.
    await this.checkPartitionCounts(
      admin,
      missing.map(([topic]) => topic),
      wanted,
    );
    return created;
  }

  /** Deletes topics (test cleanup, tools); unknown topics are ignored. Not part of Transport: stages never delete. */
  async deleteTopics(topics: string[]): Promise<void> {
    this.assertOpen();
    if (topics.length === 0) return;
    const admin = await this.admin();
    const existing = new Set(await this.adminCall('list topics', () => admin.listTopics()));
    const doomed = topics.filter((t) => existing.has(t));
    for (const t of topics) this.partitionCounts.delete(t);
    if (doomed.length > 0) await this.adminCall('delete topics', () => admin.deleteTopics({ topics: doomed }));
  }

  async topicOffsets(topic: string): Promise<PartitionWatermarks[]> {
    this.assertOpen();
    await this.partitionCount(topic);
    const admin = await this.admin();
    const offsets = await this.adminCall(`offsets of ${topic}`, () => admin.fetchTopicOffsets(topic));
    return offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high })).sort((a, b) => a.partition - b.partition);
  }

  /** A group's state and live members with their assigned partitions (for `distillery status` and tests). */
  async describeGroup(groupId: string): Promise<GroupDescription> {
    const admin = await this.admin();
    const { groups } = await this.adminCall(`describing group ${groupId}`, () => admin.describeGroups([groupId]));
    const group = groups.find((g) => g.groupId === groupId);
    if (group === undefined) return { groupId, state: 'Dead', members: [] };
    return {
      groupId,
      state: group.state,
      members: group.members.map((m) => {
        const decoded = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
        const partitions = Object.entries(decoded?.assignment ?? {}).flatMap(([topic, ps]) => ps.map((partition) => ({ topic, partition })));
        return { memberId: m.memberId, clientId: m.clientId, host: m.clientHost, partitions };
      }),
    };
  }

  async groupOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    this.assertOpen();
    await this.partitionCount(topic);
    const admin = await this.admin();
    const response = await this.adminCall(`offsets of group ${groupId}`, () => admin.fetchOffsets({ groupId, topics: [topic] }));
    const partitions = response.find((r) => r.topic === topic)?.partitions ?? [];
    return partitions.map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
  }

  /**
   * Overwrites an idle group's commits: joins the group with a throwaway member (the broker only takes commits from
   * members of the current generation or of an empty group, and kafkajs offers no generation-less commit), commits,
   * leaves, then reads the commits back.
   */
  async setGroupOffsets(groupId: string, topic: string, offsets: PartitionOffset[]): Promise<void> {
    this.assertOpen();
    const marks = new Map((await this.topicOffsets(topic)).map((w) => [w.partition, w]));
    const parsed = offsets.map((o) => ({ partition: o.partition, offset: parseOffset(o.offset) }));
    for (const o of parsed) {
      const w = marks.get(o.partition);
      if (w === undefined) throw new TransportError(`topic ${topic} has no partition ${o.partition} (it has ${marks.size})`);
      if (o.offset > parseOffset(w.high)) throw new TransportError(`offset ${o.offset} is past the end (${w.high}) of ${topic}[${o.partition}]`);
    }
    if (parsed.length === 0) return;
    await this.assertIdle(groupId, 'stop them before setting offsets');
    const kc = this.client(`${this.clientId}-set-offsets`).consumer({
      groupId,
      sessionTimeout: this.timings.sessionTimeoutMs,
      rebalanceTimeout: this.timings.rebalanceTimeoutMs,
      heartbeatInterval: this.timings.heartbeatIntervalMs,
      maxWaitTimeInMs: this.timings.maxWaitTimeMs,
      allowAutoTopicCreation: false,
      retry: { ...this.retry, restartOnFailure: async () => false },
    });
    let crash: unknown;
    kc.on(kc.events.CRASH, (event) => {
      crash ??= event.payload.error;
    });
    try {
      await kc.connect();
      await kc.subscribe({ topics: [topic], fromBeginning: true });
      const running = kc.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
      // The throwaway member never needs data (the consumer group exists as soon as run() was called).
      kc.pause([{ topic }]);
      await running;
      if (crash !== undefined) throw crash;
      await kc.commitOffsets(parsed.map((o) => ({ topic, partition: o.partition, offset: formatOffset(o.offset) })));
    } catch (e) {
      throw toTransportError(`setting offsets of group ${groupId} on ${topic}`, e);
    } finally {
      await kc.disconnect().catch((e: unknown) => this.logger.warn({ err: e, groupId }, 'disconnecting the offset-setting member failed'));
    }
    // kafkajs's commitOffsets is silently skipped when its runner is not running (e.g. the join failed): check.
    const now = new Map((await this.groupOffsets(groupId, topic)).map((p) => [p.partition, p.offset]));
    const missed = parsed.filter((o) => now.get(o.partition) !== formatOffset(o.offset));
    if (missed.length > 0) throw new TransportError(`setting offsets of group ${groupId} on ${topic} did not take for partitions ${missed.map((o) => o.partition).join(', ')}`);
  }

  /** Forgets groups; unknown groups are ignored, groups with live members refused (as in memory). */
  async deleteGroups(groupIds: string[]): Promise<void> {
    this.assertOpen();
    if (groupIds.length === 0) return;
    const admin = await this.admin();
    try {
      await admin.deleteGroups(groupIds);
    } catch (e) {
      const failures = Array.isArray(fields(e).groups) ? (fields(e).groups as Array<{ groupId: string; error?: unknown }>) : [];
      const busy = failures.find((f) => hasType(f.error, 'NON_EMPTY_GROUP'));
      if (busy !== undefined) throw new TransportError(`group ${busy.groupId} has running members`, { cause: e });
      if (failures.length > 0 && failures.every((f) => hasType(f.error, 'GROUP_ID_NOT_FOUND'))) return;
      throw toTransportError(`deleting groups ${groupIds.join(', ')}`, e);
    }
  }

  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    await Promise.allSettled([...this.consumers].map((c) => c.disconnect()));
    await Promise.allSettled([...this.producers].map((p) => p.disconnect()));
    const admin = this.adminClient;
    this.adminClient = undefined;
    if (admin !== undefined) await admin.then((a) => a.disconnect()).catch(() => undefined);
  }

  // ---- internals shared with producers and consumers ------------------------------------------------------------

  /** @internal */
  assertOpen(): void {
    if (this.closedFlag) throw new TransportClosedError('kafka transport');
  }

  /** @internal Partition count of an existing topic (cached); UnknownTopicError otherwise. */
  async partitionCount(topic: string): Promise<number> {
    const known = this.partitionCounts.get(topic);
    if (known !== undefined) return known;
    if (typeof topic !== 'string' || topic.length === 0) throw new TransportError('topic name must be a non-empty string');
    const admin = await this.admin();
    const topics = await this.adminCall('list topics', () => admin.listTopics());
    if (!topics.includes(topic)) throw new UnknownTopicError(topic);
    const metadata = await this.adminCall(`metadata of ${topic}`, () => admin.fetchTopicMetadata({ topics: [topic] }));
    const count = metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    if (count === 0) throw new UnknownTopicError(topic);
    this.partitionCounts.set(topic, count);
    return count;
  }

  /** @internal Admin watermarks of one partition (commits past the high watermark are refused). */
  async highWatermark(topic: string, partition: number): Promise<number> {
    const marks = await this.topicOffsets(topic);
    const w = marks.find((m) => m.partition === partition);
    if (w === undefined) throw new TransportError(`topic ${topic} has no partition ${partition} (it has ${marks.length})`);
    return parseOffset(w.high);
  }

  /** @internal Throws unless the group has no live member. */
  async assertIdle(groupId: string, advice: string): Promise<void> {
    const admin = await this.admin();
    const { groups } = await this.adminCall(`describing group ${groupId}`, () => admin.describeGroups([groupId]));
    const state = groups.find((g) => g.groupId === groupId)?.state ?? 'Dead';
    if (!IDLE_GROUP_STATES.has(state)) throw new TransportError(`group ${groupId} has running members (state ${state}); ${advice}`);
  }

  /** @internal */
  forgetConsumer(consumer: KafkaTransportConsumer): void {
    this.consumers.delete(consumer);
  }

  /** @internal */
  forgetProducer(producer: KafkaTransportProducer): void {
    this.producers.delete(producer);
  }

  /** A kafkajs client per clientId: kafkajs takes member ids and log names from the client, not the consumer. */
  private client(clientId: string | undefined): KafkaJsClient {
    return clientId === undefined || clientId === this.clientId ? this.kafka : new Kafka({ ...this.baseConfig, clientId });
  }

  private admin(): Promise<KafkaJsAdmin> {
    this.assertOpen();
    if (this.adminClient === undefined) {
      const admin = this.kafka.admin({ retry: { ...this.retry } });
      const connecting = admin.connect().then(() => admin);
      this.adminClient = connecting;
      // A failed connect is retried by the next call rather than cached.
      connecting.catch(() => {
        if (this.adminClient === connecting) this.adminClient = undefined;
      });
    }
    return this.adminClient.catch((e: unknown) => {
      throw toTransportError(`connecting to ${this.describe()}`, e);
    });
  }

  private async adminCall<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw toTransportError(what, e);
    }
  }

  private async checkPartitionCounts(admin: KafkaJsAdmin, topics: string[], wanted: Map<string, number>): Promise<void> {
    if (topics.length === 0) return;
    const metadata = await this.adminCall('topic metadata', () => admin.fetchTopicMetadata({ topics }));
    for (const t of metadata.topics) {
      const expected = wanted.get(t.name);
      if (expected !== undefined && t.partitions.length !== expected) {
        throw new TransportError(`topic ${t.name} exists with ${t.partitions.length} partitions, not ${expected}`);
      }
      this.partitionCounts.set(t.name, t.partitions.length);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

export class KafkaTransportProducer implements Producer {
  private readonly kp: KafkaJsProducer;
  private connected = false;
  private disconnected = false;

  constructor(
    private readonly transport: KafkaTransport,
    kafka: KafkaJsClient,
    private readonly config: ProducerConfig,
  ) {
    this.kp = kafka.producer({
      // Kafka's default partitioner (Java murmur2), the one `partitionForKey` implements; naming it also silences
      // kafkajs's "switched default partitioner" warning.
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      // Not idempotent: kafkajs's idempotent producer fails concurrent sends (OUT_OF_ORDER_SEQUENCE_NUMBER, kafkajs
      // #598) and stages send concurrently. A retried send may duplicate: delivery is at-least-once anyway.
      idempotent: false,
    });
  }

  async connect(): Promise<void> {
    this.transport.assertOpen();
    if (this.disconnected) throw new TransportClosedError(`producer ${this.config.clientId ?? ''}`.trim());
    if (this.connected) return;
    try {
      await this.kp.connect();
    } catch (e) {
      throw toTransportError(`producer connecting to ${this.transport.describe()}`, e);
    }
    this.connected = true;
  }

  async send(topic: string, messages: OutgoingMessage[]): Promise<RecordMetadata[]> {
    this.transport.assertOpen();
    if (this.disconnected) throw new TransportClosedError('producer');
    if (!this.connected) throw new TransportError('producer is not connected (call connect() first)');
    const partitions = await this.transport.partitionCount(topic);
    // Validate the whole request first so a bad message cannot leave half of it appended.
    messages.forEach((m, i) => validateOutgoing(m, i, topic, partitions));
    if (messages.length === 0) return [];
    let acked: Awaited<ReturnType<KafkaJsProducer['send']>>;
    try {
      acked = await this.kp.send({
        topic,
        acks: -1,
        messages: messages.map((m) => ({
          key: m.key,
          value: Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength),
          headers: m.headers === undefined ? undefined : { ...m.headers },
          partition: m.partition,
        })),
      });
    } catch (e) {
      if (this.disconnected || this.transport.closed) throw new TransportClosedError('producer');
      throw toTransportError(`sending ${messages.length} messages to ${topic}`, e);
    }
    return acked
      .map((r) => ({ topic: r.topicName, partition: r.partition, baseOffset: r.baseOffset ?? r.offset ?? '0' }))
      .sort((a, b) => a.partition - b.partition);
  }

  async disconnect(): Promise<void> {
    if (this.disconnected) return;
    this.connected = false;
    this.disconnected = true;
    this.transport.forgetProducer(this);
    await this.kp.disconnect().catch((e: unknown) => this.transport.logger.warn({ err: e }, 'producer disconnect failed'));
  }
}

// ---------------------------------------------------------------------------------------------------------------

type ConsumerState = 'new' | 'connected' | 'running' | 'disconnected';

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type CommitOffsets = KafkaJsEachBatchPayload['commitOffsetsIfNecessary'];

export class KafkaTransportConsumer implements Consumer {
  readonly groupId: string;
  private readonly kc: KafkaJsConsumer;
  private readonly log: Logger;
  private state: ConsumerState = 'new';
  /** kafkajs disconnects its cluster when it crashes for good; the next run() connects again. */
  private needsConnect = false;
  private readonly topics = new Set<string>();
  private running = false;
  /**
   * Settles once kafkajs's runner is running or has crashed for good. kafkajs's stop() during a join is a no-op that
   * still forgets the runner, which then consumes on, orphaned: stop() waits for this first.
   */
  private started: Promise<void> = Promise.resolve();
  private restarting: Deferred | undefined;
  private stopping: Promise<void> | undefined;
  private done: Deferred | undefined;
  private failure: { error: unknown } | undefined;
  private assigned = new Map<string, TopicPartition>();
  /** Bumped on every group join: batches of an older generation are stale. */
  private generation = 0;
  /** The broker said the generation is over (heartbeat/commit); cleared by the next join. */
  private rebalance: unknown;
  /** NotAssignedErrors this adapter raised because of a rebalance, with the kafkajs error to hand to kafkajs. */
  private readonly rebalanceCauses = new WeakMap<object, unknown>();
  /** The current kafkajs run's direct commit (see the header); undefined until its first batch. */
  private commitDirect: CommitOffsets | undefined;
  private readonly inFlight = new Set<string>();
  /** Per partition, settles when this member's batch on it (of whatever generation) has finished. */
  private readonly batchDone = new Map<string, Promise<void>>();
  private readonly highWatermarks = new Map<string, number>();
  private readonly pausedTopics = new Set<string>();
  private readonly pausedPartitions = new Set<string>();
  private fetchedSinceJoin = false;
  private readyWaiters: Deferred[] = [];
  private crashes = 0;
  private readonly kafka: KafkaJsClient;
  private exactlyOnce = false;
  /** Exactly-once runs: the transactional producer of each assigned partition, re-registered on every join. */
  private txnProducers = new Map<string, PartitionProducer>();
  /** Partition → generation whose first batch waited for its producer's registration (see the header). */
  private readonly settled = new Map<string, number>();

  constructor(
    private readonly transport: KafkaTransport,
    kafka: KafkaJsClient,
    config: ConsumerConfig,
    timings: KafkaConsumerTimings & typeof DEFAULT_TIMINGS,
    private readonly retry: Required<KafkaRetryOptions>,
  ) {
    this.groupId = config.groupId;
    this.kafka = kafka;
    this.log = transport.logger.child({ groupId: config.groupId, ...(config.clientId === undefined ? {} : { clientId: config.clientId }) });
    this.kc = kafka.consumer({
      groupId: config.groupId,
      sessionTimeout: timings.sessionTimeoutMs,
      rebalanceTimeout: timings.rebalanceTimeoutMs,
      heartbeatInterval: timings.heartbeatIntervalMs,
      maxWaitTimeInMs: timings.maxWaitTimeMs,
      ...(timings.maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition: timings.maxBytesPerPartition }),
      allowAutoTopicCreation: false,
      // read_committed (kafkajs's default, spelled out): outputs of aborted or open transactions are never handed over.
      readUncommitted: false,
      retry: { ...retry, restartOnFailure: (e) => this.restartOnFailure(e) },
    });
    this.kc.on(this.kc.events.GROUP_JOIN, (event) => {
      const next = new Map<string, TopicPartition>();
      for (const [topic, partitions] of Object.entries(event.payload.memberAssignment)) {
        for (const partition of partitions) next.set(tpKey(topic, partition), { topic, partition });
      }
      this.assigned = next;
      this.generation += 1;
      if (this.exactlyOnce) this.registerProducers();
      this.rebalance = undefined;
      this.fetchedSinceJoin = false;
      this.crashes = 0;
      this.applyPauses();
      // Info: which worker owns which partitions is the first thing to check when a worker seems idle.
      this.log.info({ groupId: this.groupId, memberId: event.payload.memberId, assignment: event.payload.memberAssignment }, 'joined the group');
    });
    this.kc.on(this.kc.events.FETCH, () => {
      this.fetchedSinceJoin = true;
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) w.resolve();
    });
    this.kc.on(this.kc.events.FETCH_START, () => {
      // The (re)started runner is fetching, so kafkajs's stop() will reach it now.
      this.restarting?.resolve();
      this.restarting = undefined;
    });
    this.kc.on(this.kc.events.CRASH, (event) => {
      this.assigned = new Map();
      this.commitDirect = undefined;
      if (event.payload.restart) {
        if (this.restarting === undefined) {
          this.restarting = deferred();
          this.started = this.restarting.promise;
        }
        return;
      }
      this.restarting?.resolve();
      this.restarting = undefined;
      // kafkajs gave up (a non-retriable error, or restartOnFailure said no) and disconnected: run() fails with it.
      this.needsConnect = true;
      if (this.state === 'running' && this.running) {
        this.failure ??= { error: toTransportError(`consumer of group ${this.groupId} crashed`, event.payload.error) };
        void this.stop();
      }
    });
  }

  async connect(): Promise<void> {
    this.transport.assertOpen();
    if (this.state === 'disconnected') throw new TransportClosedError('consumer');
    if (this.state !== 'new') return;
    try {
      await this.kc.connect();
    } catch (e) {
      throw toTransportError(`consumer connecting to ${this.transport.describe()}`, e);
    }
    this.state = 'connected';
  }

  async subscribe(options: SubscribeOptions): Promise<void> {
    this.transport.assertOpen();
    if (this.state === 'new') throw new TransportError('consumer is not connected (call connect() first)');
    if (this.state === 'disconnected') throw new TransportClosedError('consumer');
    if (this.state === 'running') throw new TransportError('cannot subscribe while running; stop() first');
    if (!Array.isArray(options.topics) || options.topics.length === 0) throw new TransportError('subscribe needs at least one topic');
    for (const topic of options.topics) await this.transport.partitionCount(topic);
    try {
      await this.kc.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? false });
    } catch (e) {
      throw toTransportError(`subscribing to ${options.topics.join(', ')}`, e);
    }
    for (const topic of options.topics) this.topics.add(topic);
  }

  async run(options: RunOptions): Promise<void> {
    this.transport.assertOpen();
    if (this.state === 'new') throw new TransportError('consumer is not connected (call connect() first)');
    if (this.state === 'disconnected') throw new TransportClosedError('consumer');
    if (this.state === 'running') throw new TransportError('consumer is already running');
    if (this.topics.size === 0) throw new TransportError('consumer has no subscription (call subscribe() first)');
    const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    const maxInFlight = options.maxInFlightBatches ?? DEFAULT_MAX_IN_FLIGHT;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new TransportError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`);
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new TransportError(`maxInFlightBatches must be a positive integer, got ${maxInFlight}`);
    const autoResolve = options.eachBatchAutoResolve ?? true;
    this.exactlyOnce = options.exactlyOnce ?? false;

    this.state = 'running';
    this.running = true;
    this.failure = undefined;
    this.stopping = undefined;
    const done = deferred();
    this.done = done;
    this.started = (async () => {
      if (this.needsConnect) {
        await this.kc.connect();
        this.needsConnect = false;
      }
      // Resolves once the member joined (or crashed: the CRASH listener takes it from there).
      await this.kc.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: maxInFlight,
        eachBatch: (payload) => this.handleBatch(payload, options.eachBatch, maxBatchSize, autoResolve),
      });
    })().catch((e: unknown) => {
      this.failure ??= { error: toTransportError(`starting the consumer of group ${this.groupId}`, e) };
      void this.stop();
    });
    await done.promise;
  }

  async commit(topic: string, partition: number, nextOffset: string): Promise<void> {
    this.transport.assertOpen();
    const offset = parseOffset(nextOffset);
    const key = tpKey(topic, partition);
    if (this.state !== 'running') {
      // Like memory: anyone may commit for a group without live members.
      try {
        await this.transport.setGroupOffsets(this.groupId, topic, [{ partition, offset: nextOffset }]);
      } catch (e) {
        if (e instanceof TransportError && /running members/.test(e.message)) throw new NotAssignedError(this.groupId, topic, partition);
        throw e;
      }
      return;
    }
    if (!this.assigned.has(key) && !this.inFlight.has(key)) throw new NotAssignedError(this.groupId, topic, partition);
    await this.commitOwned(topic, partition, offset, this.commitDirect);
  }

  /** Resolves once the member has joined its group and finished a fetch (its start positions are resolved). */
  ready(): Promise<void> {
    if (this.state === 'running' && this.fetchedSinceJoin) return Promise.resolve();
    const waiter = deferred();
    this.readyWaiters.push(waiter);
    return waiter.promise;
  }

  stop(): Promise<void> {
    if (this.stopping !== undefined) return this.stopping;
    if (this.state !== 'running') return Promise.resolve();
    this.running = false;
    const stopping = (async () => {
      // Wait out a join in progress (see `started`), including a restart that began meanwhile.
      for (let pending = this.started; ; pending = this.started) {
        await pending;
        if (pending === this.started) break;
      }
      try {
        // Stops fetching, waits for the in-flight batches (they may still commit), leaves the group.
        await this.kc.stop();
      } catch (e) {
        this.log.warn({ err: e }, 'kafkajs stop failed');
      }
      this.assigned = new Map();
      this.commitDirect = undefined;
      this.highWatermarks.clear();
      await this.closeProducers();
      if (this.state === 'running') this.state = 'connected';
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) w.reject(new TransportError(`consumer of group ${this.groupId} stopped before it was ready`));
      const { done, failure } = this;
      this.done = undefined;
      if (failure !== undefined) done?.reject(failure.error);
      else done?.resolve();
    })();
    this.stopping = stopping;
    return stopping;
  }

  async disconnect(): Promise<void> {
    await this.stop();
    if (this.state === 'disconnected') return;
    this.state = 'disconnected';
    this.transport.forgetConsumer(this);
    await this.kc.disconnect().catch((e: unknown) => this.log.warn({ err: e }, 'consumer disconnect failed'));
  }

  pause(topics: Array<{ topic: string; partitions?: number[] }>): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) this.pausedTopics.add(topic);
      else for (const p of partitions) this.pausedPartitions.add(tpKey(topic, p));
    }
    this.applyPauses();
  }

  resume(topics: Array<{ topic: string; partitions?: number[] }>): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) {
        this.pausedTopics.delete(topic);
        for (const key of [...this.pausedPartitions]) if (key.startsWith(`${topic}\u0000`)) this.pausedPartitions.delete(key);
      } else {
        for (const p of partitions) this.pausedPartitions.delete(tpKey(topic, p));
      }
    }
    this.applyPauses();
  }

  assignment(): TopicPartition[] {
    return [...this.assigned.values()].map((tp) => ({ ...tp })).sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  }

  // ---- internals ---------------------------------------------------------------------------------------------------

  private isPaused(topic: string, partition: number): boolean {
    return this.pausedTopics.has(topic) || this.pausedPartitions.has(tpKey(topic, partition));
  }

  /** Mirrors our pause sets into kafkajs (whose topic pause clears partition pauses, unlike ours). */
  private applyPauses(): void {
    if (this.state !== 'running') return;
    try {
      for (const topic of this.topics) {
        this.kc.resume([{ topic }]);
        if (this.pausedTopics.has(topic)) {
          this.kc.pause([{ topic }]);
          continue;
        }
        const partitions = [...this.pausedPartitions].filter((k) => k.startsWith(`${topic}\u0000`)).map((k) => Number(k.slice(topic.length + 1)));
        if (partitions.length > 0) this.kc.pause([{ topic, partitions }]);
      }
    } catch {
      // Not joined yet (kafkajs has no consumer group before run()): the next GROUP_JOIN applies them.
    }
  }

  /** Exponential backoff between kafkajs restarts (kafkajs itself restarts after a fixed initialRetryTime). */
  private async restartOnFailure(error: Error): Promise<boolean> {
    this.crashes += 1;
    const delay = Math.min(this.retry.maxRetryTime, this.retry.initialRetryTime * 2 ** Math.min(this.crashes - 1, 16));
    this.log.warn({ err: error, restartInMs: delay, crashes: this.crashes }, 'consumer failed on a retriable error; restarting');
    await sleep(delay);
    return this.running && !this.transport.closed;
  }

  private noteRebalance(error: unknown): void {
    this.rebalance ??= findTyped(error, REBALANCE_TYPES) ?? error;
  }

  private async heartbeat(kp: KafkaJsEachBatchPayload): Promise<void> {
    try {
      await kp.heartbeat();
    } catch (e) {
      // Never thrown at the stage: a rebalance makes the batch stale, anything else kafkajs meets again after the batch.
      if (findTyped(e, REBALANCE_TYPES) !== undefined) this.noteRebalance(e);
      else this.log.warn({ err: e }, 'heartbeat failed');
    }
  }

  private async commitOwned(topic: string, partition: number, offset: number, commit: CommitOffsets | undefined): Promise<void> {
    const key = tpKey(topic, partition);
    const known = this.highWatermarks.get(key);
    if (known === undefined || offset > known) {
      const high = await this.transport.highWatermark(topic, partition);
      this.highWatermarks.set(key, high);
      if (offset > high) throw new TransportError(`cannot commit ${offset} on ${topic}[${partition}]: past the high watermark ${high}`);
    }
    const offsetText = formatOffset(offset);
    for (let attempt = 0; ; attempt++) {
      try {
        if (commit !== undefined) await commit({ topics: [{ topic, partitions: [{ partition, offset: offsetText }] }] });
        else await this.kc.commitOffsets([{ topic, partition, offset: offsetText }]);
        return;
      } catch (e) {
        if (findTyped(e, REBALANCE_TYPES) !== undefined) {
          this.noteRebalance(e);
          const error = new NotAssignedError(this.groupId, topic, partition);
          this.rebalanceCauses.set(error, this.rebalance);
          throw error;
        }
        if (!isRetriable(e) || attempt >= this.retry.retries) throw toTransportError(`committing ${topic}[${partition}] at ${offsetText}`, e);
        await sleep(Math.min(this.retry.maxRetryTime, this.retry.initialRetryTime * 2 ** attempt));
      }
    }
  }

  /** Exactly-once: closes the previous generation's producers and registers one per assigned partition. */
  private registerProducers(): void {
    const previous = this.txnProducers;
    this.txnProducers = new Map();
    for (const p of previous.values()) void p.close();
    for (const [key, { topic, partition }] of this.assigned) {
      const producer = new PartitionProducer({
        kafka: this.kafka,
        groupId: this.groupId,
        topic,
        partition,
        transactionTimeoutMs: this.transport.transactionTimeoutMs,
        retry: this.retry,
        committedOffset: () => this.committedOffset(topic, partition),
        logger: this.log,
      });
      this.txnProducers.set(key, producer);
      // Registering at once fences the partition's previous holder before we read where it stopped.
      producer.start().catch((e: unknown) => this.log.warn({ err: e, topic, partition }, 'registering the transactional producer failed; retrying with the first batch'));
    }
  }

  private async closeProducers(): Promise<void> {
    const producers = [...this.txnProducers.values()];
    this.txnProducers = new Map();
    this.settled.clear();
    await Promise.all(producers.map((p) => p.close()));
  }

  private async committedOffset(topic: string, partition: number): Promise<number | undefined> {
    const offsets = await this.transport.groupOffsets(this.groupId, topic);
    const offset = offsets.find((o) => o.partition === partition)?.offset;
    return offset === undefined || offset === '-1' ? undefined : parseOffset(offset);
  }

  /** Waits (once per generation) until the partition's producer is registered; returns the committed offset then. */
  private async settle(topic: string, partition: number, generation: number): Promise<number | 'lost'> {
    const key = tpKey(topic, partition);
    if (this.settled.get(key) === generation) return 0;
    const producer = this.txnProducers.get(key);
    if (producer === undefined) return 'lost';
    try {
      await producer.start();
    } catch (e) {
      if (e instanceof NotAssignedError) return 'lost';
      throw toTransportError(`registering the transactional producer of ${topic}[${partition}]`, e);
    }
    const committed = (await this.committedOffset(topic, partition)) ?? 0;
    this.settled.set(key, generation);
    return committed;
  }

  private async produceAndCommit(topic: string, partition: number, outputs: TopicMessages[], next: number, first: number, last: number): Promise<void> {
    if (!this.exactlyOnce) throw new TransportError('produceAndCommit needs run({ exactlyOnce: true })');
    if (next < first || next > last + 1) throw new TransportError(`produceAndCommit(${next}) is outside the batch ${first}..${last + 1}`);
    for (const o of outputs) {
      const partitions = await this.transport.partitionCount(o.topic);
      o.messages.forEach((m, i) => validateOutgoing(m, i, o.topic, partitions));
    }
    const producer = this.txnProducers.get(tpKey(topic, partition));
    try {
      if (producer === undefined) throw new NotAssignedError(this.groupId, topic, partition);
      await producer.transact(outputs, next);
    } catch (e) {
      if (e instanceof NotAssignedError) {
        // Fenced or revoked: kafkajs must rejoin (a rebalance error makes it do so) and the new owner redoes the batch.
        const cause = this.rebalance ?? new KafkaJSProtocolError(Object.assign(new Error(e.message), { type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: false }));
        this.noteRebalance(cause);
        this.rebalanceCauses.set(e, cause);
      }
      throw e;
    }
  }

  /** kafkajs's eachBatch: hands the fetched batch over in slices; a stage's throw ends the consumer, never kafkajs's retry. */
  private async handleBatch(kp: KafkaJsEachBatchPayload, eachBatch: RunOptions['eachBatch'], maxBatchSize: number, autoResolve: boolean): Promise<void> {
    this.commitDirect = kp.commitOffsetsIfNecessary;
    const { topic, partition } = kp.batch;
    // Stopping, failed, or paused since the fetch: leave everything unresolved, it is fetched again.
    if (!this.running || this.isPaused(topic, partition) || kp.batch.messages.length === 0) return;
    const key = tpKey(topic, partition);
    const generation = this.generation;
    const stale = (): boolean => this.rebalance !== undefined || this.generation !== generation || kp.isStale();
    const all = kp.batch.messages.map(toConsumed);
    const high = parseOffset(kp.batch.highWatermark);
    this.highWatermarks.set(key, Math.max(high, this.highWatermarks.get(key) ?? 0));
    // A batch of the previous generation on this partition may still be committing its transaction (a stale batch
    // may finish). The committed offset this one starts from must be read after that commit, or both would produce
    // outputs for the same messages — seen when a partition stayed with this member across a rebalance while
    // inference ran off the event loop.
    for (let prior = this.batchDone.get(key); prior !== undefined; prior = this.batchDone.get(key)) await prior;
    let finished!: () => void;
    this.batchDone.set(key, new Promise<void>((resolve) => (finished = resolve)));
    this.inFlight.add(key);
    try {
      if (this.exactlyOnce) {
        const committed = await this.settle(topic, partition, generation);
        if (committed === 'lost') return;
        const skipped = all.filter((m) => parseOffset(m.offset) < committed);
        if (skipped.length > 0) {
          // A transaction of the partition's previous holder completed after this fetch began: already done.
          kp.resolveOffset(skipped[skipped.length - 1].offset);
          all.splice(0, skipped.length);
          if (all.length === 0) return;
        }
      }
      for (let start = 0; start < all.length; start += maxBatchSize) {
        if (start > 0 && (!this.running || this.isPaused(topic, partition) || stale())) break;
        const messages = all.slice(start, start + maxBatchSize);
        const first = parseOffset(messages[0].offset);
        const last = parseOffset(messages[messages.length - 1].offset);
        let resolvedNext = first;
        const resolve = (offset: number): void => {
          if (offset + 1 <= resolvedNext) return;
          resolvedNext = offset + 1;
          kp.resolveOffset(formatOffset(offset));
        };
        const payload: EachBatchPayload = {
          batch: new KafkaBatch(topic, partition, messages, kp.batch.highWatermark),
          resolveOffset: (offset) => {
            const o = parseOffset(offset);
            if (o < first || o > last) throw new TransportError(`resolveOffset(${offset}) is outside the batch ${first}..${last}`);
            resolve(o);
          },
          heartbeat: () => this.heartbeat(kp),
          commit: (next) => this.commitOwned(topic, partition, next === undefined ? last + 1 : parseOffset(next), kp.commitOffsetsIfNecessary),
          produceAndCommit: (outputs, next) => this.produceAndCommit(topic, partition, outputs, next === undefined ? last + 1 : parseOffset(next), first, last),
          isRunning: () => this.running && kp.isRunning(),
          isStale: stale,
          pause: () => {
            this.pause([{ topic, partitions: [partition] }]);
            return () => this.resume([{ topic, partitions: [partition] }]);
          },
        };
        try {
          await eachBatch(payload);
        } catch (error) {
          const cause = typeof error === 'object' && error !== null ? this.rebalanceCauses.get(error) : undefined;
          // Our own "rebalanced away" from a commit: kafkajs rejoins, the new owner redoes the unresolved rest.
          if (cause !== undefined) throw cause;
          this.failure ??= { error };
          this.log.debug({ err: error, topic, partition, firstOffset: messages[0].offset }, 'eachBatch failed; stopping the consumer');
          void this.stop();
          return;
        }
        if (autoResolve) resolve(last);
        // Not all resolved: the rest is fetched again from the resolved offset.
        if (resolvedNext <= last) break;
        // Learn about rebalances between slices, as kafkajs does between batches (throttled to heartbeatInterval).
        await this.heartbeat(kp);
      }
    } finally {
      this.inFlight.delete(key);
      this.batchDone.delete(key);
      finished();
    }
    // Hand the rebalance to kafkajs so it rejoins now rather than at its next heartbeat.
    if (this.rebalance !== undefined && this.generation === generation && this.running) throw this.rebalance;
  }
}

// The message-transport interface every stage consumes and produces through (in-memory now, Kafka via kafkajs later).
//
// The shape follows kafkajs so that `transport/kafka.ts` is a thin adapter:
//   * offsets are decimal strings (Kafka offsets are int64; kafkajs never hands out JS numbers for them);
//   * `send` resolves once the broker acked the append (kafkajs `acks: -1`, all in-sync replicas);
//   * a consumer belongs to a group, partitions are spread across the group's members (round-robin, kafkajs's
//     default assigner) and move when a member joins or leaves;
//   * `run({ eachBatch })` hands over one partition's batch at a time, in offset order, with kafkajs's
//     `resolveOffset` / `heartbeat` / `isRunning` / `isStale` / `pause` helpers;
//   * commits are manual only (kafkajs `autoCommit: false`): the committed offset is the *next* offset to read,
//     and a group resumes from it after a restart or a rebalance — at-least-once delivery on its own;
//   * with `run({ exactlyOnce: true })` a batch's outputs and its commit are one atomic step
//     (`produceAndCommit`, a Kafka transaction): readers see the outputs exactly when the commit took, so a
//     consume → produce stage is exactly-once for readers that see only committed data (both transports'
//     consumers do: Kafka `read_committed`, kafkajs's default).
// Things kafkajs leaves to configuration are fixed here on purpose: a throw from `eachBatch` is fatal for the
// consumer (no silent retry loop; stages send bad input to the DLQ themselves), and batches are cut to
// `maxBatchSize` messages (kafkajs only bounds bytes; the adapter splits its fetches).

/** Message headers. Kafka allows Buffer values; we keep to UTF-8 strings so both transports agree. */
export type Headers = Record<string, string>;

/** A message handed to `Producer.send`. */
export interface OutgoingMessage {
  key: string;
  value: Uint8Array;
  headers?: Headers;
  /** Explicit partition; otherwise `partitionForKey(key, partitions)` (Kafka's default partitioner). */
  partition?: number;
}

/** A message as a consumer sees it. */
export interface ConsumedMessage {
  key: string;
  value: Uint8Array;
  headers: Headers;
  /** Decimal string, as in kafkajs. */
  offset: string;
  /** Append time in ms since the epoch, decimal string (kafkajs `message.timestamp`). */
  timestamp: string;
}

/** One acked append per partition touched by a `send` (kafkajs `RecordMetadata`). */
export interface RecordMetadata {
  topic: string;
  partition: number;
  /** Offset of the first message of this send on this partition. */
  baseOffset: string;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  offset: string;
}

/** Messages of one partition, contiguous and in offset order. */
export interface Batch {
  topic: string;
  partition: number;
  messages: ConsumedMessage[];
  /** Offset the next appended message will get (log end offset) at fetch time. */
  highWatermark: string;
  firstOffset(): string;
  lastOffset(): string;
  /** Messages left behind this batch at fetch time: highWatermark − 1 − lastOffset. */
  offsetLag(): string;
}

export interface EachBatchPayload {
  batch: Batch;
  /**
   * Marks everything up to and including `offset` as processed, so that when `eachBatch` returns early
   * (e.g. `isRunning()` turned false) the rest is fetched again. Only matters with `eachBatchAutoResolve: false`.
   * It is *not* a commit.
   */
  resolveOffset(offset: string): void;
  /** Keeps the group membership alive during long batches (a no-op in memory; needed on Kafka). */
  heartbeat(): Promise<void>;
  /** Commits `nextOffset` (default: lastOffset + 1) for this batch's partition. */
  commit(nextOffset?: string): Promise<void>;
  /**
   * Appends `outputs` and commits `nextOffset` (default: lastOffset + 1) for this batch's partition as one atomic
   * step: either all of it is visible to readers and the group resumes after it, or none of it is and the messages
   * are delivered again. Needs `run({ exactlyOnce: true })`. Rejects with NotAssignedError when the partition moved
   * to another member (its producer was fenced: nothing of this call is visible, the new owner redoes it).
   */
  produceAndCommit(outputs: TopicMessages[], nextOffset?: string): Promise<void>;
  /** False once `stop()` was called: finish or cut the batch short. */
  isRunning(): boolean;
  /**
   * True once a rebalance moved this partition to another member. The batch may still finish and commit
   * (the new owner waits for it), but there is no point fetching more.
   */
  isStale(): boolean;
  /** Pauses this batch's partition; returns the function that resumes it. */
  pause(): () => void;
}

/** Messages for one topic, as handed to `produceAndCommit`. */
export interface TopicMessages {
  topic: string;
  messages: OutgoingMessage[];
}

export interface SubscribeOptions {
  topics: string[];
  /** Where a group without a committed offset starts: log start (true) or log end (false, kafkajs default). */
  fromBeginning?: boolean;
}

export interface RunOptions {
  eachBatch: (payload: EachBatchPayload) => Promise<void>;
  /** At most this many messages per batch. Default 100. */
  maxBatchSize?: number;
  /**
   * At most this many batches in flight at once, each from a different partition (kafkajs
   * `partitionsConsumedConcurrently`): a partition's batches are processed strictly one after the other so
   * that resolve/commit stay in offset order. Default 1.
   */
  maxInFlightBatches?: number;
  /** When true (default) a batch counts as fully processed once `eachBatch` resolves. */
  eachBatchAutoResolve?: boolean;
  /**
   * Enables `produceAndCommit` (default false). On Kafka every assigned partition gets its own transactional
   * producer (id `<group>-<topic>-<partition>`), created on assignment — which fences an earlier owner's
   * producer and settles its open transaction — and closed on revocation.
   */
  exactlyOnce?: boolean;
}

export interface ConsumerConfig {
  groupId: string;
  /** Shown in member ids and logs. */
  clientId?: string;
}

export interface Consumer {
  readonly groupId: string;
  connect(): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<void>;
  /**
   * Joins the group and consumes until `stop()`/`disconnect()` (resolves) or until `eachBatch` throws
   * (rejects with that error, after the consumer left the group; uncommitted messages are redelivered).
   */
  run(options: RunOptions): Promise<void>;
  /** Commits `nextOffset` (the next offset to read) for a partition this member owns. */
  commit(topic: string, partition: number, nextOffset: string): Promise<void>;
  /**
   * Stops fetching, leaves the group, waits for the in-flight batches to finish. Idempotent. From inside
   * `eachBatch` call it without awaiting (`void consumer.stop()`): it waits for that very batch.
   */
  stop(): Promise<void>;
  /** `stop()` and release the connection; the consumer cannot be used afterwards. */
  disconnect(): Promise<void>;
  pause(topics: Array<{ topic: string; partitions?: number[] }>): void;
  resume(topics: Array<{ topic: string; partitions?: number[] }>): void;
  /** Partitions currently assigned to this member. */
  assignment(): TopicPartition[];
}

export interface Producer {
  connect(): Promise<void>;
  /** Appends in order and resolves once every message is acked; may wait on a bounded topic (backpressure). */
  send(topic: string, messages: OutgoingMessage[]): Promise<RecordMetadata[]>;
  disconnect(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
}

/** Low (log start) and high (log end) watermarks of one partition. */
export interface PartitionWatermarks {
  partition: number;
  low: string;
  high: string;
}

export interface PartitionOffset {
  partition: number;
  /** Committed next offset, or '-1' when the group never committed on this partition (kafkajs convention). */
  offset: string;
}

export interface Admin {
  /** Creates missing topics; an existing topic with the same partition count is left alone. True if any was created. */
  createTopics(topics: TopicSpec[]): Promise<boolean>;
  /** Watermarks of every partition of a topic. */
  topicOffsets(topic: string): Promise<PartitionWatermarks[]>;
  /** Committed offsets of a group on every partition of a topic. */
  groupOffsets(groupId: string, topic: string): Promise<PartitionOffset[]>;
  /** Overwrites a group's committed offsets (kafkajs `admin.setOffsets`; the group must have no live member). */
  setGroupOffsets(groupId: string, topic: string, offsets: PartitionOffset[]): Promise<void>;
  /** Forgets groups and their commits (kafkajs `admin.deleteGroups`; the groups must have no live member). */
  deleteGroups(groupIds: string[]): Promise<void>;
}

export interface ProducerConfig {
  clientId?: string;
}

export interface Transport extends Admin {
  producer(config?: ProducerConfig): Producer;
  consumer(config: ConsumerConfig): Consumer;
  /** Human-readable location for logs, e.g. `memory://` or `kafka://broker:9092`. */
  describe(): string;
  /** Stops every consumer it created, fails pending sends, releases connections. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors: like kafkajs, every error says whether retrying the same call can succeed.

export class TransportError extends Error {
  readonly retriable: boolean;
  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransportError';
    this.retriable = options.retriable ?? false;
  }
}

export class UnknownTopicError extends TransportError {
  constructor(readonly topic: string) {
    super(`unknown topic: ${topic} (create it with createTopics first)`);
    this.name = 'UnknownTopicError';
  }
}

/** A commit for a partition this member does not own (any more): the new owner will redo the work. */
export class NotAssignedError extends TransportError {
  constructor(
    readonly groupId: string,
    readonly topic: string,
    readonly partition: number,
  ) {
    super(`group ${groupId}: ${topic}[${partition}] is not assigned to this member (rebalanced away?)`);
    this.name = 'NotAssignedError';
  }
}

export class TransportClosedError extends TransportError {
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = 'TransportClosedError';
  }
}

export class TransportTimeoutError extends TransportError {
  constructor(message: string) {
    super(message, { retriable: true });
    this.name = 'TransportTimeoutError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Offsets as decimal strings.

const OFFSET_PATTERN = /^(0|[1-9][0-9]*)$/;

/** Parses a non-negative decimal offset; throws a TransportError for anything else. */
export function parseOffset(offset: string): number {
  if (typeof offset !== 'string' || !OFFSET_PATTERN.test(offset)) {
    throw new TransportError(`invalid offset ${JSON.stringify(offset)}: expected a non-negative decimal string`);
  }
  const n = Number(offset);
  if (!Number.isSafeInteger(n)) throw new TransportError(`offset ${offset} is beyond 2^53`);
  return n;
}

export function formatOffset(offset: number): string {
  return String(offset);
}

/** offset + 1, the value to commit after processing `offset`. */
export function nextOffset(offset: string): string {
  return formatOffset(parseOffset(offset) + 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Kafka's default partitioner (Java client `Utils.murmur2`, also kafkajs's DefaultPartitioner), so a key lands on
// the same partition whichever transport carries it.

const textEncoder = new TextEncoder();

/** Kafka's 32-bit murmur2 (seed 0x9747b28c) of the bytes, as a signed 32-bit integer like Java's. */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= data[whole + 2] << 16;
  if (rest >= 2) h ^= data[whole + 1] << 8;
  if (rest >= 1) {
    h ^= data[whole];
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** toPositive(murmur2(utf8(key))) % partitions — the partition Kafka's default partitioner picks. */
export function partitionForKey(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new TransportError(`invalid partition count ${partitions}`);
  return (murmur2(textEncoder.encode(key)) & 0x7fffffff) % partitions;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers shared by both transports.

export interface PartitionLag {
  partition: number;
  high: number;
  committed: number | undefined;
  /** Messages not yet committed by the group (counting from the log start when it never committed). */
  lag: number;
}

/** Per-partition and total lag of a group on a topic, from the admin API. */
export async function groupLag(admin: Admin, groupId: string, topic: string): Promise<{ partitions: PartitionLag[]; total: number }> {
  const [watermarks, committed] = await Promise.all([admin.topicOffsets(topic), admin.groupOffsets(groupId, topic)]);
  const partitions = watermarks.map((w) => partitionLag(w, committed));
  return { partitions, total: partitions.reduce((s, p) => s + p.lag, 0) };
}

/** One partition's lag from its watermarks and a group's committed offsets (as `Admin.groupOffsets` returns them). */
export function partitionLag(w: PartitionWatermarks, committed: readonly PartitionOffset[]): PartitionLag {
  const high = parseOffset(w.high);
  const low = parseOffset(w.low);
  const raw = committed.find((o) => o.partition === w.partition)?.offset;
  const c = raw === undefined || raw === '-1' ? undefined : parseOffset(raw);
  return { partition: w.partition, high, committed: c, lag: Math.max(0, high - Math.max(c ?? low, low)) };
}

export interface ReceivedMessage extends ConsumedMessage {
  topic: string;
  partition: number;
}

export interface WaitForMessagesOptions {
  /** Default 5000 ms. */
  timeoutMs?: number;
  /** Default: a fresh group per call, so earlier readers do not matter. */
  groupId?: string;
  /** Default true. */
  fromBeginning?: boolean;
}

let waitGroupCounter = 0;

/**
 * Test helper (after kafkajs's own): reads `topic` with a fresh consumer group until at least `count` messages
 * arrived, then stops. Rejects with a TransportTimeoutError naming how many came when `timeoutMs` passes.
 * Messages of one partition are in offset order; partitions interleave in arrival order. Commits nothing.
 */
export async function waitForMessages(
  transport: Transport,
  topic: string,
  count: number,
  options: WaitForMessagesOptions = {},
): Promise<ReceivedMessage[]> {
  const timeoutMs = options.timeoutMs ?? 5000;
  waitGroupCounter += 1;
  const groupId = options.groupId ?? `wait-for-messages-${process.pid}-${Date.now()}-${waitGroupCounter}`;
  const consumer = transport.consumer({ groupId, clientId: 'wait-for-messages' });
  const received: ReceivedMessage[] = [];
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= consumer.stop());
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: options.fromBeginning ?? true });
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const running = consumer.run({
      maxBatchSize: Math.max(1, count),
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) received.push({ ...m, topic: batch.topic, partition: batch.partition });
        if (received.length >= count) void stop();
      },
    });
    if (count <= 0) void stop();
    const outcome = await Promise.race([running.then(() => 'done' as const), timedOut]);
    if (outcome === 'timeout') {
      await stop();
      await running;
      throw new TransportTimeoutError(`waitForMessages(${topic}): got ${received.length} of ${count} messages in ${timeoutMs} ms`);
    }
    return received;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    await consumer.disconnect();
    // Our throwaway group would otherwise linger (and pin 'committed' retention in memory); cleanup is best effort.
    if (options.groupId === undefined) await transport.deleteGroups([groupId]).catch(() => undefined);
  }
}

export interface ReadAllOptions {
  /** The read is over once no message arrived for this long. Default 2000 ms. */
  idleMs?: number;
  /** Rejects when messages still arrive after this long. Default 120000 ms. */
  timeoutMs?: number;
}

/**
 * Reads what a fresh consumer group sees on `topic` — on Kafka only committed transactions (read_committed) — until
 * nothing new arrives for `idleMs`. Offsets cannot tell when that is: aborted records and transaction markers take
 * offsets that no reader ever sees. Commits nothing; the throwaway group is deleted.
 */
export async function readAllMessages(transport: Transport, topic: string, options: ReadAllOptions = {}): Promise<ReceivedMessage[]> {
  const idleMs = options.idleMs ?? 2000;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const total = (await transport.topicOffsets(topic)).reduce((s, p) => s + parseOffset(p.high) - parseOffset(p.low), 0);
  if (total === 0) return [];
  waitGroupCounter += 1;
  const groupId = `read-all-${process.pid}-${Date.now()}-${waitGroupCounter}`;
  const consumer = transport.consumer({ groupId, clientId: 'read-all' });
  const received: ReceivedMessage[] = [];
  let lastArrival = Date.now();
  const started = Date.now();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= consumer.stop());
  const timer = setInterval(() => {
    // Joining a group takes a moment: the idle clock starts with the first message (or after a few idle periods).
    const idleFrom = received.length > 0 ? lastArrival : started + 4 * idleMs;
    if (Date.now() - idleFrom >= idleMs || Date.now() - started > timeoutMs) void stop();
  }, Math.max(10, Math.min(200, idleMs / 4)));
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      maxBatchSize: 500,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) received.push({ ...m, topic: batch.topic, partition: batch.partition });
        lastArrival = Date.now();
      },
    });
    if (Date.now() - started > timeoutMs && Date.now() - lastArrival < idleMs) {
      throw new TransportTimeoutError(`readAllMessages(${topic}): messages still arriving after ${timeoutMs} ms (${received.length} so far)`);
    }
    return received;
  } finally {
    clearInterval(timer);
    await consumer.disconnect();
    await transport.deleteGroups([groupId]).catch(() => undefined);
  }
}

// In-process Transport: partitioned logs, consumer groups with rebalancing, manual commits and bounded topics.
//
// Everything is event driven: every state change (append, commit, batch done, rebalance, pause/resume, stop)
// calls `notify()`, which wakes whoever awaits `changed()` — consumer fetch loops, producers blocked on a full
// topic, `waitUntil` callers. Nothing polls.
//
// Semantics kept identical to Kafka where stage code could tell the difference (see transport.ts). Where the
// in-memory transport has to decide something Kafka's broker decides, it picks the safe choice:
//   * a partition moved by a rebalance is not fetched by its new owner until the old owner's in-flight batch on
//     it has finished (and possibly committed), so two members never work on one partition at once;
//   * a bounded topic (`capacity`) makes `send` wait while the slowest *live* group has more than `capacity`
//     messages of that partition not yet processed. Processed, not committed: a stage that commits rarely (the
//     student commits at checkpoints) must not deadlock its upstream. Groups without running members do not
//     hold producers back — they cannot make progress, so waiting on them could only deadlock.
//   * `produceAndCommit` (exactly-once runs) appends every output and moves the commit in one synchronous step,
//     after waiting until every target partition has room: a reader never sees part of it, as with Kafka's
//     read_committed; a member that lost the partition is refused (NotAssignedError) before anything is appended.
import {
  NotAssignedError,
  TransportClosedError,
  TransportError,
  TransportTimeoutError,
  UnknownTopicError,
  formatOffset,
  parseOffset,
  partitionForKey,
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
  type TopicPartition,
  type TopicMessages,
  type TopicSpec,
  type Transport,
} from './transport.ts';

/** What happens to messages every group that ever read the topic has committed. */
export type Retention = 'all' | 'committed';

export interface MemoryTopicSpec extends TopicSpec {
  /**
   * Per-partition bound on messages the slowest live consumer group has not yet processed; `send` waits above it.
   * Undefined = unbounded. Kafka has no such knob (its log is on disk): this is what keeps the embedded runner's
   * memory flat when an upstream stage is faster than a downstream one.
   */
  capacity?: number;
  /**
   * 'all' (default) keeps every message, like Kafka within its retention time. 'committed' drops a message once
   * every group that subscribed to the topic has committed past it (the log start offset moves up), so a long
   * embedded run holds only the uncommitted window. Delete finished helper groups (`deleteGroups`) or they pin it.
   */
  retention?: Retention;
}

export interface MemoryTransportOptions {
  /** Defaults for topics created without their own `capacity`/`retention`. */
  topicDefaults?: { capacity?: number; retention?: Retention };
}

export interface WaitUntilOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** 'committed': the group committed everything; 'processed': every delivered batch finished and nothing is left to fetch. */
export type DrainMeasure = 'committed' | 'processed';

interface StoredMessage {
  key: string;
  value: Uint8Array;
  headers: Headers;
  timestamp: number;
}

const DEFAULT_MAX_BATCH_SIZE = 100;
const DEFAULT_MAX_IN_FLIGHT = 1;

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** Wakes every waiter on the next change; waiters re-check their condition (no lost wake-ups in one thread). */
class ChangeSignal {
  private pending: { promise: Promise<void>; resolve: () => void } | undefined;

  changed(): Promise<void> {
    if (this.pending === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.pending = { promise, resolve };
    }
    return this.pending.promise;
  }

  notify(): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve();
  }
}

class PartitionLog {
  // entries[i] holds offset base + i; offsets below `low` were dropped by retention (undefined until compaction).
  private entries: Array<StoredMessage | undefined> = [];
  private base = 0;
  private start = 0;

  get low(): number {
    return this.start;
  }

  get high(): number {
    return this.base + this.entries.length;
  }

  append(message: StoredMessage): number {
    this.entries.push(message);
    return this.high - 1;
  }

  read(from: number, max: number): Array<{ offset: number; message: StoredMessage }> {
    const out: Array<{ offset: number; message: StoredMessage }> = [];
    for (let offset = Math.max(from, this.start); offset < this.high && out.length < max; offset++) {
      out.push({ offset, message: this.entries[offset - this.base] as StoredMessage });
    }
    return out;
  }

  truncateBefore(offset: number): void {
    const target = Math.min(offset, this.high);
    if (target <= this.start) return;
    for (let o = this.start; o < target; o++) this.entries[o - this.base] = undefined;
    this.start = target;
    // Compact lazily so that truncation stays amortised O(1) per message.
    const dropped = this.start - this.base;
    if (dropped > 1024 && dropped * 2 > this.entries.length) {
      this.entries = this.entries.slice(dropped);
      this.base = this.start;
    }
  }
}

class MemoryTopic {
  readonly logs: PartitionLog[];
  constructor(
    readonly name: string,
    partitions: number,
    readonly capacity: number | undefined,
    readonly retention: Retention,
  ) {
    this.logs = Array.from({ length: partitions }, () => new PartitionLog());
  }

  log(partition: number): PartitionLog {
    const log = this.logs[partition];
    if (log === undefined) throw new TransportError(`topic ${this.name} has no partition ${partition} (it has ${this.logs.length})`);
    return log;
  }
}

class MemoryGroup {
  /** Running members in join order (the assignment order). */
  readonly members: MemoryConsumer[] = [];
  /** Target assignment: which member owns a partition. */
  readonly owners = new Map<string, MemoryConsumer>();
  /** Partitions with a batch in flight, and whose batch it is (may differ from the owner right after a rebalance). */
  readonly busy = new Map<string, MemoryConsumer>();
  /** Committed next offsets. */
  readonly committed = new Map<string, number>();
  /** Topics any member ever subscribed to: they pin 'committed' retention. */
  readonly topicsRead = new Set<string>();
  generation = 0;

  constructor(readonly id: string) {}

  isLiveOn(topic: string): boolean {
    return this.members.some((m) => m.subscribes(topic));
  }
}

export class MemoryTransport implements Transport {
  private readonly topics = new Map<string, MemoryTopic>();
  private readonly groups = new Map<string, MemoryGroup>();
  private readonly consumers = new Set<MemoryConsumer>();
  private readonly signal = new ChangeSignal();
  private closedFlag = false;
  private memberSeq = 0;

  constructor(private readonly options: MemoryTransportOptions = {}) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  describe(): string {
    return 'memory://';
  }

  producer(config: ProducerConfig = {}): Producer {
    return new MemoryProducer(this, config);
  }

  consumer(config: ConsumerConfig): MemoryConsumer {
    if (typeof config.groupId !== 'string' || config.groupId.length === 0) throw new TransportError('consumer needs a non-empty groupId');
    const consumer = new MemoryConsumer(this, config);
    this.consumers.add(consumer);
    return consumer;
  }

  // ---- admin -------------------------------------------------------------------------------------------------

  async createTopics(specs: MemoryTopicSpec[]): Promise<boolean> {
    this.assertOpen();
    for (const spec of specs) {
      if (typeof spec.topic !== 'string' || spec.topic.length === 0) throw new TransportError('topic name must be a non-empty string');
      if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
        throw new TransportError(`topic ${spec.topic}: partitions must be a positive integer, got ${spec.partitions}`);
      }
      const capacity = spec.capacity ?? this.options.topicDefaults?.capacity;
      if (capacity !== undefined && (!Number.isInteger(capacity) || capacity < 1)) {
        throw new TransportError(`topic ${spec.topic}: capacity must be a positive integer, got ${capacity}`);
      }
      const existing = this.topics.get(spec.topic);
      if (existing !== undefined && existing.logs.length !== spec.partitions) {
        throw new TransportError(`topic ${spec.topic} exists with ${existing.logs.length} partitions, not ${spec.partitions}`);
      }
    }
    let created = false;
    for (const spec of specs) {
      if (this.topics.has(spec.topic)) continue;
      const retention = spec.retention ?? this.options.topicDefaults?.retention ?? 'all';
      this.topics.set(spec.topic, new MemoryTopic(spec.topic, spec.partitions, spec.capacity ?? this.options.topicDefaults?.capacity, retention));
      created = true;
    }
    return created;
  }

  async topicOffsets(topic: string): Promise<PartitionWatermarks[]> {
    return this.topic(topic).logs.map((log, partition) => ({ partition, low: formatOffset(log.low), high: formatOffset(log.high) }));
  }

  async groupOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    const t = this.topic(topic);
    const group = this.groups.get(groupId);
    return t.logs.map((_, partition) => {
      const c = group?.committed.get(tpKey(topic, partition));
      return { partition, offset: c === undefined ? '-1' : formatOffset(c) };
    });
  }

  async setGroupOffsets(groupId: string, topic: string, offsets: PartitionOffset[]): Promise<void> {
    const t = this.topic(topic);
    const group = this.group(groupId);
    if (group.members.length > 0) throw new TransportError(`group ${groupId} has running members; stop them before setting offsets`);
    const parsed = offsets.map((o) => ({ partition: o.partition, offset: parseOffset(o.offset) }));
    for (const o of parsed) {
      const log = t.log(o.partition);
      if (o.offset > log.high) throw new TransportError(`offset ${o.offset} is past the end (${log.high}) of ${topic}[${o.partition}]`);
    }
    for (const o of parsed) group.committed.set(tpKey(topic, o.partition), o.offset);
    group.topicsRead.add(topic);
    this.applyRetention(t);
    this.notify();
  }

  /** Forgets groups (their commits stop pinning retention). Like Kafka, only groups without running members. */
  async deleteGroups(groupIds: string[]): Promise<void> {
    for (const id of groupIds) {
      const group = this.groups.get(id);
      if (group !== undefined && group.members.length > 0) throw new TransportError(`group ${id} has running members`);
    }
    for (const id of groupIds) this.groups.delete(id);
    for (const t of this.topics.values()) this.applyRetention(t);
    this.notify();
  }

  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.notify();
    await Promise.all([...this.consumers].map((c) => c.stop()));
  }

  /** Synchronous watermarks (the admin `topicOffsets` is async to match Kafka); handy for `waitUntil` predicates. */
  watermarks(topic: string): Array<{ partition: number; low: number; high: number }> {
    return this.topic(topic).logs.map((log, partition) => ({ partition, low: log.low, high: log.high }));
  }

  // ---- end-of-stream helpers for the embedded runner -----------------------------------------------------------

  /**
   * True when `groupId` is done with everything appended to `topic` so far: by 'committed' (default) every
   * partition's committed offset reached the high watermark; by 'processed' no batch of the topic is in flight
   * and the group's fetch position reached the high watermark (for stages that commit only at checkpoints).
   */
  isDrained(groupId: string, topic: string, measure: DrainMeasure = 'committed'): boolean {
    const t = this.topic(topic);
    const group = this.groups.get(groupId);
    return t.logs.every((log, partition) => {
      const key = tpKey(topic, partition);
      if (measure === 'committed') return (group?.committed.get(key) ?? log.low) >= log.high;
      if (group?.busy.has(key)) return false;
      return (group === undefined ? log.low : this.groupPosition(group, topic, partition)) >= log.high;
    });
  }

  /**
   * Resolves once `predicate()` holds; rejects on timeout, abort or close. The predicate is re-checked on every
   * transport event: append, batch delivery (after eachBatch ran up to its first await), batch completion,
   * commit, membership change, pause/resume.
   */
  async waitUntil(predicate: () => boolean, options: WaitUntilOptions = {}): Promise<void> {
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            this.notify();
          }, options.timeoutMs);
    const onAbort = (): void => this.notify();
    options.signal?.addEventListener('abort', onAbort);
    try {
      while (!predicate()) {
        if (this.closedFlag) throw new TransportClosedError('memory transport');
        if (timedOut) throw new TransportTimeoutError(`condition not met within ${options.timeoutMs} ms`);
        if (options.signal?.aborted) throw new TransportError('wait aborted', { cause: options.signal.reason });
        await this.changed();
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Waits until every (group, topic) pair is drained at the same moment — a finite pipeline has run dry. */
  whenDrained(pairs: Array<{ groupId: string; topic: string; measure?: DrainMeasure }>, options: WaitUntilOptions = {}): Promise<void> {
    return this.waitUntil(() => pairs.every((p) => this.isDrained(p.groupId, p.topic, p.measure)), options);
  }

  // ---- internals shared with producers and consumers ------------------------------------------------------------

  /** @internal */
  changed(): Promise<void> {
    return this.signal.changed();
  }

  /** @internal */
  notify(): void {
    this.signal.notify();
  }

  /** @internal */
  assertOpen(): void {
    if (this.closedFlag) throw new TransportClosedError('memory transport');
  }

  /** @internal */
  topic(name: string): MemoryTopic {
    const t = this.topics.get(name);
    if (t === undefined) throw new UnknownTopicError(name);
    return t;
  }

  /** @internal */
  group(id: string): MemoryGroup {
    let group = this.groups.get(id);
    if (group === undefined) {
      group = new MemoryGroup(id);
      this.groups.set(id, group);
    }
    return group;
  }

  /** @internal */
  nextMemberId(clientId: string): string {
    this.memberSeq += 1;
    return `${clientId}-${String(this.memberSeq).padStart(4, '0')}`;
  }

  /** @internal Where a group would fetch next on a partition (its owner's position, else committed/reset). */
  groupPosition(group: MemoryGroup, topic: string, partition: number): number {
    const key = tpKey(topic, partition);
    const owner = group.owners.get(key);
    const position = owner?.positionOf(key);
    if (position !== undefined) return position;
    return this.initialPosition(group, topic, partition, owner?.fromBeginning ?? true);
  }

  /** @internal committed offset, or the reset position (log start/end) when none or when it fell below log start. */
  initialPosition(group: MemoryGroup, topic: string, partition: number, fromBeginning: boolean): number {
    const log = this.topic(topic).log(partition);
    const committed = group.committed.get(tpKey(topic, partition));
    if (committed !== undefined && committed >= log.low) return committed;
    return fromBeginning ? log.low : log.high;
  }

  /** @internal True when a send to this partition must wait (capacity reached for some live group). */
  isFull(t: MemoryTopic, partition: number): boolean {
    if (t.capacity === undefined) return false;
    const high = t.log(partition).high;
    for (const group of this.groups.values()) {
      if (!group.isLiveOn(t.name)) continue;
      if (high - this.groupPosition(group, t.name, partition) >= t.capacity) return true;
    }
    return false;
  }

  /** @internal */
  applyRetention(t: MemoryTopic): void {
    if (t.retention !== 'committed') return;
    const readers = [...this.groups.values()].filter((g) => g.topicsRead.has(t.name));
    if (readers.length === 0) return;
    t.logs.forEach((log, partition) => {
      const key = tpKey(t.name, partition);
      const floor = Math.min(...readers.map((g) => g.committed.get(key) ?? log.low));
      log.truncateBefore(floor);
    });
  }

  /** @internal */
  forget(consumer: MemoryConsumer): void {
    this.consumers.delete(consumer);
  }
}

class MemoryProducer implements Producer {
  private connected = false;
  private disconnected = false;

  constructor(
    private readonly transport: MemoryTransport,
    private readonly config: ProducerConfig,
  ) {}

  async connect(): Promise<void> {
    this.transport.assertOpen();
    if (this.disconnected) throw new TransportClosedError(`producer ${this.config.clientId ?? ''}`.trim());
    this.connected = true;
  }

  async send(topic: string, messages: OutgoingMessage[]): Promise<RecordMetadata[]> {
    this.transport.assertOpen();
    if (!this.connected) throw new TransportError('producer is not connected (call connect() first)');
    const t = this.transport.topic(topic);
    // Validate the whole request first so a bad message cannot leave half of it appended.
    const routed = route(t, messages);
    const baseOffsets = new Map<number, number>();
    let unannounced = false;
    for (const { message, partition } of routed) {
      // Only yield when we must wait: a send whose messages all fit is appended in one go, so consumers see it whole.
      while (this.transport.isFull(t, partition)) {
        // Announce what we appended before sleeping, or the consumers we wait for would never wake up.
        if (unannounced) this.transport.notify();
        unannounced = false;
        await this.transport.changed();
        this.transport.assertOpen();
        if (!this.connected) throw new TransportClosedError('producer');
      }
      const offset = appendOne(t, partition, message);
      if (!baseOffsets.has(partition)) baseOffsets.set(partition, offset);
      unannounced = true;
    }
    if (unannounced) this.transport.notify();
    return [...baseOffsets].map(([partition, offset]) => ({ topic, partition, baseOffset: formatOffset(offset) }));
  }

  async disconnect(): Promise<void> {
    this.connected = false;
    this.disconnected = true;
    this.transport.notify();
  }
}

/** Validates every message (so a bad one cannot leave half of a request appended) and picks its partition. */
function route(t: MemoryTopic, messages: OutgoingMessage[]): Array<{ message: OutgoingMessage; partition: number }> {
  return messages.map((m, i) => ({ message: validateOutgoing(m, i, t), partition: m.partition ?? partitionForKey(m.key, t.logs.length) }));
}

function appendOne(t: MemoryTopic, partition: number, message: OutgoingMessage): number {
  return t.log(partition).append({ key: message.key, value: message.value.slice(), headers: { ...(message.headers ?? {}) }, timestamp: Date.now() });
}

function validateOutgoing(m: OutgoingMessage, index: number, t: MemoryTopic): OutgoingMessage {
  const where = `message ${index} to ${t.name}`;
  if (typeof m !== 'object' || m === null) throw new TransportError(`${where}: not an object`);
  if (typeof m.key !== 'string') throw new TransportError(`${where}: key must be a string`);
  if (!(m.value instanceof Uint8Array)) throw new TransportError(`${where}: value must be a Uint8Array`);
  if (m.headers !== undefined) {
    for (const [name, value] of Object.entries(m.headers)) {
      if (typeof value !== 'string') throw new TransportError(`${where}: header ${name} must be a string`);
    }
  }
  if (m.partition !== undefined && (!Number.isInteger(m.partition) || m.partition < 0 || m.partition >= t.logs.length)) {
    throw new TransportError(`${where}: partition ${m.partition} out of range 0..${t.logs.length - 1}`);
  }
  return m;
}

class MemoryBatch implements Batch {
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

type ConsumerState = 'new' | 'connected' | 'running' | 'disconnected';

export class MemoryConsumer implements Consumer {
  readonly groupId: string;
  private readonly clientId: string;
  private state: ConsumerState = 'new';
  private readonly topics = new Set<string>();
  private fromBeginningFlag = false;
  private running = false;
  private memberId = '';
  private finished: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;
  private assigned = new Map<string, TopicPartition>();
  private readonly positions = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly pausedPartitions = new Set<string>();
  private readonly pausedTopics = new Set<string>();
  private cursor = 0;
  private exactlyOnce = false;

  constructor(
    private readonly transport: MemoryTransport,
    config: ConsumerConfig,
  ) {
    this.groupId = config.groupId;
    this.clientId = config.clientId ?? 'consumer';
  }

  get fromBeginning(): boolean {
    return this.fromBeginningFlag;
  }

  /** Member id while running (empty otherwise); shows join order. */
  get id(): string {
    return this.memberId;
  }

  async connect(): Promise<void> {
    this.transport.assertOpen();
    if (this.state === 'disconnected') throw new TransportClosedError('consumer');
    if (this.state === 'new') this.state = 'connected';
  }

  async subscribe(options: SubscribeOptions): Promise<void> {
    this.transport.assertOpen();
    if (this.state === 'new') throw new TransportError('consumer is not connected (call connect() first)');
    if (this.state === 'disconnected') throw new TransportClosedError('consumer');
    if (this.state === 'running') throw new TransportError('cannot subscribe while running; stop() first');
    if (!Array.isArray(options.topics) || options.topics.length === 0) throw new TransportError('subscribe needs at least one topic');
    for (const topic of options.topics) this.transport.topic(topic);
    for (const topic of options.topics) this.topics.add(topic);
    this.fromBeginningFlag = options.fromBeginning ?? false;
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

    this.state = 'running';
    this.running = true;
    this.failure = undefined;
    this.memberId = this.transport.nextMemberId(this.clientId);
    const group = this.transport.group(this.groupId);
    for (const topic of this.topics) group.topicsRead.add(topic);
    group.members.push(this);
    rebalance(this.transport, group);

    this.exactlyOnce = options.exactlyOnce ?? false;
    const loop = this.fetchLoop(group, options.eachBatch, maxBatchSize, maxInFlight, options.eachBatchAutoResolve ?? true);
    this.finished = loop;
    await loop;
    // Re-read through a method: `disconnect()` and a failing batch change these while we awaited.
    const { state, failure } = this.snapshot();
    if (state === 'running') this.state = 'connected';
    this.memberId = '';
    if (failure !== undefined) throw failure.error;
  }

  async commit(topic: string, partition: number, nextOffset: string): Promise<void> {
    this.transport.assertOpen();
    const log = this.transport.topic(topic).log(partition);
    const offset = parseOffset(nextOffset);
    if (offset > log.high) throw new TransportError(`cannot commit ${offset} on ${topic}[${partition}]: past the high watermark ${log.high}`);
    const group = this.transport.group(this.groupId);
    this.assertMayCommit(group, topic, partition);
    group.committed.set(tpKey(topic, partition), offset);
    this.transport.applyRetention(this.transport.topic(topic));
    this.transport.notify();
  }

  /** Like Kafka: members commit what they own (or still hold a batch of); anyone may commit for an empty group. */
  private assertMayCommit(group: MemoryGroup, topic: string, partition: number): void {
    const key = tpKey(topic, partition);
    const allowed = group.members.length === 0 || group.owners.get(key) === this || group.busy.get(key) === this;
    if (!allowed) throw new NotAssignedError(this.groupId, topic, partition);
  }

  /** All outputs appended and the commit moved in one synchronous step, once every target partition has room. */
  private async produceAndCommit(group: MemoryGroup, tp: TopicPartition, outputs: TopicMessages[], nextOffset: string): Promise<void> {
    this.transport.assertOpen();
    const offset = parseOffset(nextOffset);
    const log = this.transport.topic(tp.topic).log(tp.partition);
    if (offset > log.high) throw new TransportError(`cannot commit ${offset} on ${tp.topic}[${tp.partition}]: past the high watermark ${log.high}`);
    const routed = outputs.map((o) => {
      const t = this.transport.topic(o.topic);
      return { t, messages: route(t, o.messages) };
    });
    for (;;) {
      this.assertMayCommit(group, tp.topic, tp.partition);
      if (!routed.some(({ t, messages }) => messages.some((m) => this.transport.isFull(t, m.partition)))) break;
      await this.transport.changed();
      this.transport.assertOpen();
    }
    for (const { t, messages } of routed) for (const m of messages) appendOne(t, m.partition, m.message);
    group.committed.set(tpKey(tp.topic, tp.partition), offset);
    for (const { t } of routed) this.transport.applyRetention(t);
    this.transport.applyRetention(this.transport.topic(tp.topic));
    this.transport.notify();
  }

  async stop(): Promise<void> {
    if (this.running) {
      this.running = false;
      this.transport.notify();
    }
    await this.finished;
  }

  async disconnect(): Promise<void> {
    await this.stop();
    this.state = 'disconnected';
    this.transport.forget(this);
  }

  pause(topics: Array<{ topic: string; partitions?: number[] }>): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) this.pausedTopics.add(topic);
      else for (const p of partitions) this.pausedPartitions.add(tpKey(topic, p));
    }
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
    this.transport.notify();
  }

  assignment(): TopicPartition[] {
    return [...this.assigned.values()].map((tp) => ({ ...tp }));
  }

  private snapshot(): { state: ConsumerState; failure: { error: unknown } | undefined } {
    return { state: this.state, failure: this.failure };
  }

  /** @internal */
  subscribedTopics(): string[] {
    return [...this.topics];
  }

  /** @internal */
  subscribes(topic: string): boolean {
    return this.topics.has(topic);
  }

  /** @internal */
  positionOf(key: string): number | undefined {
    return this.positions.get(key);
  }

  /** @internal Installs a new assignment; revoked partitions forget their position (the next owner starts from the commit). */
  setAssignment(next: Map<string, TopicPartition>): void {
    for (const key of this.assigned.keys()) if (!next.has(key)) this.positions.delete(key);
    this.assigned = next;
  }

  private async fetchLoop(
    group: MemoryGroup,
    eachBatch: RunOptions['eachBatch'],
    maxBatchSize: number,
    maxInFlight: number,
    autoResolve: boolean,
  ): Promise<void> {
    while (this.running && !this.transport.closed) {
      while (this.running && this.inFlight.size < maxInFlight) {
        const next = this.pick(group);
        if (next === undefined) break;
        this.launch(group, next.tp, next.position, eachBatch, maxBatchSize, autoResolve);
      }
      await this.transport.changed();
    }
    this.running = false;
    // Leave first so other members can take the idle partitions at once; partitions with a batch in flight stay
    // busy (nobody else fetches them) until that batch has finished and committed.
    const index = group.members.indexOf(this);
    if (index >= 0) group.members.splice(index, 1);
    this.setAssignment(new Map());
    rebalance(this.transport, group);
    await Promise.all([...this.inFlight.values()]);
    this.positions.clear();
    this.transport.notify();
  }

  private pick(group: MemoryGroup): { tp: TopicPartition; position: number } | undefined {
    const candidates = [...this.assigned.entries()];
    for (let i = 0; i < candidates.length; i++) {
      const index = (this.cursor + i) % candidates.length;
      const [key, tp] = candidates[index];
      if (this.inFlight.has(key) || this.pausedTopics.has(tp.topic) || this.pausedPartitions.has(key)) continue;
      const holder = group.busy.get(key);
      if (holder !== undefined && holder !== this) continue;
      const log = this.transport.topic(tp.topic).log(tp.partition);
      let position = this.positions.get(key);
      if (position === undefined || position < log.low) {
        position = this.transport.initialPosition(group, tp.topic, tp.partition, this.fromBeginningFlag);
        this.positions.set(key, position);
      }
      if (position >= log.high) continue;
      this.cursor = index + 1;
      return { tp, position };
    }
    return undefined;
  }

  private launch(
    group: MemoryGroup,
    tp: TopicPartition,
    position: number,
    eachBatch: RunOptions['eachBatch'],
    maxBatchSize: number,
    autoResolve: boolean,
  ): void {
    const key = tpKey(tp.topic, tp.partition);
    const log = this.transport.topic(tp.topic).log(tp.partition);
    const records = log.read(position, maxBatchSize);
    const messages: ConsumedMessage[] = records.map(({ offset, message }) => ({
      key: message.key,
      // A copy, as a Kafka client would decode one: a consumer scribbling on it cannot corrupt other groups.
      value: message.value.slice(),
      headers: { ...message.headers },
      offset: formatOffset(offset),
      timestamp: String(message.timestamp),
    }));
    const first = records[0].offset;
    const last = records[records.length - 1].offset;
    const batch = new MemoryBatch(tp.topic, tp.partition, messages, formatOffset(log.high));
    let resolvedNext = first;
    const payload: EachBatchPayload = {
      batch,
      resolveOffset: (offset) => {
        const o = parseOffset(offset);
        if (o < first || o > last) throw new TransportError(`resolveOffset(${offset}) is outside the batch ${first}..${last}`);
        resolvedNext = Math.max(resolvedNext, o + 1);
      },
      heartbeat: async () => {},
      commit: (next) => this.commit(tp.topic, tp.partition, next ?? formatOffset(last + 1)),
      produceAndCommit: async (outputs, next) => {
        if (!this.exactlyOnce) throw new TransportError('produceAndCommit needs run({ exactlyOnce: true })');
        await this.produceAndCommit(group, tp, outputs, next ?? formatOffset(last + 1));
      },
      isRunning: () => this.running && !this.transport.closed,
      isStale: () => group.owners.get(key) !== this,
      pause: () => {
        this.pause([{ topic: tp.topic, partitions: [tp.partition] }]);
        return () => this.resume([{ topic: tp.topic, partitions: [tp.partition] }]);
      },
    };
    group.busy.set(key, this);
    const done = Promise.resolve()
      .then(() => {
        const processing = eachBatch(payload);
        // Delivery is an event too: `waitUntil` predicates may watch what eachBatch recorded synchronously.
        this.transport.notify();
        return processing;
      })
      .then(
        () => {
          // A partition revoked meanwhile forgets its position: the next owner restarts from the commit.
          if (this.assigned.has(key)) this.positions.set(key, autoResolve ? last + 1 : resolvedNext);
        },
        (error: unknown) => {
          this.failure ??= { error };
          this.running = false;
        },
      )
      .finally(() => {
        if (group.busy.get(key) === this) group.busy.delete(key);
        this.inFlight.delete(key);
        this.transport.notify();
      });
    this.inFlight.set(key, done);
  }
}

/**
 * Round-robin assignment (kafkajs's default assigner): every subscribed topic-partition, sorted, dealt in turn to
 * the members subscribed to its topic, in join order.
 */
function rebalance(transport: MemoryTransport, group: MemoryGroup): void {
  const topics = [...new Set(group.members.flatMap((m) => m.subscribedTopics()))].sort();
  const next = new Map<MemoryConsumer, Map<string, TopicPartition>>(group.members.map((m) => [m, new Map()]));
  group.owners.clear();
  let turn = 0;
  for (const topic of topics) {
    const eligible = group.members.filter((m) => m.subscribes(topic));
    const partitions = transport.topic(topic).logs.length;
    for (let partition = 0; partition < partitions; partition++) {
      const member = eligible[turn % eligible.length];
      turn += 1;
      const key = tpKey(topic, partition);
      next.get(member)?.set(key, { topic, partition });
      group.owners.set(key, member);
    }
  }
  for (const member of group.members) member.setAssignment(next.get(member) ?? new Map());
  group.generation += 1;
  transport.notify();
}

// Exactly-once consume → produce on Kafka: one transactional producer per owned input partition (kafkajs has no KIP-447).
//
// kafkajs sends TxnOffsetCommit without the consumer group's generation, so the broker cannot tell a member that
// lost a partition in a rebalance (a zombie) from its new owner. The pattern that is correct without it (Kafka's
// pre-KIP-447 one): the transactional id names the input partition, `<group>-<topic>-<partition>`, so whoever owns
// the partition registers the same id. Registering (InitProducerId) bumps the id's epoch, which
//   * fences the previous owner's producer — its sends, offsets and commit are refused from then on, and
//   * settles that producer's open transaction: aborted, or completed when its commit had already been decided.
// The owner registers on assignment, before it reads the committed offset, so the offset it starts from is final.
//
// A transaction whose outcome is unknown (a timeout, the broker gone mid-commit) is never retried on the same
// producer: the producer is dropped, a new one registers (settling the old transaction either way), and the group's
// committed offset tells whether the attempt took — only if it did not is the batch sent again.
import kafkajs from './kafkajs.ts';
import type { Kafka as KafkaJsClient, Producer as KafkaJsProducer } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../util/logger.ts';
import { findTyped, toTransportError } from './kafka_errors.ts';
import { NotAssignedError, TransportError, formatOffset, type TopicMessages } from './transport.ts';

const { Partitioners } = kafkajs;

/** Broker answers meaning another producer registered this transactional id: this one is a zombie. */
const FENCED_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'INVALID_PRODUCER_ID_MAPPING']);

/** How long a failed transaction's abort may take before the producer is dropped anyway. */
const ABORT_TIMEOUT_MS = 5000;

export function isFenced(error: unknown): boolean {
  return findTyped(error, FENCED_TYPES) !== undefined;
}

/** `<group>-<topic>-<partition>`: stable across restarts and members, unique per input partition. */
export function transactionalId(groupId: string, topic: string, partition: number): string {
  return `${groupId}-${topic}-${partition}`;
}

export interface PartitionProducerOptions {
  kafka: KafkaJsClient;
  groupId: string;
  topic: string;
  partition: number;
  /** The broker aborts a transaction left open this long (e.g. by a killed worker nobody replaced). */
  transactionTimeoutMs: number;
  /** Attempts of one transaction after an indefinite failure, and the backoff between them. */
  retry: { retries: number; initialRetryTime: number; maxRetryTime: number };
  /** The group's committed next offset of the partition, or undefined (read after registering). */
  committedOffset: () => Promise<number | undefined>;
  logger: Logger;
}

/** The transactional producer of one input partition, for as long as this member owns it. */
export class PartitionProducer {
  readonly transactionalId: string;
  private ready: Promise<KafkaJsProducer> | undefined;
  private closed = false;

  constructor(private readonly o: PartitionProducerOptions) {
    this.transactionalId = transactionalId(o.groupId, o.topic, o.partition);
  }

  /** Registers the transactional id (fencing earlier owners, settling their transaction); idempotent while it lasts. */
  start(): Promise<KafkaJsProducer> {
    if (this.closed) return Promise.reject(new NotAssignedError(this.o.groupId, this.o.topic, this.o.partition));
    if (this.ready === undefined) {
      const ready = this.register();
      this.ready = ready;
      // A failed registration is retried by the next call rather than cached.
      ready.catch(() => {
        if (this.ready === ready) this.ready = undefined;
      });
    }
    return this.ready;
  }

  /** Appends `outputs` and commits `nextOffset` for the group in one transaction (see the header for failures). */
  async transact(outputs: TopicMessages[], nextOffset: number): Promise<void> {
    const { topic, partition, groupId, retry } = this.o;
    const topicMessages = outputs
      .filter((o) => o.messages.length > 0)
      .map((o) => ({
        topic: o.topic,
        messages: o.messages.map((m) => ({
          key: m.key,
          value: Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength),
          headers: m.headers === undefined ? undefined : { ...m.headers },
          partition: m.partition,
        })),
      }));
    const offsets = { consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition, offset: formatOffset(nextOffset) }] }] };
    for (let attempt = 0; ; attempt++) {
      const producer = await this.start().catch((e: unknown) => {
        throw this.classify(`registering ${this.transactionalId}`, e);
      });
      let txn: Awaited<ReturnType<KafkaJsProducer['transaction']>> | undefined;
      try {
        txn = await producer.transaction();
        // One request for all topics: kafkajs's idempotent sends must not run concurrently (kafkajs #598).
        if (topicMessages.length > 0) await txn.sendBatch({ acks: -1, topicMessages });
        await txn.sendOffsets(offsets);
        await txn.commit();
        return;
      } catch (e) {
        const error = this.classify(`transaction of ${topic}[${partition}] up to ${nextOffset}`, e);
        await this.abandon(txn);
        if (error instanceof NotAssignedError || !error.retriable || this.closed || attempt >= retry.retries) throw error;
        // Outcome unknown (the abort may not have reached the broker): the next registration settles the attempt
        // one way or the other, and the committed offset tells which.
        this.o.logger.warn({ err: e, transactionalId: this.transactionalId, attempt }, 'transaction failed; re-registering the producer');
        await sleep(Math.min(retry.maxRetryTime, retry.initialRetryTime * 2 ** attempt));
        try {
          await this.start();
          const committed = await this.o.committedOffset();
          if (committed !== undefined && committed >= nextOffset) return;
        } catch (again) {
          const next = this.classify(`re-registering ${this.transactionalId}`, again);
          if (next instanceof NotAssignedError || !next.retriable) throw next;
        }
      }
    }
  }

  /** Disconnects for good (the partition was revoked or the consumer stops). */
  async close(): Promise<void> {
    this.closed = true;
    await this.drop();
  }

  private async register(): Promise<KafkaJsProducer> {
    const producer = this.o.kafka.producer({
      transactionalId: this.transactionalId,
      // Transactions need the idempotent producer, and kafkajs orders its sequence numbers only with one request in flight.
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.o.transactionTimeoutMs,
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    try {
      await producer.connect();
      // kafkajs registers the id (InitProducerId) on the first transaction; an empty one registers without sending.
      const txn = await producer.transaction();
      await txn.abort();
      return producer;
    } catch (e) {
      await producer.disconnect().catch(() => undefined);
      throw e;
    }
  }

  /**
   * Best-effort abort (bounded: the broker may be gone), then drops the producer. An abort that does not arrive is
   * settled by the next registration of the id, or by the broker after transactionTimeoutMs.
   */
  private async abandon(txn: { abort(): Promise<void> } | undefined): Promise<void> {
    if (txn !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ABORT_TIMEOUT_MS);
      });
      await Promise.race([txn.abort().catch(() => undefined), timeout]);
      clearTimeout(timer);
    }
    await this.drop();
  }

  private async drop(): Promise<void> {
    const ready = this.ready;
    this.ready = undefined;
    if (ready === undefined) return;
    const producer = await ready.catch(() => undefined);
    await producer?.disconnect().catch((e: unknown) => this.o.logger.warn({ err: e }, 'transactional producer disconnect failed'));
  }

  private classify(what: string, e: unknown): TransportError {
    if (e instanceof NotAssignedError) return e;
    if (isFenced(e)) {
      this.o.logger.warn({ transactionalId: this.transactionalId, err: e }, 'producer fenced: another member owns the partition now');
      return new NotAssignedError(this.o.groupId, this.o.topic, this.o.partition);
    }
    return toTransportError(what, e);
  }
}

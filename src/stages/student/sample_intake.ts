// The student's consumer side: Sample batches → replay buffer (or DLQ), waiting for room instead of dropping samples.
import { buildDlqRecord } from '../../messages/dlq.ts';
import type { StageMetrics } from '../../observability/stage_metrics.ts';
import type { EachBatchPayload, OutgoingMessage } from '../../transport/transport.ts';
import { parseOffset } from '../../transport/transport.ts';
import type { Logger } from '../../util/logger.ts';
import type { StageCounters } from '../stage.ts';
import { admitSample, type Admission, type StudentLayout } from './admit_sample.ts';
import { ConsumedOffsets } from './offsets.ts';
import type { Pool, SampleBuffer } from './sample_buffer.ts';

/** While waiting for buffer room, the consumer heartbeats this often (Kafka evicts silent members). */
export const HEARTBEAT_MS = 1000;

export interface SampleIntakeOptions {
  stageName: string;
  buffer: SampleBuffer;
  layout: StudentLayout;
  dlqTopic: string;
  /** Resolves once the broker acked (a DLQ record must be durable before its offset counts as handled). */
  send: (topic: string, messages: OutgoingMessage[]) => Promise<unknown>;
  counters: StageCounters;
  logger: Logger;
  /** Next offsets per `<topic>:<partition>` restored from a checkpoint (see ConsumedOffsets). */
  initialOffsets?: Record<string, string>;
  /** Called after each handled transport batch. */
  onProgress?: () => void;
  metrics?: StageMetrics;
}

/**
 * `eachBatch` admits each message in offset order: malformed or mismatched samples go to the DLQ, samples of unused
 * pools are counted as ignored, the rest enter the buffer once it has room (see SampleBuffer.hasRoomFor) — so the
 * consumer, and through the transport's bound the teacher, slow down to the pace of training. Nothing is committed
 * here: the trainer commits `positions()` at checkpoints.
 */
export class SampleIntake {
  readonly offsets: ConsumedOffsets;
  private readonly closing = new AbortController();
  /** Resolves on close(): one listener on the closing signal for the intake's whole life. */
  private readonly whenClosing = new Promise<void>((resolve) => this.closing.signal.addEventListener('abort', () => resolve(), { once: true }));
  private readonly inFlight = new Set<Promise<void>>();
  private readonly teacherHashes = new Set<string>();
  /** Model id (`<name>@<checkpoint>`) of each teacher hash, for the model card. */
  private readonly teacherIds = new Map<string, string>();

  constructor(private readonly o: SampleIntakeOptions) {
    this.offsets = new ConsumedOffsets(o.initialOffsets);
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** Teachers seen so far, with the id their samples name them by. */
  get teacherModels(): Array<{ id: string; hash: string }> {
    return this.teachers.map((hash) => ({ id: this.teacherIds.get(hash) ?? '', hash }));
  }

  /** Teacher model hashes seen so far. */
  get teachers(): string[] {
    return [...this.teacherHashes];
  }

  /** The transport's handler (use with `eachBatchAutoResolve: false`). */
  readonly eachBatch = (payload: EachBatchPayload): Promise<void> => {
    if (this.closed) {
      // Returning without resolving hands the same messages over again at once: pause, or that loop would spin.
      payload.pause();
      return Promise.resolve();
    }
    const work = this.handle(payload).finally(() => {
      this.inFlight.delete(work);
      if (this.closed) payload.pause();
    });
    this.inFlight.add(work);
    return work;
  };

  /** Stops admitting: waits are cut short, batches in flight end after their current message. */
  async close(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Offsets that may be committed now (see ConsumedOffsets.positions). */
  positions(): Record<string, string> {
    return this.offsets.positions([...this.o.buffer.freshSamples()].map((s) => s.source));
  }

  private async handle(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { buffer, layout, counters } = this.o;
    // Decoding overlaps (sharp works off the main thread); admitting stays in offset order.
    const admissions = await Promise.all(batch.messages.map((m) => admitSample(m.value, layout, (pool) => buffer.accepts(pool))));
    for (let i = 0; i < batch.messages.length; i++) {
      if (this.closed || !payload.isRunning() || payload.isStale()) break;
      const message = batch.messages[i];
      const offset = parseOffset(message.offset);
      if (this.offsets.handled(batch.topic, batch.partition, offset)) {
        // Kafka hands a partition over again from the last commit after the consumer rejoins (a broker restart, a
        // rebalance), and the student commits only at checkpoints: what this run already took must not be trained twice.
        payload.resolveOffset(message.offset);
        counters.redelivered = (counters.redelivered ?? 0) + 1;
        continue;
      }
      const a: Admission = admissions[i];
      if (a.kind === 'dead') {
        this.o.logger.error({ err: a.error, key: message.key, partition: batch.partition, offset: message.offset }, 'sent to the DLQ');
        const source = { topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers };
        const record = buildDlqRecord({ stage: this.o.stageName, error: a.error, source });
        await this.o.send(this.o.dlqTopic, [record]);
        counters.dlq += 1;
        this.o.metrics?.dlq(record);
      } else if (a.kind === 'ignored') {
        counters.ignored += 1;
      } else {
        if (!(await this.waitForRoom(a.pool, payload))) break;
        this.noteTeacher(a.sample.teacher.modelId, a.sample.teacher.modelHash);
        const { soft } = a.sample;
        // Copies: views would pin the whole consumed message (JPEG included) for as long as the sample is buffered.
        const ownSoft = { ...soft, values: soft.values.slice(), ...(soft.mask === undefined ? {} : { mask: soft.mask.slice() }) };
        const dropped = buffer.add({
          id: a.id,
          pool: a.pool,
          pixels: a.pixels,
          hard: a.hard,
          soft: ownSoft,
          source: { topic: batch.topic, partition: batch.partition, offset },
          uses: 0,
        });
        counters[a.pool] += 1;
        counters.dropped += dropped.length;
      }
      this.offsets.done(batch.topic, batch.partition, offset);
      payload.resolveOffset(message.offset);
      counters.consumed += 1;
      this.o.metrics?.samplesConsumed(1);
    }
    this.updateBufferCounters();
    this.o.onProgress?.();
  }

  /**
   * Waits until the buffer can take a sample of `pool`; false when closing first. Each round ends on a buffer change,
   * the heartbeat interval or close(), and clears its own timer: a buffer that changes often (every training step)
   * must not leave a pending timer and abort listener behind per change (MaxListenersExceededWarning).
   */
  private async waitForRoom(pool: Pool, payload: EachBatchPayload): Promise<boolean> {
    const { buffer } = this.o;
    while (!buffer.hasRoomFor(pool)) {
      if (this.closed) return false;
      this.updateBufferCounters();
      let timer: NodeJS.Timeout | undefined;
      const beat = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, HEARTBEAT_MS);
        timer.unref();
      });
      try {
        await Promise.race([buffer.changed(), beat, this.whenClosing]);
      } finally {
        clearTimeout(timer);
      }
      await payload.heartbeat();
    }
    return !this.closed;
  }

  private noteTeacher(modelId: string, hash: string): void {
    if (this.teacherHashes.has(hash)) return;
    if (this.teacherHashes.size > 0) {
      this.o.logger.warn({ modelId, modelHash: hash, before: this.teachers }, 'samples from another teacher model arrive: soft labels of different teachers are mixed');
    }
    this.teacherHashes.add(hash);
    this.teacherIds.set(hash, modelId);
  }

  updateBufferCounters(): void {
    const { buffer, counters } = this.o;
    counters.bufferLabeled = buffer.count('labeled');
    counters.bufferUnlabeled = buffer.count('unlabeled');
    counters.bufferFresh = buffer.fresh();
  }
}

// The teacher stage runner: ImageRef batches → fetch/decode → batched inference → Sample | Rejection | DLQ → commit.
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { buildDlqRecord } from '../../messages/dlq.ts';
import { decodeImageRef, type ImageRef } from '../../messages/image_ref.ts';
import type { TeacherLineage } from '../../messages/sample.ts';
import { consumerGroupOf } from '../../topology/consumer_group.ts';
import type { StageConfig, TeacherStageOptions } from '../../topology/types.ts';
import type { TeacherStep } from '../../observability/metrics.ts';
import { nextOffset, type ConsumedMessage, type EachBatchPayload, type OutgoingMessage, type TopicMessages } from '../../transport/transport.ts';
import type { RunningStage, StageContext, StageCounters } from '../stage.ts';
import { takeFromBatch } from './batching.ts';
import type { TeacherOutputs } from './infer.ts';
import { decideLabels } from './labels.ts';
import { buildSample, rejectionMessage, sampleMessage, teacherLineage } from './outputs.ts';
import { prepareImage, type Prepared, type PreparedImage } from './prepare_image.ts';
import { RetriesExhaustedError, type RetryOptions } from './retry.ts';
import { openTeacherInference, type TeacherInference } from './teacher_inference.ts';

export type TeacherStageConfig = Extract<StageConfig, { kind: 'teacher' }>;

/**
 * A transport batch holds up to this many model batches. While one model batch runs through the teacher, the
 * fetches and decodes of the next ones (already started, bounded by fetchConcurrency) proceed on libuv's threads.
 */
export const MODEL_BATCHES_PER_FETCH = 4;
/** Transport batches in flight at once (from different partitions): one can fetch while another infers. */
const MAX_IN_FLIGHT_BATCHES = 2;
/** Poll step while a partial batch waits to fill. */
const BATCH_WAIT_POLL_MS = 20;

/** Fixed counters; `rejected.<reason>` ones appear as reasons occur. */
export const TEACHER_COUNTERS = ['consumed', 'samples', 'rejected', 'dlq', 'batches', 'imagesPerSecond'] as const;

export interface TeacherStageHooks {
  /** Fetch retry policy (tests shorten the delays). */
  retry?: RetryOptions;
}

export function checkTeacherOptions(o: TeacherStageOptions): void {
  const positiveInt = (name: keyof TeacherStageOptions): void => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`teacher: ${name} must be a positive integer, got ${String(v)}`);
  };
  positiveInt('batchSize');
  positiveInt('fetchConcurrency');
  positiveInt('maxImagePixels');
  positiveInt('maxObjectBytes');
  if (!(o.maxBatchWaitMs >= 0)) throw new Error(`teacher: maxBatchWaitMs must be ≥ 0, got ${o.maxBatchWaitMs}`);
  if (o.checkpoint.length === 0) throw new Error('teacher: checkpoint (store prefix of the teacher model) is required');
}

/**
 * Starts the teacher stage: a consumer group named after the stage, reading its input topic from the beginning.
 * Every consumed message ends as exactly one Sample, one Rejection, or — when it is not even an ImageRef, or
 * labeling it failed unexpectedly — one DLQ record. A model batch's outputs and its offsets are committed as one
 * transaction (`produceAndCommit`), so readers of the output topics see each image's outcome exactly once, however
 * often a worker dies or a partition moves. `stop()` / `ctx.signal` finish the model batch in flight, commit, and return.
 */
export function runTeacherStage(ctx: StageContext<TeacherStageConfig>, hooks: TeacherStageHooks = {}): RunningStage {
  const counters: StageCounters = Object.fromEntries(TEACHER_COUNTERS.map((c) => [c, 0]));
  const stopping = new AbortController();
  const onAbort = (): void => stopping.abort();
  if (ctx.signal.aborted) stopping.abort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });
  const done = teach(ctx, counters, stopping.signal, hooks).finally(() => ctx.signal.removeEventListener('abort', onAbort));
  return {
    name: ctx.stage.name,
    counters,
    done,
    async stop() {
      stopping.abort();
      await done.then(
        () => undefined,
        () => undefined,
      );
    },
  };
}

async function teach(ctx: StageContext<TeacherStageConfig>, counters: StageCounters, stop: AbortSignal, hooks: TeacherStageHooks): Promise<StageCounters> {
  const { store, transport, stage, topology } = ctx;
  checkTeacherOptions(stage.options);
  const input = topology.topics[stage.input];
  const topics = [input, topology.topics.samples, topology.topics.rejected, topology.topics.dlq];
  await transport.createTopics(topics.map((t) => ({ topic: t.name, partitions: t.partitions })));
  const teacher = await openTeacherInference(store, stage.options.checkpoint, topology, { thread: stage.options.inferenceThread });
  ctx.logger.info(
    { checkpoint: stage.options.checkpoint, modelId: teacher.modelId, modelHash: teacher.modelHash, input: input.name, thread: stage.options.inferenceThread },
    'teacher loaded',
  );
  const consumer = transport.consumer({ groupId: consumerGroupOf(topology, stage.name), clientId: stage.name });
  const onStop = (): void => void consumer.stop();
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [input.name], fromBeginning: true });
    const processor = new BatchProcessor(ctx, teacher, counters, hooks);
    if (!stop.aborted) {
      stop.addEventListener('abort', onStop, { once: true });
      await consumer.run({
        eachBatch: (payload) => processor.eachBatch(payload, stop),
        maxBatchSize: stage.options.batchSize * MODEL_BATCHES_PER_FETCH,
        maxInFlightBatches: MAX_IN_FLIGHT_BATCHES,
        eachBatchAutoResolve: false,
        exactlyOnce: true,
      });
    }
  } finally {
    stop.removeEventListener('abort', onStop);
    await consumer.disconnect();
    await teacher.close();
  }
  ctx.logger.info({ ...counters }, 'teacher stopped');
  return counters;
}

/** One consumed message on its way through a model batch. */
interface Item {
  message: ConsumedMessage;
  ref?: ImageRef;
  /** Why the message is not an ImageRef. */
  decodeError?: unknown;
  /** Fetch + decode, started as soon as the transport batch arrived; undefined when cancelled before it started. */
  prepared?: Promise<PrepareResult | undefined>;
}

type PrepareResult = Prepared | { kind: 'error'; error: unknown };

type Outcome = { to: 'samples'; message: OutgoingMessage } | { to: 'rejected'; message: OutgoingMessage; reason: string } | { to: 'dlq'; message: OutgoingMessage };

class BatchProcessor {
  private readonly fetchLimit: ReturnType<typeof pLimit>;
  // In process, one forward pass at a time (two interleaved would only double peak memory); a worker thread holds the
  // next batch while it runs one, so it never waits for the stage's thread to hand it work.
  private readonly inferLimit: ReturnType<typeof pLimit>;
  private readonly lineage: TeacherLineage;
  private startedAt: number | undefined;
  private warnedTestSplit = false;
  private readonly observe = (step: TeacherStep, seconds: number): void => this.ctx.metrics?.teacherStep(step, seconds);

  constructor(
    private readonly ctx: StageContext<TeacherStageConfig>,
    private readonly teacher: TeacherInference,
    private readonly counters: StageCounters,
    private readonly hooks: TeacherStageHooks,
  ) {
    this.fetchLimit = pLimit(ctx.stage.options.fetchConcurrency);
    this.inferLimit = pLimit(teacher.concurrency);
    this.lineage = teacherLineage(teacher, ctx.topology.thresholds);
  }

  async eachBatch(payload: EachBatchPayload, stop: AbortSignal): Promise<void> {
    const { batch } = payload;
    const o = this.ctx.stage.options;
    const { take, waitMs } = takeFromBatch(
      batch.messages.map((m) => Number(m.timestamp)),
      o.batchSize,
      o.maxBatchWaitMs,
      Date.now(),
    );
    if (take === 0) {
      // Nothing resolved: the transport hands these messages over again, with whatever arrived meanwhile.
      await sleep(Math.min(waitMs, BATCH_WAIT_POLL_MS), undefined, { signal: stop }).catch(() => undefined);
      return;
    }
    this.startedAt ??= Date.now();
    let cancelled = false;
    const items = batch.messages.slice(0, take).map((message) => this.decode(message));
    for (const item of items) {
      const ref = item.ref;
      if (ref === undefined) continue;
      item.prepared = this.fetchLimit(() => (cancelled ? undefined : this.prepare(ref)));
      // Later model batches are awaited only after earlier ones; mark the rejection handled so Node does not abort first.
      item.prepared.catch(() => undefined);
    }
    const chunks: Item[][] = [];
    for (let start = 0; start < items.length; start += o.batchSize) chunks.push(items.slice(start, start + o.batchSize));
    const start = (k: number): Promise<Outcome[]> => {
      const p = this.process(chunks[k], batch.topic, batch.partition);
      p.catch(() => undefined); // awaited in turn below; marked handled so a failure while the previous batch commits does not abort Node
      return p;
    };
    let next: Promise<Outcome[]> | undefined = start(0);
    try {
      for (let k = 0; k < chunks.length; k++) {
        // Stopping or rebalanced away: what is committed stays done, the rest is redelivered.
        if (next === undefined || (k > 0 && (!payload.isRunning() || payload.isStale()))) break;
        const chunk = chunks[k];
        const outcomes = await next;
        next = undefined;
        // The next model batch starts (its images are being fetched already) while this one's outputs are committed.
        if (k + 1 < chunks.length && payload.isRunning() && !payload.isStale()) next = start(k + 1);
        const last = chunk[chunk.length - 1].message.offset;
        const publishing = performance.now();
        await payload.produceAndCommit(this.outputs(outcomes), nextOffset(last));
        this.observe('produce', (performance.now() - publishing) / 1000);
        payload.resolveOffset(last);
        this.count(chunk.length, outcomes);
        await payload.heartbeat();
      }
    } finally {
      // A model batch started ahead and not committed is dropped (redelivered); let it finish before cancelling fetches.
      await next?.catch(() => undefined);
      cancelled = true;
      await Promise.allSettled(items.map((i) => i.prepared));
    }
  }

  private decode(message: ConsumedMessage): Item {
    try {
      const ref = decodeImageRef(message.value);
      if (ref.split === 'test' && !this.warnedTestSplit) {
        this.warnedTestSplit = true;
        this.ctx.logger.warn({ key: ref.key }, 'test-split images reached the teacher; labeling them like labeled images (check the topology)');
      }
      return { message, ref };
    } catch (decodeError) {
      return { message, decodeError };
    }
  }

  private async prepare(ref: ImageRef): Promise<PrepareResult> {
    const o = this.ctx.stage.options;
    const log = this.ctx.logger.child({ key: ref.key });
    const retry: RetryOptions = {
      ...this.hooks.retry,
      onRetry: ({ error, attempt, delayMs }) => log.warn({ err: error, attempt, delayMs }, 'fetch failed, retrying'),
    };
    try {
      return await prepareImage(this.ctx.store, ref, { inputSize: this.teacher.inputSize, maxImagePixels: o.maxImagePixels, maxObjectBytes: o.maxObjectBytes, retry, onStep: this.observe });
    } catch (error) {
      // A store that keeps failing is an outage, not a bad image: fail the batch so nothing is committed.
      if (error instanceof RetriesExhaustedError) throw error;
      return { kind: 'error', error };
    }
  }

  /** One model batch: wait for its images, run the teacher once, turn every item into exactly one outcome. */
  private async process(chunk: Item[], topic: string, partition: number): Promise<Outcome[]> {
    const results = await Promise.all(chunk.map((item) => item.prepared));
    const images = results.filter((r): r is PreparedImage => r?.kind === 'image');
    const outputs = images.length === 0 ? undefined : await this.inferLimit(() => this.teacher.infer(images.map((p) => p.pixels), this.ctx.topology.thresholds, this.observe));
    const imageIndex = new Map(images.map((p, k) => [p, k]));
    return Promise.all(
      chunk.map(async (item, i): Promise<Outcome> => {
        const log = this.ctx.logger.child({ key: item.ref?.key ?? item.message.key, offset: item.message.offset });
        const dead = (error: unknown): Outcome => {
          log.error({ err: error }, 'sent to the DLQ');
          const source = { topic, partition, offset: item.message.offset, key: item.message.key, value: item.message.value, headers: item.message.headers };
          return { to: 'dlq', message: buildDlqRecord({ stage: this.ctx.stage.name, error, source }) };
        };
        if (item.ref === undefined) return dead(item.decodeError);
        const result = results[i];
        try {
          if (result === undefined) throw new Error('image was not prepared'); // cannot happen: only cancelled work is undefined
          if (result.kind === 'error') return dead(result.error);
          if (result.kind === 'unusable') {
            log.warn({ reason: result.reason, detail: result.detail }, 'image rejected');
            return { to: 'rejected', reason: result.reason, message: rejectionMessage(result.ref, result.reason, 0, this.ctx.stage.name, result.detail) };
          }
          return await this.label(result, imageIndex.get(result) as number, outputs as TeacherOutputs);
        } catch (error) {
          return dead(error);
        }
      }),
    );
  }

  private async label(image: PreparedImage, k: number, outputs: TeacherOutputs): Promise<Outcome> {
    const { anchors, classes } = outputs;
    const probs = outputs.probs.subarray(k * anchors * classes, (k + 1) * anchors * classes); // [anchors, classes]
    const thresholds = this.ctx.topology.thresholds;
    const decision = decideLabels(
      { ref: image.ref, transform: image.transform, detections: outputs.detections[k], probs },
      { hardLabel: thresholds.hardLabel, numClasses: this.teacher.numClasses, filter: this.ctx.stage.options.filter },
    );
    if (decision.kind === 'rejected') {
      return { to: 'rejected', reason: decision.reason, message: rejectionMessage(image.ref, decision.reason, decision.maxScore, this.ctx.stage.name) };
    }
    const encoding = performance.now();
    const sample = await buildSample({ image, hard: decision.hard, probs, anchors, classes, lineage: this.lineage, softEpsilon: thresholds.softEpsilon });
    const message = sampleMessage(sample);
    this.observe('encode', (performance.now() - encoding) / 1000);
    return { to: 'samples', message };
  }

  /** Each output topic's messages, in input order. */
  private outputs(outcomes: Outcome[]): TopicMessages[] {
    const { samples, rejected, dlq } = this.ctx.topology.topics;
    return [
      { topic: samples.name, messages: outcomes.filter((x) => x.to === 'samples').map((x) => x.message) },
      { topic: rejected.name, messages: outcomes.filter((x) => x.to === 'rejected').map((x) => x.message) },
      { topic: dlq.name, messages: outcomes.filter((x) => x.to === 'dlq').map((x) => x.message) },
    ].filter((o) => o.messages.length > 0);
  }

  private count(consumed: number, outcomes: Outcome[]): void {
    const c = this.counters;
    const m = this.ctx.metrics;
    c.consumed += consumed;
    c.batches += 1;
    m?.imagesConsumed(consumed);
    for (const x of outcomes) {
      c[x.to] += 1;
      if (x.to === 'rejected') c[`rejected.${x.reason}`] = (c[`rejected.${x.reason}`] ?? 0) + 1;
      if (x.to === 'samples') m?.sample();
      else if (x.to === 'rejected') m?.rejected(x.reason);
      else m?.dlq(x.message);
    }
    const seconds = (Date.now() - (this.startedAt ?? Date.now())) / 1000;
    c.imagesPerSecond = seconds > 0 ? Math.round((c.consumed / seconds) * 100) / 100 : 0;
    const busy = this.teacher.threadBusy();
    if (busy !== undefined) c.inferenceThreadBusy = Math.round(busy * 1000) / 1000;
    this.ctx.onProgress?.(c);
  }
}

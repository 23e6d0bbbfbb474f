// The ingest stage runner: list a store prefix page by page, publish ImageRefs, checkpoint a cursor after each acked page.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ListOptions, ListPage, ObjectInfo } from '../../io/object_store.ts';
import { encodeImageRef } from '../../messages/image_ref.ts';
import type { IngestStageOptions, StageConfig } from '../../topology/types.ts';
import type { OutgoingMessage } from '../../transport/transport.ts';
import type { RunningStage, StageContext, StageCounters } from '../stage.ts';
import { loadAnnotationIndex, type AnnotationIndex } from './annotations.ts';
import { CURSOR_VERSION, cursorKey, readCursor, writeCursor, type IngestCursor } from './cursor.ts';
import { buildImageRef } from './image_ref_builder.ts';

export type IngestStageConfig = Extract<StageConfig, { kind: 'ingest' }>;

/** Counter names reported by the ingest stage (this run only; the cursor holds the totals). */
export const INGEST_COUNTERS = ['listed', 'published', 'skipped', 'pages'] as const;

/** Throws on options the compiled topology should have refused already (the per-stage CLI may bypass it). */
export function checkIngestOptions(o: IngestStageOptions): void {
  if (!Number.isInteger(o.pageSize) || o.pageSize < 1) throw new Error(`ingest: pageSize must be a positive integer, got ${o.pageSize}`);
  if (!Number.isInteger(o.limit) || o.limit < 0) throw new Error(`ingest: limit must be a non-negative integer (0 = all), got ${o.limit}`);
  if (o.watch && !(o.watchIntervalMs > 0)) throw new Error(`ingest: watchIntervalMs must be positive in watch mode, got ${o.watchIntervalMs}`);
  if (o.split !== 'unlabeled' && (o.annotations === undefined || o.annotations.length === 0)) {
    throw new Error(`ingest: a ${o.split} split needs an annotations file (its ground truth)`);
  }
}

/**
 * Starts the ingest stage. Each page is published and acked before the cursor moves past it, so a crash repeats at
 * most one page (at-least-once). Listing is in key order and resumes after the cursor's key; in watch mode new keys
 * are picked up every `watchIntervalMs` — only keys sorting after the last one seen (S3 lists in key order), so
 * uploads should use increasing keys (e.g. time-prefixed), and a re-uploaded object under an old key is not seen.
 */
export function runIngestStage(ctx: StageContext<IngestStageConfig>): RunningStage {
  const name = ctx.stage.name;
  const counters: StageCounters = Object.fromEntries(INGEST_COUNTERS.map((c) => [c, 0]));
  const stopping = new AbortController();
  const onAbort = (): void => stopping.abort();
  if (ctx.signal.aborted) stopping.abort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });

  const done = ingest(ctx, counters, stopping.signal).finally(() => ctx.signal.removeEventListener('abort', onAbort));
  return {
    name,
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

async function ingest(ctx: StageContext<IngestStageConfig>, counters: StageCounters, stop: AbortSignal): Promise<StageCounters> {
  const { store, transport, stage } = ctx;
  const o = stage.options;
  checkIngestOptions(o);
  const topic = ctx.topology.topics[stage.output];
  const logger = ctx.logger.child({ prefix: o.prefix, split: o.split });
  await transport.createTopics([{ topic: topic.name, partitions: topic.partitions }]);
  const annotations: AnnotationIndex | undefined = o.annotations ? await loadAnnotationIndex(store, o.annotations) : undefined;

  let cursor = await readCursor(store, stage.name, o.cursorPrefix);
  if (cursor !== undefined && (cursor.prefix !== o.prefix || cursor.split !== o.split)) {
    logger.warn({ cursor: cursorKey(stage.name, o.cursorPrefix), was: { prefix: cursor.prefix, split: cursor.split } }, 'ingest cursor belongs to another listing; starting over');
    cursor = undefined;
  }
  let state: IngestCursor = cursor ?? { v: CURSOR_VERSION, stage: stage.name, prefix: o.prefix, split: o.split, lastKey: '', published: 0, skipped: 0, pages: 0, updatedAt: '' };
  logger.info({ topic: topic.name, resumeAfter: state.lastKey || undefined, publishedBefore: state.published, watch: o.watch }, 'ingest starting');

  const limitReached = (): boolean => o.limit > 0 && state.published >= o.limit;
  const producer = transport.producer({ clientId: stage.name });
  await producer.connect();
  // The next page's listing, started while the current page is published (see below).
  let listing: Promise<ListPage> | undefined;
  try {
    while (!stop.aborted && !limitReached()) {
      // One pass over everything after the cursor; a continuation token only within the pass (tokens can expire).
      const listPage = (token: string | undefined): Promise<ListPage> => {
        const listOptions: ListOptions = token !== undefined ? { continuationToken: token, maxKeys: o.pageSize } : { maxKeys: o.pageSize };
        if (token === undefined && state.lastKey !== '') listOptions.startAfter = state.lastKey;
        return store.list(o.prefix, listOptions);
      };
      let page = await listPage(undefined);
      for (;;) {
        // List the next page while this one is published: a send can wait long on a bounded topic, and a listing
        // can be slow (a store that stats every key, on an event loop a training step keeps busy), so the two
        // overlap instead of the consumers idling while the next page is listed. The page is only read, the cursor
        // still moves after the ack, so a crash repeats at most one page as before.
        if (page.nextToken !== undefined && !stop.aborted && (o.limit === 0 || state.published + page.objects.length < o.limit)) {
          listing = listPage(page.nextToken);
          listing.catch(() => undefined); // awaited below, or settled in `finally` when we stop first
        }
        const { messages, handled, skipped } = pageMessages(page.objects, o.limit > 0 ? o.limit - state.published : Infinity, (object) =>
          buildImageRef(object, { bucket: o.bucket, split: o.split, annotations }),
        );
        for (const s of skipped) logger.child({ key: s.key }).warn({ reason: s.reason }, s.message);
        if (handled.length > 0) {
          if (messages.length > 0) await producer.send(topic.name, messages);
          state = {
            ...state,
            lastKey: handled[handled.length - 1].key,
            published: state.published + messages.length,
            skipped: state.skipped + skipped.length,
            pages: state.pages + 1,
            updatedAt: new Date().toISOString(),
          };
          await writeCursor(store, state, o.cursorPrefix);
          counters.listed += handled.length;
          counters.published += messages.length;
          ctx.metrics?.imagesProduced(messages.length);
          counters.skipped += skipped.length;
          counters.pages += 1;
          ctx.onProgress?.(counters);
          logger.debug({ lastKey: state.lastKey, published: messages.length, skipped: skipped.length }, 'page published');
        }
        if (page.nextToken === undefined || stop.aborted || limitReached()) break;
        page = await (listing ?? listPage(page.nextToken));
        listing = undefined;
      }
      if (!o.watch || stop.aborted || limitReached()) break;
      await sleep(o.watchIntervalMs, undefined, { signal: stop }).catch(() => undefined);
    }
  } finally {
    // A look-ahead listing still running when we stop (or a send failed) settles before we return.
    await listing?.catch(() => undefined);
    await producer.disconnect();
  }
  logger.info({ ...counters, publishedTotal: state.published, lastKey: state.lastKey }, limitReached() ? 'ingest reached its limit' : 'ingest finished');
  return counters;
}

interface Skipped {
  key: string;
  reason: string;
  message: string;
}

/** The page's messages, at most `budget` of them; `handled` = the objects consumed from the page (published or skipped). */
function pageMessages(
  objects: readonly ObjectInfo[],
  budget: number,
  build: (object: ObjectInfo) => ReturnType<typeof buildImageRef>,
): { messages: OutgoingMessage[]; handled: ObjectInfo[]; skipped: Skipped[] } {
  const messages: OutgoingMessage[] = [];
  const handled: ObjectInfo[] = [];
  const skipped: Skipped[] = [];
  for (const object of objects) {
    if (messages.length >= budget) break;
    handled.push(object);
    const outcome = build(object);
    if (outcome.ok) messages.push({ key: object.key, value: encodeImageRef(outcome.ref) });
    else skipped.push({ key: outcome.key, reason: outcome.reason, message: outcome.message });
  }
  return { messages, handled, skipped };
}

// How much of a fetched transport batch to process now: whole model batches, and a partial one only once it waited long enough.

export interface TakeDecision {
  /** Messages to process now, from the start of the batch. */
  take: number;
  /** When take is 0: how long to wait before looking again. */
  waitMs: number;
}

/**
 * Full model batches are processed at once. A trailing partial batch is processed once its oldest message was
 * appended at least `maxWaitMs` ago (the producer may still be filling it); until then it is left for the next
 * fetch, which will also carry whatever arrived meanwhile.
 */
export function takeFromBatch(timestampsMs: readonly number[], batchSize: number, maxWaitMs: number, nowMs: number): TakeDecision {
  const full = Math.floor(timestampsMs.length / batchSize) * batchSize;
  if (full === timestampsMs.length) return { take: full, waitMs: 0 };
  const waited = nowMs - timestampsMs[full];
  if (!Number.isFinite(waited) || waited >= maxWaitMs) return { take: timestampsMs.length, waitMs: 0 };
  // A timestamp from a clock ahead of ours must not make us wait longer than maxWaitMs.
  return { take: full, waitMs: full > 0 ? 0 : Math.min(maxWaitMs, maxWaitMs - waited) };
}

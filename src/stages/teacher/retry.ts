// Retry with exponential backoff and jitter (kafkajs style) for idempotent calls such as object fetches.
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  /** Attempts after the first. Default 5. */
  retries?: number;
  /** Delay before the first retry. Default 100 ms. */
  initialDelayMs?: number;
  /** Cap on any one delay. Default 5000 ms. */
  maxDelayMs?: number;
  /** Growth per retry. Default 2. */
  multiplier?: number;
  /** Each delay is drawn uniformly from base·(1 ± jitter), so clients that failed together do not retry together. Default 0.2. */
  jitter?: number;
  /** Uniform [0, 1) source (tests pin it). */
  random?: () => number;
  /** Default `isRetriableError`. */
  isRetriable?: (error: unknown) => boolean;
  /** Called before each wait, e.g. to log. */
  onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void;
  /** Default: a real timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** The call kept failing with retriable errors: the dependency is probably down, not the input bad. */
export class RetriesExhaustedError extends Error {
  readonly retriable = true;
  constructor(
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`gave up after ${attempts} attempts: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RetriesExhaustedError';
  }
}

// Error codes of Node I/O that no retry can fix.
const PERMANENT_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'ENAMETOOLONG', 'EINVAL', 'ELOOP']);

/**
 * An explicit boolean `retriable` (our errors, kafkajs's) decides. Otherwise a system error with a `code`
 * (ECONNRESET, ETIMEDOUT, EMFILE, EIO …) is retried unless the code is permanent; a plain Error without a code is
 * a bug or bad input (e.g. an invalid key) and is not.
 */
export function isRetriableError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const flag = (error as { retriable?: unknown }).retriable;
  if (typeof flag === 'boolean') return flag;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !PERMANENT_CODES.has(code);
}

/** The delay before retry number `retry` (0-based), jittered. */
export function backoffDelay(retry: number, options: RetryOptions = {}): number {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 5000;
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  const base = Math.min(max, initial * (options.multiplier ?? 2) ** retry);
  return Math.min(max, base * (1 - jitter + 2 * jitter * random()));
}

/**
 * Calls `fn` until it resolves, a non-retriable error occurs (rethrown as is), or `retries` retries failed
 * (RetriesExhaustedError with the last error as cause).
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  const retriable = options.isRetriable ?? isRetriableError;
  const wait = options.sleep ?? ((ms: number) => sleep(ms));
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (!retriable(error)) throw error;
      if (attempt >= retries) throw new RetriesExhaustedError(attempt + 1, error);
      const delayMs = backoffDelay(attempt, options);
      options.onRetry?.({ error, attempt: attempt + 1, delayMs });
      await wait(delayMs);
    }
  }
}

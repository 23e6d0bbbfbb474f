// Tests for retry with exponential backoff and jitter, and for which errors count as retriable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectNotFoundError } from '../../../src/io/object_store.ts';
import { RetriesExhaustedError, backoffDelay, isRetriableError, withRetry } from '../../../src/stages/teacher/retry.ts';

const systemError = (code: string): Error => Object.assign(new Error(code), { code });

test('delays grow exponentially, stay within ±jitter, and are capped', () => {
  const at = (retry: number, r: number): number => backoffDelay(retry, { initialDelayMs: 100, multiplier: 2, maxDelayMs: 1000, jitter: 0.2, random: () => r });
  assert.equal(at(0, 0.5), 100);
  assert.equal(at(1, 0.5), 200);
  assert.equal(at(2, 0.5), 400);
  assert.ok(Math.abs(at(1, 0) - 160) < 1e-9);
  assert.ok(Math.abs(at(1, 0.999999) - 240) < 1e-3);
  assert.equal(at(10, 0.5), 1000);
  assert.equal(at(10, 0.999), 1000, 'jitter never exceeds the cap');
});

test('withRetry retries retriable errors with the backoff delays and returns the first success', async () => {
  const slept: number[] = [];
  let calls = 0;
  const value = await withRetry(
    async (attempt) => {
      calls++;
      if (attempt < 2) throw systemError('ECONNRESET');
      return 'ok';
    },
    { initialDelayMs: 10, random: () => 0.5, sleep: async (ms) => void slept.push(ms) },
  );
  assert.equal(value, 'ok');
  assert.equal(calls, 3);
  assert.deepEqual(slept, [10, 20]);
});

test('a non-retriable error is rethrown at once; exhausted retries name the attempts and keep the cause', async () => {
  let calls = 0;
  const missing = new ObjectNotFoundError('mem://', 'k');
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw missing;
    }),
    (err) => err === missing,
  );
  assert.equal(calls, 1);

  const cause = systemError('ETIMEDOUT');
  await assert.rejects(
    withRetry(
      async () => {
        throw cause;
      },
      { retries: 2, sleep: async () => undefined },
    ),
    (err) => err instanceof RetriesExhaustedError && err.attempts === 3 && err.cause === cause && /gave up after 3 attempts: ETIMEDOUT/.test(err.message),
  );
});

test('retriable: explicit flags win, I/O codes retry unless permanent, plain errors do not', () => {
  assert.equal(isRetriableError(Object.assign(new Error('x'), { retriable: true })), true);
  assert.equal(isRetriableError(Object.assign(systemError('ECONNRESET'), { retriable: false })), false);
  assert.equal(isRetriableError(new ObjectNotFoundError('s', 'k')), false);
  assert.equal(isRetriableError(systemError('EMFILE')), true);
  assert.equal(isRetriableError(systemError('EIO')), true);
  assert.equal(isRetriableError(systemError('EACCES')), false);
  assert.equal(isRetriableError(new Error('invalid object key')), false);
  assert.equal(isRetriableError('boom'), false);
});

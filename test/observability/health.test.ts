// Process health: readiness is every live stage's probe (finished stages count as ready), liveness only fails on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessHealth } from '../../src/observability/health.ts';

test('not ready with no stage; ready when every probe is; finished stages no longer asked', () => {
  const health = new ProcessHealth();
  assert.deepEqual(health.readiness(), { ok: false, body: { status: 'not-ready', reasons: { process: 'starting: no stage running yet' } } });
  let teacher: string | undefined = 'loading';
  health.watch('ingest', () => 'never ready');
  health.watch('teacher', () => teacher);
  assert.deepEqual(health.readiness().body.reasons, { ingest: 'never ready', teacher: 'loading' });
  teacher = undefined;
  health.finish('ingest');
  assert.deepEqual(health.readiness(), { ok: true, body: { status: 'ready' } });
  assert.deepEqual(health.liveness(), { ok: true, body: { status: 'ok' } });
});

test('a failure fails liveness and readiness and keeps the first error', () => {
  const health = new ProcessHealth();
  health.watch('student', () => undefined);
  health.fail('student', new Error('checkpoint does not fit'));
  health.fail('teacher', 'later');
  assert.deepEqual(health.liveness(), { ok: false, body: { status: 'failed', error: { stage: 'student', message: 'checkpoint does not fit' } } });
  assert.deepEqual(health.readiness().body.reasons, { student: 'failed: checkpoint does not fit' });
});

test('shutting down is not ready but live', () => {
  const health = new ProcessHealth();
  health.watch('teacher', () => undefined);
  health.shutdown();
  assert.equal(health.readiness().ok, false);
  assert.equal(health.liveness().ok, true);
});

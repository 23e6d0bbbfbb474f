// The HTTP endpoint: paths, status codes, content types, a taken port, and a close that does not wait for idle clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ProcessHealth } from '../../src/observability/health.ts';
import { PipelineMetrics } from '../../src/observability/metrics.ts';
import { MetricsPortInUseError, startObservabilityServer, type ObservabilityServer } from '../../src/observability/server.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';

async function serve(): Promise<{ server: ObservabilityServer; metrics: PipelineMetrics; health: ProcessHealth }> {
  const metrics = new PipelineMetrics({ process: 'test', defaultMetrics: false });
  const health = new ProcessHealth();
  const server = await startObservabilityServer({ metrics, health, host: '127.0.0.1', port: 0, logger: silentLogger() });
  return { server, metrics, health };
}

async function get(server: ObservabilityServer, path: string, method = 'GET'): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`${server.url}${path}`, { method });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

test('/metrics answers the Prometheus text format with the stage metrics', async () => {
  const { server, metrics } = await serve();
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(server.port > 0, 'port 0 binds a free port');
    metrics.forStage('teacher').imagesConsumed(3);
    const res = await get(server, '/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(sampleValue(parsePrometheus(res.body), 'distillery_images_consumed_total', { stage: 'teacher' }), 3);
    assert.match(res.body, /^# HELP distillery_images_consumed_total /m);
    const head = await get(server, '/metrics', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  } finally {
    await server.close();
  }
});

test('/healthz is 200 until a stage fails, then 503 with the error', async () => {
  const { server, health } = await serve();
  try {
    const ok = await get(server, '/healthz');
    assert.equal(ok.status, 200);
    assert.equal(ok.type, 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(ok.body), { status: 'ok' });
    health.fail('teacher', new Error('the store is down'));
    const failed = await get(server, '/healthz');
    assert.equal(failed.status, 503);
    assert.deepEqual(JSON.parse(failed.body), { status: 'failed', error: { stage: 'teacher', message: 'the store is down' } });
  } finally {
    await server.close();
  }
});

test('/readyz is 503 with the reasons until every stage is ready, and again when shutting down', async () => {
  const { server, health } = await serve();
  try {
    let assigned = false;
    health.watch('teacher', () => (assigned ? undefined : 'consumer group teacher has no partition assigned'));
    const waiting = await get(server, '/readyz');
    assert.equal(waiting.status, 503);
    assert.equal(waiting.type, 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(waiting.body), { status: 'not-ready', reasons: { teacher: 'consumer group teacher has no partition assigned' } });
    assigned = true;
    const ready = await get(server, '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { status: 'ready' });
    health.shutdown();
    assert.equal((await get(server, '/readyz')).status, 503);
    assert.equal((await get(server, '/healthz')).status, 200, 'draining is not dying');
  } finally {
    await server.close();
  }
});

test('other paths are 404, other methods 405', async () => {
  const { server } = await serve();
  try {
    const missing = await get(server, '/metrics/extra');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /try \/metrics, \/healthz or \/readyz/);
    assert.equal((await get(server, '/readyz?verbose=1')).status, 503, 'a query string does not change the path');
    assert.equal((await get(server, '/metrics', 'POST')).status, 405);
  } finally {
    await server.close();
  }
});

test('a taken port is a clear error', async () => {
  const { server } = await serve();
  try {
    await assert.rejects(
      startObservabilityServer({ metrics: new PipelineMetrics({ process: 'x', defaultMetrics: false }), health: new ProcessHealth(), host: '127.0.0.1', port: server.port, logger: silentLogger() }),
      (err: unknown) => err instanceof MetricsPortInUseError && /metrics port 127\.0\.0\.1:\d+ is in use: set observability\.port, DISTILLERY_METRICS_PORT or --metrics-port/.test(err.message),
    );
  } finally {
    await server.close();
  }
});

test('close() ends at once even with a keep-alive client connected, and is idempotent', async () => {
  const { server } = await serve();
  const agent = new http.Agent({ keepAlive: true });
  const status = await new Promise<number | undefined>((resolve, reject) => {
    http.get(`${server.url}/healthz`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
  assert.equal(status, 200);
  await Promise.all([server.close(), server.close()]);
  agent.destroy();
  await assert.rejects(fetch(`${server.url}/healthz`));
});

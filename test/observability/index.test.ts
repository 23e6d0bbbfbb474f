// startProcessObservability: no server without an endpoint, readiness off once the stop signal fires.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProcessObservability } from '../../src/observability/index.ts';
import { silentLogger } from '../../src/util/logger.ts';

test('without an endpoint nothing listens, but metrics and health are kept', async () => {
  const obs = await startProcessObservability({ process: 'ingest', logger: silentLogger() });
  assert.equal(obs.server, undefined);
  obs.metrics.forStage('ingest').imagesProduced(2);
  assert.match(await obs.metrics.scrape(), /^distillery_images_produced_total\{stage="ingest"\} 2$/m);
  await obs.close();
});

test('the stop signal turns readiness off; close() stops the server', async () => {
  const controller = new AbortController();
  const obs = await startProcessObservability({ process: 'teacher', endpoint: { host: '127.0.0.1', port: 0 }, logger: silentLogger(), signal: controller.signal });
  assert.ok(obs.server);
  obs.health.watch('teacher', () => undefined);
  assert.equal((await fetch(`${obs.server.url}/readyz`)).status, 200);
  controller.abort();
  assert.equal((await fetch(`${obs.server.url}/readyz`)).status, 503);
  await obs.close();
  await assert.rejects(fetch(`${obs.server.url}/readyz`));
});

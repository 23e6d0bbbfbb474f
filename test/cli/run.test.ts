// `distillery run`'s metrics endpoint as a user meets it: --metrics-port checked, and wins over DISTILLERY_METRICS_PORT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.ts';

const BIN = fileURLToPath(new URL('../../bin/distillery.js', import.meta.url));

test('--metrics-port refuses what is not a port', async () => {
  const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'run', 'all', '--metrics-port', '70000'], (error, _out, err) => resolve({ code: error ? Number(error.code) : 0, stderr: err }));
  });
  assert.notEqual(code, 0);
  assert.match(stderr, /--metrics-port <n>' argument '70000' is invalid\. expected a TCP port in \[0, 65535\]/);
});

test('a stage process serves its probes before it reaches the transport: live, not ready, and why', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-run-cli-'));
  const [port, envPort, deadBroker] = await Promise.all([freePort(), freePort(), freePort()]);
  const file = path.join(dir, 'topology.yaml');
  // A broker nobody listens on: the stage keeps trying to create its topics, the endpoint must answer meanwhile.
  await writeFile(
    file,
    `name: cli-metrics
config:
  store: { kind: local, root: '${dir}' }
  transport: { kind: kafka, brokers: ['127.0.0.1:${deadBroker}'] }
observability: { host: 127.0.0.1, port: 1 }
stages:
  - name: ingest
    kind: ingest
    options: { prefix: corpus/, split: unlabeled }
`,
  );
  const child = spawn(process.execPath, [BIN, 'run', 'ingest', '--topology', file, '--metrics-port', String(port)], {
    env: { ...process.env, DISTILLERY_METRICS_PORT: String(envPort), DISTILLERY_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (!stderr.includes('metrics and probes:')) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `no endpoint announced:\n${stderr}`);
      await sleep(50);
    }
    assert.match(stderr, new RegExp(`metrics and probes: ${url}/metrics /healthz /readyz`), 'the flag wins over the environment and the file');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { status: 'not-ready', reasons: { process: 'starting: no stage running yet' } });
    assert.match(await (await fetch(`${url}/metrics`)).text(), /^distillery_process_resident_memory_bytes\{stage="ingest"\} \d+/m);
  } finally {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

// scripts/services/with_services.sh's choice of services without starting any: the environment wins, a forced
// container mode fails clearly when Docker is unusable, and a bad mode is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/services/with_services.sh', import.meta.url));

function withServices(env: Record<string, string>, command: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { ...process.env };
  for (const name of ['KAFKA_BROKERS', 'S3_ENDPOINT', 'DISTILLERY_SERVICES']) delete base[name];
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...command], { env: { ...base, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('KAFKA_BROKERS and S3_ENDPOINT in the environment win: no container, no service started', async () => {
  const r = await withServices({ KAFKA_BROKERS: '127.0.0.1:1', S3_ENDPOINT: 'http://127.0.0.1:2' }, ['sh', '-c', 'echo "$KAFKA_BROKERS $S3_ENDPOINT"']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '127.0.0.1:1 http://127.0.0.1:2');
  assert.equal(r.stderr, '');
});

test('DISTILLERY_SERVICES=containers where Docker does not answer fails and says why, running nothing', async () => {
  const r = await withServices({ DISTILLERY_SERVICES: 'containers', DOCKER_HOST: 'unix:///nonexistent/docker.sock' }, ['sh', '-c', 'echo ran']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /DISTILLERY_SERVICES=containers, but (docker info does not answer|no docker command)/);
});

test('an unknown DISTILLERY_SERVICES is refused', async () => {
  const r = await withServices({ DISTILLERY_SERVICES: 'k8s' }, ['true']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /DISTILLERY_SERVICES must be auto, containers or processes, got 'k8s'/);
});

// Tests of scripts/services/services.sh that start no service: env exports, credential reuse, config errors, status/stop.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/services/services.sh', import.meta.url));

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

// Settings a developer may have exported would point the script at their real state dir or server choice.
const INHERITED_OVERRIDES = [
  'DISTILLERY_SERVICES_STATE_DIR',
  'DISTILLERY_SERVICES_LOG_DIR',
  'DISTILLERY_S3_SERVER',
  'KAFKA_DATA_DIR',
  'S3_DATA_DIR',
  'S3_REGION',
];

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED_OVERRIDES) delete base[name];
  return { ...base, ...env };
}

function run(args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], { env: childEnv(env), timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port nothing listens on right now: bind to 0, read the port, close. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

function parseExports(stdout: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of stdout.trim().split('\n')) {
    const match = /^export ([A-Z_][A-Z0-9_]*)=(\S+)$/.exec(line);
    assert.ok(match, `not an export line: ${line}`);
    vars.set(match[1], match[2]);
  }
  return vars;
}

describe('services.sh', () => {
  let home: string;
  let env: Record<string, string>;
  let ports: { kafka: number; controller: number; s3: number };

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'distillery-services-test-'));
    ports = { kafka: await freePort(), controller: await freePort(), s3: await freePort() };
    env = {
      DISTILLERY_SERVICES_HOME: home,
      KAFKA_PORT: String(ports.kafka),
      KAFKA_CONTROLLER_PORT: String(ports.controller),
      S3_PORT: String(ports.s3),
    };
  });

  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('env prints the five exports for the configured ports', async () => {
    const res = await run(['env'], env);
    assert.equal(res.code, 0, res.stderr);
    const vars = parseExports(res.stdout);
    assert.deepEqual([...vars.keys()], [
      'KAFKA_BROKERS',
      'S3_ENDPOINT',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_REGION',
    ]);
    assert.equal(vars.get('KAFKA_BROKERS'), `127.0.0.1:${ports.kafka}`);
    assert.equal(vars.get('S3_ENDPOINT'), `http://127.0.0.1:${ports.s3}`);
    assert.equal(vars.get('AWS_REGION'), 'us-east-1');
    assert.match(vars.get('AWS_ACCESS_KEY_ID') ?? '', /^[A-Z0-9]{16,}$/);
    assert.match(vars.get('AWS_SECRET_ACCESS_KEY') ?? '', /^[A-Za-z0-9]{32,}$/);
  });

  it('keeps generated credentials in a 0600 file and reuses them', async () => {
    const first = parseExports((await run(['env'], env)).stdout);
    const second = parseExports((await run(['env'], env)).stdout);
    assert.equal(second.get('AWS_ACCESS_KEY_ID'), first.get('AWS_ACCESS_KEY_ID'));
    assert.equal(second.get('AWS_SECRET_ACCESS_KEY'), first.get('AWS_SECRET_ACCESS_KEY'));
    const info = await stat(join(home, 'state', 's3-credentials.env'));
    assert.equal(info.mode & 0o777, 0o600);

    const otherHome = await mkdtemp(join(tmpdir(), 'distillery-services-test-'));
    try {
      const other = parseExports((await run(['env'], { ...env, DISTILLERY_SERVICES_HOME: otherHome })).stdout);
      assert.notEqual(other.get('AWS_SECRET_ACCESS_KEY'), first.get('AWS_SECRET_ACCESS_KEY'));
    } finally {
      await rm(otherHome, { recursive: true, force: true });
    }
  });

  it('env output evaluates in a shell', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        'bash',
        ['-c', `eval "$(bash '${SCRIPT}' env)" && printf '%s|%s' "$KAFKA_BROKERS" "$S3_ENDPOINT"`],
        { env: childEnv(env) },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      );
    });
    assert.equal(out, `127.0.0.1:${ports.kafka}|http://127.0.0.1:${ports.s3}`);
  });

  it('rejects a malformed port or S3 server choice with a message naming the variable', async () => {
    const badPort = await run(['env'], { ...env, KAFKA_PORT: 'tcp://10.0.0.1:9092' });
    assert.notEqual(badPort.code, 0);
    assert.match(badPort.stderr, /KAFKA_PORT must be a TCP port number/);
    const badServer = await run(['status'], { ...env, DISTILLERY_S3_SERVER: 'minio' });
    assert.notEqual(badServer.code, 0);
    assert.match(badServer.stderr, /DISTILLERY_S3_SERVER must be versitygw or moto/);
  });

  it('status reports both stopped (exit 1) and stop is a no-op when nothing runs', async () => {
    const status = await run(['status'], env);
    assert.equal(status.code, 1);
    assert.match(status.stdout, new RegExp(`^kafka\\s+stopped\\s+127\\.0\\.0\\.1:${ports.kafka}`, 'm'));
    assert.match(status.stdout, new RegExp(`^s3\\s+stopped\\s+http://127\\.0\\.0\\.1:${ports.s3}`, 'm'));
    const stop = await run(['stop'], env);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stderr, /kafka: not running/);
    assert.match(stop.stderr, /s3: not running/);
  });

  it('fails with usage for an unknown command', async () => {
    const res = await run(['launch'], env);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /usage: scripts\/services\/services\.sh/);
  });
});

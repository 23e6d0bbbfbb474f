// Tests of scripts/k8s/cluster.sh that start no server: configuration errors, status/stop on an idle state dir, env.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/k8s/cluster.sh', import.meta.url));

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>): Promise<RunResult> {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['K8S_API_PORT', 'K8S_ETCD_PORT', 'DISTILLERY_K8S_STATE_DIR', 'DISTILLERY_K8S_TIMEOUT']) delete base[name];
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], { env: { ...base, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0 });
    });
  });
}

describe('scripts/k8s/cluster.sh without a server', () => {
  let state: string;
  let env: Record<string, string>;

  before(async () => {
    state = await mkdtemp(join(tmpdir(), 'distillery-k8s-state-'));
    // Ports nobody uses here (the test never starts a server on them).
    env = { DISTILLERY_K8S_STATE_DIR: state, K8S_API_PORT: '16991', K8S_ETCD_PORT: '16992' };
  });

  after(async () => {
    await rm(state, { recursive: true, force: true });
  });

  it('refuses ports that are not numbers, privileged or colliding', async () => {
    for (const [name, value, message] of [
      ['K8S_API_PORT', 'http', /API_PORT must be a TCP port/],
      ['K8S_API_PORT', '443', /API_PORT must be a TCP port in 1024/],
      ['K8S_ETCD_PORT', '16991', /K8S_API_PORT collides with the etcd ports/],
    ] as const) {
      const result = await run(['status'], { ...env, [name]: value });
      assert.notEqual(result.code, 0, `${name}=${value}`);
      assert.match(result.stderr, message);
    }
    const timeout = await run(['status'], { ...env, DISTILLERY_K8S_TIMEOUT: 'soon' });
    assert.match(timeout.stderr, /DISTILLERY_K8S_TIMEOUT must be whole seconds/);
  });

  it('status says not running (exit 1); stop on an idle state dir succeeds', async () => {
    const status = await run(['status'], env);
    assert.equal(status.code, 1);
    assert.match(status.stdout, /not running .*127\.0\.0\.1:16991/);
    const stop = await run(['stop'], env);
    assert.equal(stop.code, 0, stop.stderr);
  });

  it('stop reports a port still held by another process instead of claiming success', async () => {
    const { server, port } = await listen();
    try {
      const stop = await run(['stop'], { ...env, K8S_API_PORT: String(port) });
      assert.notEqual(stop.code, 0);
      assert.match(stop.stderr, new RegExp(`port ${port} still answers`));
    } finally {
      server.close();
    }
  });

  it('env prints the kubeconfig in the state dir and the tool paths', async () => {
    const result = await run(['env'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.includes(`export KUBECONFIG=${join(state, 'admin.kubeconfig')}`), result.stdout);
    for (const name of ['DISTILLERY_KUBECTL', 'DISTILLERY_KEDA_CRDS', 'DISTILLERY_PROMETHEUS_CRDS']) assert.match(result.stdout, new RegExp(`^export ${name}=`, 'm'));
  });

  it('start takes only --node, and load needs a running node', async () => {
    for (const args of [['start', '--nodes'], ['start', '--node', 'extra']]) {
      const result = await run(args, env);
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, /usage: cluster.sh start \[--node\]/, args.join(' '));
    }
    const load = await run(['load', 'distillery:0.1.0'], env);
    assert.notEqual(load.code, 0);
    assert.match(load.stderr, /no node runs \(cluster.sh start --node\)/);
    const bare = await run(['load'], env);
    assert.match(bare.stderr, /usage: cluster.sh load IMAGE/);
  });

  it('an unknown command prints the usage', async () => {
    const result = await run(['restart'], env);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /usage: cluster.sh start \[--node\]\|stop\|status\|env\|load IMAGE/);
  });
});

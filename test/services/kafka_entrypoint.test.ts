// The dev Kafka image's entrypoint (scripts/docker/kafka/entrypoint.sh) without Docker: a stand-in `java` records what
// it is asked to run, so the generated server.properties and the format-once logic are checked here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { kafkaContainerEnv } from '../../scripts/docker/containers.ts';

const run = promisify(execFile);
const ENTRYPOINT = fileURLToPath(new URL('../../scripts/docker/kafka/entrypoint.sh', import.meta.url));

/** Runs the entrypoint with `env` (plus a fake java first on the PATH); returns the properties and java's calls. */
async function entrypoint(env: Record<string, string>, options: { formatted?: boolean } = {}): Promise<{ props: Map<string, string>; calls: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'kafka-entrypoint-'));
  try {
    await mkdir(join(dir, 'bin'));
    await mkdir(join(dir, 'data'));
    if (options.formatted) await writeFile(join(dir, 'data', 'meta.properties'), 'cluster.id=x\n');
    await writeFile(join(dir, 'bin', 'java'), `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >>"${dir}/calls"\n`);
    await chmod(join(dir, 'bin', 'java'), 0o755);
    // Only PATH and HOME from the outside: KAFKA_* variables of the test's own environment must not leak in.
    await run('bash', [ENTRYPOINT], {
      env: { PATH: `${dir}/bin:/usr/bin:/bin`, HOME: dir, KAFKA_CONFIG_DIR: join(dir, 'config'), KAFKA_LOG_DIRS: join(dir, 'data'), ...env },
    });
    const text = await readFile(join(dir, 'config', 'server.properties'), 'utf8');
    const props = new Map(
      text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
    );
    const calls = (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n');
    return { props, calls: calls.map((c) => c.replaceAll(dir, '<dir>')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('defaults make a single KRaft node on 9092/9093 like scripts/services', async () => {
  const { props, calls } = await entrypoint({});
  assert.equal(props.get('process.roles'), 'broker,controller');
  assert.equal(props.get('node.id'), '1');
  assert.equal(props.get('listeners'), 'PLAINTEXT://:9092,CONTROLLER://:9093');
  assert.equal(props.get('auto.create.topics.enable'), 'false');
  assert.equal(props.get('group.initial.rebalance.delay.ms'), '0');
  assert.equal(props.get('offsets.topic.replication.factor'), '1');
  // Storage formatted once with the cluster id, then the broker started in the foreground.
  assert.equal(calls.length, 2);
  assert.match(calls[0], /kafka\.tools\.StorageTool format --ignore-formatted -t ZGlzdGlsbGVyeS1rYWZrYQ -c <dir>\/config\/server\.properties$/);
  assert.match(calls[1], /^-Xms128m -Xmx512m .*kafka\.Kafka <dir>\/config\/server\.properties$/);
});

test('KAFKA_* variables become properties (apache/kafka naming); JVM variables do not', async () => {
  const { props, calls } = await entrypoint(
    {
      ...kafkaContainerEnv(19092, 19093),
      KAFKA_NUM_PARTITIONS: '3',
      KAFKA_LOG_RETENTION_MS: '60000',
      KAFKA_SOME__UNDERSCORED___DASHED: 'x',
      KAFKA_OPTS: '-Dfoo=bar',
      CLUSTER_ID: 'c2FtcGxlLWNsdXN0ZXItaWQ',
    },
    {},
  );
  assert.equal(props.get('listeners'), 'PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093');
  assert.equal(props.get('advertised.listeners'), 'PLAINTEXT://127.0.0.1:19092');
  assert.equal(props.get('controller.quorum.voters'), '1@127.0.0.1:19093');
  assert.equal(props.get('num.partitions'), '3');
  assert.equal(props.get('log.retention.ms'), '60000');
  assert.equal(props.get('some_underscored-dashed'), 'x');
  for (const key of props.keys()) assert.doesNotMatch(key, /^(heap|opts)/);
  assert.match(calls[0], /-t c2FtcGxlLWNsdXN0ZXItaWQ /);
  assert.match(calls[1], /-Dfoo=bar .*kafka\.Kafka/);
});

test('an already formatted data dir is not formatted again', async () => {
  const { calls } = await entrypoint({}, { formatted: true });
  assert.equal(calls.length, 1);
  assert.match(calls[0], /kafka\.Kafka/);
});

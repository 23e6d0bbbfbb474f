// Kafka over SASL_SSL (SCRAM-SHA-512) and S3 over HTTPS, against the secured pair scripts/services starts; secrets
// come only from the environment and never reach the logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { S3Store } from '../../src/io/s3_store.ts';
import { openStore } from '../../src/io/open_store.ts';
import { openTransport } from '../../src/transport/open_transport.ts';
import { waitForMessages, type Transport } from '../../src/transport/transport.ts';
import { createLogger } from '../../src/util/logger.ts';
import { useSecureServices } from '../helpers/secure_services.ts';

const secure = useSecureServices();
// This file runs in its own process: the secured pair's settings become its environment, as a pod's would.
Object.assign(process.env, secure);

const run = randomBytes(4).toString('hex');
const quiet = createLogger({ level: 'silent' });

function secureKafka(overrides: { saslMechanism?: 'scram-sha-512'; ssl?: boolean } = { ssl: true, saslMechanism: 'scram-sha-512' }): Transport {
  return openTransport({ kind: 'kafka', brokers: [secure.KAFKA_BROKERS], clientId: 'distillery-secure-test', ...overrides }, { logger: quiet, kafka: { retry: { retries: 0 }, connectionTimeoutMs: 3000, requestTimeoutMs: 5000 } });
}

test('Kafka: a SCRAM-SHA-512 login over TLS produces and consumes; a wrong password and a plaintext client are refused', async () => {
  const transport = secureKafka();
  const topic = `distillery-secure-test.${run}.t`;
  try {
    await transport.createTopics([{ topic, partitions: 1 }]);
    const producer = transport.producer();
    await producer.connect();
    await producer.send(topic, [{ key: 'k', value: new TextEncoder().encode('over tls') }]);
    await producer.disconnect();
    const [m] = await waitForMessages(transport, topic, 1, { timeoutMs: 20_000 });
    assert.equal(new TextDecoder().decode(m.value), 'over tls');
  } finally {
    await (transport as Transport & { deleteTopics?: (t: string[]) => Promise<void> }).deleteTopics?.([topic]).catch(() => undefined);
    await transport.close();
  }

  const password = process.env.KAFKA_SASL_PASSWORD;
  process.env.KAFKA_SASL_PASSWORD = 'not-the-password';
  const wrong = secureKafka();
  try {
    await assert.rejects(wrong.topicOffsets(topic), (err: unknown) => /SASL|authentication|Authentication/i.test(String((err as Error).message) + String((err as Error).cause ?? '')));
  } finally {
    process.env.KAFKA_SASL_PASSWORD = password;
    await wrong.close();
  }
  const plaintext = secureKafka({});
  try {
    await assert.rejects(plaintext.topicOffsets(topic));
  } finally {
    await plaintext.close();
  }
  delete process.env.KAFKA_SASL_USERNAME;
  try {
    assert.throws(() => secureKafka(), /needs KAFKA_SASL_USERNAME in the environment/);
  } finally {
    process.env.KAFKA_SASL_USERNAME = secure.KAFKA_SASL_USERNAME;
  }
});

test('S3 over HTTPS: the store trusts the CA from S3_CA_FILE; without it the certificate is refused', async () => {
  const bucket = `distillery-secure-${run}`;
  const store = openStore({ kind: 's3', bucket, endpoint: secure.S3_ENDPOINT, region: secure.AWS_REGION, forcePathStyle: true });
  assert.ok(secure.S3_ENDPOINT.startsWith('https://'));
  try {
    await store.ensureBucket();
    await store.put('hello.txt', 'over https');
    assert.equal(new TextDecoder().decode(await store.get('hello.txt')), 'over https');
    await store.delete('hello.txt');
  } finally {
    store.close();
  }
  const untrusting = new S3Store({ bucket, endpoint: secure.S3_ENDPOINT, region: secure.AWS_REGION, maxAttempts: 1 });
  try {
    await assert.rejects(untrusting.head('hello.txt'), (err: unknown) => /certificate|self.signed|UNABLE_TO_VERIFY|unable to get local issuer/i.test(`${(err as Error).message} ${String((err as Error).cause ?? '')} ${(err as { code?: string }).code ?? ''}`));
  } finally {
    untrusting.close();
  }
});

test('credentials never reach the logs, even at debug level and when a login fails', async () => {
  const secrets = [secure.KAFKA_SASL_PASSWORD, secure.AWS_SECRET_ACCESS_KEY];
  assert.ok(secrets.every((s) => s !== undefined && s.length >= 20));
  const cli = (args: string[], env: NodeJS.ProcessEnv) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: { ...process.env, ...env, DISTILLERY_LOG_LEVEL: 'debug' }, timeout: 60_000 }).then(
      (r) => `${r.stdout}${r.stderr}`,
      (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
  const topology = ['--topology', 'topologies/distributed.yaml', '--set', `topics.dlq.name=distillery-secure-test.${run}.dlq`, '--set', `config.store.bucket=distillery-secure-${run}`];
  const logs = [
    await cli(['status', ...topology, '--interval', '0'], {}),
    await cli(['store', 'ls', '', ...topology, '--limit', '1'], {}),
    // A failing login logs errors: still no secret, not even the wrong one's neighbour.
    await cli(['status', ...topology, '--interval', '0'], { KAFKA_SASL_PASSWORD: `${secure.KAFKA_SASL_PASSWORD}x` }),
  ];
  assert.match(logs[0], /distillery\.images/, 'status ran against the secured broker');
  assert.match(logs[0], /SaslHandshake/, 'with kafkajs debug lines, SASL handshake included');
  for (const [i, text] of logs.entries()) {
    for (const secret of secrets) assert.ok(!text.includes(secret), `run ${i} printed a secret:\n${text.slice(0, 2000)}`);
  }
  console.log(`grepped ${logs.reduce((n, l) => n + l.length, 0)} characters of debug logs from 3 runs: no secret`);
});

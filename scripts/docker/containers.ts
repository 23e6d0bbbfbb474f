// Kafka and the S3 server for the tests as containers (testcontainers) from the locally built dev images, on loopback.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StartedTestContainer } from 'testcontainers';
import { probeKafka, probeS3 } from '../services/probe.ts';

const run = promisify(execFile);

export const KAFKA_IMAGE = 'distillery/kafka:3.9.1';
export const S3_IMAGE = 'distillery/versitygw:1.8.0';
/** Every container started here carries it, with the starting process's pid, so leftovers of a killed run are found. */
const OWNER_LABEL = 'io.distillery.test-services';

export interface ServiceContainersOptions {
  /** Start Kafka (false when the caller already has KAFKA_BROKERS). */
  kafka: boolean;
  /** Start the S3 server (false when the caller already has S3_ENDPOINT). */
  s3: boolean;
  kafkaImage?: string;
  s3Image?: string;
  region?: string;
  startupTimeoutMs?: number;
}

export interface ServiceContainers {
  /** KAFKA_BROKERS, S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION for what was started. */
  readonly env: Record<string, string>;
  readonly description: string;
  /** Stops and removes the containers (idempotent). */
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The environment of a single KRaft node listening on 127.0.0.1 only: with the host's network (no port mapping),
 * the advertised address is the one clients dial, and nothing listens beyond loopback.
 */
export function kafkaContainerEnv(port: number, controllerPort: number): Record<string, string> {
  return {
    KAFKA_LISTENERS: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${port}`,
    KAFKA_CONTROLLER_QUORUM_VOTERS: `1@127.0.0.1:${controllerPort}`,
    KAFKA_HEAP_OPTS: '-Xms128m -Xmx512m',
  };
}

/** Polls `check` until it resolves; throws its last error after `timeoutMs`. */
async function until(what: string, timeoutMs: number, check: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms: ${err instanceof Error ? err.message : String(err)}`);
    }
    await sleep(500);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes containers of earlier runs whose starting process is gone (no reaper here: its image cannot be pulled). */
export async function removeOrphans(): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-a', '--filter', `label=${OWNER_LABEL}`, '--format', `{{.ID}} {{.Label "${OWNER_LABEL}"}}`]);
  const orphans = stdout
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter(([id, pid]) => id && !alive(Number(pid)))
    .map(([id]) => id);
  if (orphans.length > 0) await run('docker', ['rm', '-f', ...orphans]);
  return orphans;
}

/** Starts what `options` asks for and waits until each answers like scripts/services' readiness probes. */
export async function startServiceContainers(options: ServiceContainersOptions): Promise<ServiceContainers> {
  // The reaper (ryuk) image cannot be pulled here; containers are removed by stop() and, after a crash, removeOrphans().
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  const { GenericContainer, Wait } = await import('testcontainers');
  const timeoutMs = options.startupTimeoutMs ?? 120_000;
  const labels = { [OWNER_LABEL]: String(process.pid) };
  const started: StartedTestContainer[] = [];
  const env: Record<string, string> = {};
  const parts: string[] = [];
  const stop = async (): Promise<void> => {
    const all = started.splice(0);
    await Promise.allSettled(all.map((c) => c.stop({ timeout: 10_000 })));
  };
  try {
    await removeOrphans();
    const pending: Promise<void>[] = [];
    if (options.kafka) {
      const image = options.kafkaImage ?? KAFKA_IMAGE;
      const [port, controller] = [await freePort(), await freePort()];
      pending.push(
        (async () => {
          const container = await new GenericContainer(image)
            .withNetworkMode('host')
            .withEnvironment(kafkaContainerEnv(port, controller))
            .withTmpFs({ '/var/lib/kafka/data': 'rw,uid=10001,gid=10001', '/tmp': 'rw,uid=10001,gid=10001' })
            .withLabels(labels)
            .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
            .withStartupTimeout(timeoutMs)
            .start();
          started.push(container);
          const brokers = `127.0.0.1:${port}`;
          // The probe's group-coordinator lookup makes the broker create __consumer_offsets before any test joins.
          await until(`kafka (${image})`, timeoutMs, () => probeKafka([brokers]));
          env.KAFKA_BROKERS = brokers;
          parts.push(`${image} on ${brokers}`);
        })(),
      );
    }
    if (options.s3) {
      const image = options.s3Image ?? S3_IMAGE;
      const port = await freePort();
      const accessKeyId = `AK${randomBytes(9).toString('hex').toUpperCase()}`;
      const secretAccessKey = randomBytes(30).toString('base64').replace(/[+/]/g, 'x');
      const region = options.region ?? 'us-east-1';
      pending.push(
        (async () => {
          const container = await new GenericContainer(image)
            .withNetworkMode('host')
            .withEnvironment({ ROOT_ACCESS_KEY_ID: accessKeyId, ROOT_SECRET_ACCESS_KEY: secretAccessKey, VGW_REGION: region })
            .withCommand(['--port', `127.0.0.1:${port}`, '--quiet', 'posix', '/data'])
            .withTmpFs({ '/data': 'rw,uid=10001,gid=10001' })
            .withLabels(labels)
            .withStartupTimeout(timeoutMs)
            .start();
          started.push(container);
          const endpoint = `http://127.0.0.1:${port}`;
          await until(`s3 (${image})`, timeoutMs, () => probeS3(endpoint));
          Object.assign(env, { S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: region });
          parts.push(`${image} on ${endpoint}`);
        })(),
      );
    }
    const results = await Promise.allSettled(pending);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await stop();
    throw err;
  }
  return { env, description: parts.join(', '), stop };
}

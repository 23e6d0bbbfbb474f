// Readiness probe used by services.sh and the test containers: one admin metadata call against Kafka, or one HTTP request to S3.
import { pathToFileURL } from 'node:url';
import { rootCertificates } from 'node:tls';
import { readFileSync } from 'node:fs';
import { kafkaConnectionSecurity, SASL_MECHANISMS, type SaslMechanism } from '../../src/transport/kafka_security.ts';
import kafkajs from '../../src/transport/kafkajs.ts';

const { Kafka, logLevel } = kafkajs;

const PROBE_TIMEOUT_MS = 5000;

/**
 * Resolves when the broker answers a metadata request (needs a registered, unfenced broker) and a group
 * coordinator lookup. The lookup makes a fresh broker create __consumer_offsets now, so the first consumer
 * group of a test joins at once instead of logging "group coordinator is not available".
 */
export async function probeKafka(brokers: string[]): Promise<string[]> {
  const kafka = new Kafka({
    clientId: 'distillery-services-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: PROBE_TIMEOUT_MS,
    requestTimeout: PROBE_TIMEOUT_MS,
    // The caller polls; retrying here would only hide how long startup really takes.
    retry: { retries: 0 },
    // The secured pair: the same variables a pipeline reads (services.sh passes them).
    ...kafkaConnectionSecurity({ ssl: process.env.KAFKA_SSL === 'true', saslMechanism: saslFromEnv() }),
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    await admin.describeGroups(['distillery-services-probe']);
    return topics;
  } finally {
    await admin.disconnect();
  }
}

/** Resolves with the HTTP status once the endpoint answers with an XML body (an S3 error document counts). */
export async function probeS3(endpoint: string): Promise<number> {
  const { status, body } = endpoint.startsWith('https:') ? await httpsGet(endpoint) : await httpGet(endpoint);
  if (!body.includes('<')) {
    throw new Error(`HTTP ${status} from ${endpoint} but no XML body`);
  }
  return status;
}

function saslFromEnv(): SaslMechanism | undefined {
  const m = process.env.KAFKA_SASL_MECHANISM;
  return (SASL_MECHANISMS as readonly string[]).includes(m ?? '') ? (m as SaslMechanism) : undefined;
}

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  return { status: res.status, body: await res.text() };
}

/** fetch cannot take a CA; node:https can (S3_CA_FILE: the secured server's private CA). */
async function httpsGet(url: string): Promise<{ status: number; body: string }> {
  const https = await import('node:https');
  const caFile = process.env.S3_CA_FILE;
  const ca = caFile ? [...rootCertificates, readFileSync(caFile, 'utf8')] : undefined;
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: PROBE_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} in ${PROBE_TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

async function main(argv: string[]): Promise<void> {
  const [kind, target] = argv;
  if (kind === 'kafka' && target) {
    const topics = await probeKafka(target.split(','));
    process.stdout.write(`kafka ready at ${target} (${topics.length} topics)\n`);
  } else if (kind === 's3' && target) {
    const status = await probeS3(target);
    process.stdout.write(`s3 ready at ${target} (HTTP ${status})\n`);
  } else {
    throw new Error('usage: probe.ts kafka <host:port[,host:port]> | s3 <http(s)://host:port>');
  }
}

// Run as a script (services.sh), not when imported (scripts/docker/containers.ts).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

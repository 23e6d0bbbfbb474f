// Readiness probe used by services.sh and the test containers: one admin metadata call against Kafka, or one HTTP request to S3.
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';

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
  const res = await fetch(endpoint, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  const body = await res.text();
  if (!body.includes('<')) {
    throw new Error(`HTTP ${res.status} from ${endpoint} but no XML body`);
  }
  return res.status;
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
    throw new Error('usage: probe.ts kafka <host:port[,host:port]> | s3 <http://host:port>');
  }
}

// Run as a script (services.sh), not when imported (scripts/docker/containers.ts).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

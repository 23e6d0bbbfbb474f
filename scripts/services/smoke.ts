// End-to-end smoke check of the running services: an S3 bucket round trip and a Kafka produce/consume through a group.
//
// Usage: eval "$(scripts/services/services.sh env)" && node --import tsx scripts/services/smoke.ts
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { EachMessagePayload } from 'kafkajs';
import kafkajs from '../../src/transport/kafkajs.ts';

const { Kafka, Partitioners, logLevel } = kafkajs;

const CONSUME_TIMEOUT_MS = 30_000;

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run: eval "$(scripts/services/services.sh env)"`);
  return value;
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await fn();
  process.stdout.write(`${label}: ok (${Math.round(performance.now() - started)} ms)\n`);
  return result;
}

async function smokeS3(endpoint: string, runId: string): Promise<void> {
  // Credentials and region come from the standard AWS env chain that `services.sh env` fills.
  const s3 = new S3Client({ endpoint, forcePathStyle: true });
  const bucket = `smoke-${runId}`;
  const key = 'dir/hello.json';
  const body = JSON.stringify({ runId, at: Date.now() });
  try {
    await timed(`s3 create bucket ${bucket}`, () => s3.send(new CreateBucketCommand({ Bucket: bucket })));
    await timed('s3 put object', () =>
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' })),
    );
    const got = await timed('s3 get object', async () => {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return res.Body ? await res.Body.transformToString() : '';
    });
    if (got !== body) throw new Error(`s3 object round trip changed the body: ${got}`);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    s3.destroy();
  }
}

async function smokeKafka(brokers: string[], runId: string): Promise<void> {
  const kafka = new Kafka({ clientId: `smoke-${runId}`, brokers, logLevel: logLevel.WARN });
  const topic = `smoke-${runId}`;
  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `smoke-group-${runId}` });
  await admin.connect();
  try {
    await timed(`kafka create topic ${topic} (2 partitions)`, () =>
      admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true }),
    );
    const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length;
    if (partitions !== 2) throw new Error(`topic has ${partitions} partitions, expected 2`);

    const value = `hello ${runId}`;
    await producer.connect();
    await timed('kafka produce', () => producer.send({ topic, messages: [{ key: 'k1', value }] }));

    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const received = await timed('kafka consume via consumer group', () =>
      new Promise<EachMessagePayload>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message within ${CONSUME_TIMEOUT_MS} ms`)), CONSUME_TIMEOUT_MS);
        consumer
          .run({
            eachMessage: async (payload) => {
              clearTimeout(timer);
              resolve(payload);
            },
          })
          .catch(reject);
      }),
    );
    const got = received.message.value?.toString();
    if (got !== value) throw new Error(`kafka round trip changed the value: ${got}`);
    process.stdout.write(`kafka message came back from partition ${received.partition}\n`);
  } finally {
    // Clients leave before the topic goes, or their fetches log errors for the deleted partitions.
    await consumer.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

async function main(): Promise<void> {
  const runId = randomUUID().slice(0, 8);
  await smokeS3(requireEnv('S3_ENDPOINT'), runId);
  await smokeKafka(requireEnv('KAFKA_BROKERS').split(','), runId);
  process.stdout.write('smoke: services work\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`smoke failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

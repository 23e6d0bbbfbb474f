// The distributed pipeline against real Kafka and a real S3 server, one process per stage (needs scripts/services).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { generateCorpus } from '../../src/corpus/index.ts';
import type { ObjectStore } from '../../src/io/object_store.ts';
import { formatStatus, snapshotStatus } from '../../src/cli/status.ts';
import { readDlqRecord } from '../../src/messages/dlq.ts';
import { decodeRejection } from '../../src/messages/rejection.ts';
import { disposeLayersModel } from '../../src/model/detector.ts';
import { compileTopology } from '../../src/topology/index.ts';
import type { CompiledTopology } from '../../src/topology/types.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { KafkaTransport } from '../../src/transport/kafka.ts';
import { readAllMessages, type ReceivedMessage } from '../../src/transport/transport.ts';
import { eventually, kafkaBrokers, openTestKafka } from '../helpers/kafka.ts';
import { startFaultProxy, useTestBucket } from '../helpers/s3.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';
import { freePort } from '../helpers/ports.ts';
import { lastCounters, spawnStage, type StageChild } from '../helpers/stage_process.ts';
import { TINY_MODELS_YAML } from '../runner/tiny_topology.ts';
import { saveTinyTeacher } from '../stages/teacher/fixtures.ts';

const LABELED = 4;
const UNLABELED = 12;
const BAD = ['zz-truncated.jpg', 'zz-empty.jpg', 'zz-text.jpg'];
const IMAGES = LABELED + UNLABELED + BAD.length;

const bucket = useTestBucket();
let tmp: string;
let store: ObjectStore;
let admin: KafkaTransport;
const topicsToDelete: string[] = [];
const children: StageChild[] = [];

/** A 64 px pipeline on Kafka + S3 whose topic and stage names are unique to `id` (consumer groups are stage names). */
function topologyYaml(id: string, options: { sessionTimeout?: string; teacherBatch?: number } = {}): string {
  return `
name: it-${id}
config:
  backend: wasm
  store: { kind: s3, bucket: ${bucket.name}, endpoint: '\${S3_ENDPOINT}', region: '\${AWS_REGION:-us-east-1}' }
  transport: { kind: kafka, brokers: '\${KAFKA_BROKERS}', clientId: it-${id}${options.sessionTimeout ? `, sessionTimeoutMs: ${options.sessionTimeout}, heartbeatIntervalMs: 200ms` : ''} }
topics:
  images: { name: it.${id}.images, partitions: 2 }
  samples: { name: it.${id}.samples, partitions: 2 }
  rejected: { name: it.${id}.rejected, partitions: 1 }
  dlq: { name: it.${id}.dlq, partitions: 1 }
${TINY_MODELS_YAML}
stages:
  - { name: labeled-${id}, kind: ingest, options: { prefix: corpus/labeled/images/, split: labeled, annotations: corpus/labeled/annotations.json, pageSize: 3 } }
  - { name: unlabeled-${id}, kind: ingest, options: { prefix: corpus/unlabeled/images/, split: unlabeled, pageSize: 5 } }
  - { name: teacher-${id}, kind: teacher, options: { checkpoint: models/teacher, batchSize: ${options.teacherBatch ?? 4}, fetchConcurrency: 2, maxBatchWaitMs: 50ms } }
  - name: student-${id}
    kind: student
    options: { steps: 4, batchSize: 2, learningRate: 0.001, warmupSteps: 1, checkpointEvery: 2, checkpointPrefix: runs/${id}/student, evalEvery: 0, evalAnnotations: corpus/test/annotations.json, bufferSize: 16 }
`;
}

async function writeTopology(id: string, options?: Parameters<typeof topologyYaml>[1]): Promise<{ file: string; topology: CompiledTopology }> {
  const yaml = topologyYaml(id, options);
  const file = path.join(tmp, `${id}.yaml`);
  await writeFile(file, yaml);
  const topology = compileTopology(yaml, file, { env: process.env });
  topicsToDelete.push(...Object.values(topology.topics).map((t) => t.name));
  return { file, topology };
}

function start(stage: string, file: string, env?: Record<string, string>): StageChild {
  const child = spawnStage(stage, file, env);
  children.push(child);
  return child;
}

async function expectExit(child: StageChild, what: string): Promise<void> {
  const { code, signal } = await child.exited;
  assert.equal(code, 0, `${what} exited with ${signal ?? code}:\n${child.stderr()}`);
}

/** Messages appended to a topic (all partitions). */
async function appended(topic: string): Promise<number> {
  return (await admin.topicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
}

/** Reads the whole topic as a read_committed reader with a fresh consumer group: what the stages produced. */
function readTopic(topic: string): Promise<ReceivedMessage[]> {
  return readAllMessages(admin, topic, { idleMs: 1500 });
}

/** Input messages the teacher group committed — with their outputs, since both are one transaction. */
async function teacherCommitted(id: string, topic: string): Promise<number> {
  return (await admin.groupOffsets(`teacher-${id}`, topic)).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

before(async () => {
  kafkaBrokers(); // fails with instructions when the services are not configured
  await initBackend('wasm');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'distillery-it-'));
  store = bucket.store();
  admin = openTestKafka();
  await generateCorpus(store, { prefix: 'corpus', images: { labeled: LABELED, test: 3, unlabeled: UNLABELED }, imageSize: { min: 64, max: 96 }, letterboxSize: 64, objectSize: { min: 12, max: 40 }, workers: 0 });
  const good = await store.get('corpus/unlabeled/images/000001.jpg');
  await store.put(`corpus/unlabeled/images/${BAD[0]}`, good.subarray(0, Math.floor(good.length / 2)));
  await store.put(`corpus/unlabeled/images/${BAD[1]}`, new Uint8Array(0));
  await store.put(`corpus/unlabeled/images/${BAD[2]}`, 'not an image at all');
  // Class 0 fires everywhere, so every decodable unlabeled image passes the filter.
  const { topology } = await writeTopology('probe');
  await saveTinyTeacher(store, 'models/teacher', { class0Bias: 4, config: topology.teacher });
});

after(async () => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  if (admin) {
    await admin.deleteTopics(topicsToDelete).catch(() => undefined);
    await admin.close();
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// Hard timeouts: a hung broker or child must fail the run, not stall CI.
test('ingest, two teacher workers on two partitions and the student as separate processes: every image ends exactly once', { timeout: 240_000 }, async () => {
  const id = randomBytes(3).toString('hex');
  const { file, topology } = await writeTopology(id);
  // The first worker serves /metrics and the probes (on loopback); it must still drain and exit 0 on SIGTERM.
  const metricsUrl = `http://127.0.0.1:${await freePort()}`;
  const teachers = [start(`teacher-${id}`, file, { DISTILLERY_METRICS_PORT: metricsUrl.split(':')[2] }), start(`teacher-${id}`, file)];
  const student = start(`student-${id}`, file);
  // Both workers own a partition before any image arrives, so the split is the partitioner's, not a race.
  await eventually(
    'both teacher workers in the group, one partition each',
    async () => {
      const g = await admin.describeGroup(`teacher-${id}`);
      return g.state === 'Stable' && g.members.length === 2 && g.members.every((m) => m.partitions.length === 1);
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
  // A malformed message on the images topic: the teacher dead-letters it with the failure in headers and goes on.
  const producer = admin.producer();
  await producer.connect();
  await producer.send(topology.topics.images.name, [{ key: 'garbage', value: new TextEncoder().encode('not an ImageRef') }]);
  await producer.disconnect();
  const ingests = [start(`labeled-${id}`, file), start(`unlabeled-${id}`, file)];
  for (const i of ingests) await expectExit(i, i.name);
  assert.equal(lastCounters(ingests[0].stderr(), `labeled-${id}`).published, LABELED);
  assert.equal(lastCounters(ingests[1].stderr(), `unlabeled-${id}`).published, UNLABELED + BAD.length);

  await eventually('every image labeled or rejected', async () => (await teacherCommitted(id, topology.topics.images.name)) === IMAGES + 1, { timeoutMs: 120_000, intervalMs: 250 });
  await expectExit(student, 'the student (4 steps)');

  const samples = await readTopic(topology.topics.samples.name);
  const rejected = await readTopic(topology.topics.rejected.name);
  const keys = [...samples, ...rejected].map((m) => m.key);
  assert.equal(keys.length, IMAGES, 'one outcome per image');
  assert.equal(new Set(keys).size, IMAGES, 'no image twice');
  assert.deepEqual(rejected.map((m) => decodeRejection(m.value).reason).sort(), ['corrupt-image', 'empty-object', 'not-an-image']);
  const dlq = (await readTopic(topology.topics.dlq.name)).map((m) => readDlqRecord(m));
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0].key, 'garbage');
  assert.equal(dlq[0].stage, `teacher-${id}`);
  assert.equal(dlq[0].errorClass, 'MessageDecodeError');
  assert.equal(dlq[0].original.topic, topology.topics.images.name);
  assert.match(dlq[0].original.offset, /^\d+$/);
  // Both partitions carried work, and the samples topic used both of its partitions too.
  const perPartition = (await admin.topicOffsets(topology.topics.images.name)).map((p) => Number(p.high));
  assert.ok(perPartition.every((n) => n > 0), `images per partition ${perPartition}`);

  // The worker's endpoint: ready (connected, one partition), its counters and Kafka lag per partition.
  assert.equal((await fetch(`${metricsUrl}/readyz`)).status, 200);
  assert.equal((await fetch(`${metricsUrl}/healthz`)).status, 200);
  const scraped = parsePrometheus(await (await fetch(`${metricsUrl}/metrics`)).text());
  const stage = { stage: `teacher-${id}` };
  assert.ok((sampleValue(scraped, 'distillery_images_consumed_total', stage) ?? 0) > 0, 'the worker counted its images');
  assert.ok((sampleValue(scraped, 'distillery_teacher_step_seconds_count', { ...stage, step: 'infer' }) ?? 0) > 0);
  const lagged = scraped.filter((s) => s.name === 'distillery_consumer_lag' && s.labels.stage === stage.stage);
  assert.deepEqual(lagged.map((s) => s.labels.partition).sort(), ['0', '1'], 'lag of the whole group, both partitions, from Kafka');

  // A graceful stop: each worker drains, commits and exits 0, reporting what it consumed.
  const stopped = await Promise.all(teachers.map((t) => t.stop()));
  stopped.forEach((s, i) => assert.equal(s.code, 0, `teacher ${i}: ${teachers[i].stderr()}`));
  const consumed = teachers.map((t) => lastCounters(t.stderr(), `teacher-${id}`).consumed ?? 0);
  assert.equal(consumed[0] + consumed[1], IMAGES + 1, `consumed ${consumed}`);
  assert.ok(consumed.every((c) => c > 0), `both workers consumed (${consumed})`);
  const committed = (await admin.groupOffsets(`teacher-${id}`, topology.topics.images.name)).reduce((s, p) => s + Number(p.offset), 0);
  assert.equal(committed, IMAGES + 1, 'the teacher group committed every message');

  // `distillery status` reads the same offsets from Kafka: nothing left for the teacher.
  const status = await snapshotStatus(admin, topology);
  const images = status.find((t) => t.role === 'images');
  assert.deepEqual(images?.consumers, [`teacher-${id}`]);
  assert.equal(images?.partitions.reduce((sum, p) => sum + (p.groups[`teacher-${id}`]?.lag ?? -1), 0), 0);
  assert.match(formatStatus(status), new RegExp(`samples → it\\.${id}\\.samples \\(2 partitions\\)`));

  // The student's checkpoint landed in S3 and loads.
  const before = tf.memory().numTensors;
  const checkpoint = await loadCheckpoint(store, `runs/${id}/student`);
  assert.ok(checkpoint, 'a student checkpoint in S3');
  assert.equal(checkpoint.state.step, 4);
  assert.ok(checkpoint.optimizer.data.byteLength > 0, "the optimizer state is saved with the weights");
  disposeLayersModel(checkpoint.detector.model);
  assert.equal(tf.memory().numTensors, before);
});

test('a teacher worker killed with SIGKILL mid-batch and restarted loses no image', { timeout: 240_000 }, async () => {
  const id = randomBytes(3).toString('hex');
  const { file, topology } = await writeTopology(id, { sessionTimeout: '6s', teacherBatch: 2 });
  for (const name of [`labeled-${id}`, `unlabeled-${id}`]) await expectExit(start(name, file), name);
  assert.equal(await appended(topology.topics.images.name), IMAGES);

  // The first worker reads S3 through a proxy that hangs on one image: it is stuck inside a batch when killed.
  const proxy = await startFaultProxy(bucket.env.endpoint);
  try {
    const hung = 'corpus/unlabeled/images/000007.jpg';
    proxy.setFaults((r) => (r.method === 'GET' && r.url.includes(hung) ? { kind: 'delay', ms: 120_000 } : { kind: 'pass' }));
    const first = start(`teacher-${id}`, file, { S3_ENDPOINT: proxy.endpoint });
    await eventually('the worker fetching the hung image', () => proxy.requests.some((r) => r.method === 'GET' && r.url.includes(hung)), { timeoutMs: 120_000 });
    first.child.kill('SIGKILL');
    const { signal } = await first.exited;
    assert.equal(signal, 'SIGKILL');
  } finally {
    await proxy.close();
  }
  const beforeRestart = await teacherCommitted(id, topology.topics.images.name);
  assert.ok(beforeRestart < IMAGES, `the killed worker had not finished (${beforeRestart} of ${IMAGES} committed)`);

  const second = start(`teacher-${id}`, file);
  await eventually('every image labeled or rejected after the restart', async () => (await teacherCommitted(id, topology.topics.images.name)) === IMAGES, {
    timeoutMs: 120_000,
    intervalMs: 500,
  });
  const stopped = await second.stop();
  assert.equal(stopped.code, 0, second.stderr());
  const offsets = await admin.groupOffsets(`teacher-${id}`, topology.topics.images.name);
  const committed = offsets.reduce((s, p) => s + Number(p.offset), 0);
  const where = JSON.stringify({ committed: offsets, watermarks: await admin.topicOffsets(topology.topics.images.name) });
  assert.equal(committed, IMAGES, `after the restart the group committed every image: ${where}\n${second.stderr().slice(-3000)}`);
  // Exactly-once: the killed worker's open transaction was aborted when the partition's new owner registered, so
  // read_committed readers see one outcome per image.
  const outcomes = [...(await readTopic(topology.topics.samples.name)), ...(await readTopic(topology.topics.rejected.name))];
  const seen = new Map<string, string[]>();
  for (const m of outcomes) seen.set(m.key, [...(seen.get(m.key) ?? []), `${m.topic}[${m.partition}]@${m.offset}`]);
  const twice = [...seen].filter(([, at]) => at.length > 1);
  assert.deepEqual(twice, [], `outcomes read twice (key → where):\n${second.stderr().slice(-4000)}`);
  assert.equal(outcomes.length, IMAGES);
  assert.equal(seen.size, IMAGES);
});

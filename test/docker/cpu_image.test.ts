// The CPU image (deploy/Dockerfile) run with Docker: --help and a teacher stage on Kafka + S3 that drains on SIGTERM.
// Needs Docker and the built image: run with `npm run test:docker` (scripts/docker/test.sh builds what is missing).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { initBackend } from '../../src/backend/backend.ts';
import { generateCorpus } from '../../src/corpus/index.ts';
import { compileTopology } from '../../src/topology/index.ts';
import type { CompiledTopology } from '../../src/topology/types.ts';
import type { KafkaTransport } from '../../src/transport/kafka.ts';
import { readAllMessages } from '../../src/transport/transport.ts';
import { eventually, kafkaBrokers, openTestKafka } from '../helpers/kafka.ts';
import { useTestBucket } from '../helpers/s3.ts';
import { lastCounters } from '../helpers/stage_process.ts';
import { TINY_MODELS_YAML } from '../runner/tiny_topology.ts';
import { saveTinyTeacher } from '../stages/teacher/fixtures.ts';

const exec = promisify(execFile);
const IMAGE = process.env.DISTILLERY_IMAGE ?? 'distillery:0.1.0';
/** The restrictions the Kubernetes manifests use: read-only root, scratch on /tmp only. */
const LOCKED_DOWN = ['--read-only', '--tmpfs', '/tmp:rw,size=256m'];
const UNLABELED = 6;

const bucket = useTestBucket();
let tmp: string;
let admin: KafkaTransport;
const containers: string[] = [];
const topics: string[] = [];

interface Container {
  readonly name: string;
  stderr(): string;
  readonly exited: Promise<number | null>;
}

/** `docker run` of one stage from the image, on the host network (the services listen on loopback). */
function runStage(stage: string, topologyFile: string): Container {
  const name = `distillery-test-${stage}-${randomBytes(3).toString('hex')}`;
  containers.push(name);
  const env = ['KAFKA_BROKERS', 'S3_ENDPOINT', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'].flatMap((v) => ['-e', v]);
  const child = spawn(
    'docker',
    ['run', '--rm', '--name', name, '--network', 'host', ...LOCKED_DOWN, '-v', `${topologyFile}:/config/topology.yaml:ro`, ...env,
      // No metrics server: on the host network it would need the host's port 9464, which anything may hold.
      '-e', 'DISTILLERY_WASM_THREADS=1', '-e', 'DISTILLERY_LOG_LEVEL=warn', '-e', 'DISTILLERY_METRICS_PORT=0',
      IMAGE, 'run', stage, '--topology', '/config/topology.yaml', '--status-every', '1'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { name, stderr: () => stderr, exited };
}

function topologyYaml(id: string): string {
  return `
name: image-${id}
config:
  backend: wasm
  store: { kind: s3, bucket: ${bucket.name}, endpoint: '\${S3_ENDPOINT}', region: '\${AWS_REGION:-us-east-1}' }
  transport: { kind: kafka, brokers: '\${KAFKA_BROKERS}', clientId: image-${id} }
topics:
  images: { name: img.${id}.images, partitions: 2 }
  samples: { name: img.${id}.samples, partitions: 1 }
  rejected: { name: img.${id}.rejected, partitions: 1 }
  dlq: { name: img.${id}.dlq, partitions: 1 }
${TINY_MODELS_YAML}
stages:
  - { name: ingest-${id}, kind: ingest, options: { prefix: corpus/unlabeled/images/, split: unlabeled } }
  - { name: teacher-${id}, kind: teacher, options: { checkpoint: models/teacher, batchSize: 2, maxBatchWaitMs: 50ms } }
`;
}

before(async () => {
  kafkaBrokers(); // fails with instructions when the services are not configured
  await exec('docker', ['image', 'inspect', IMAGE]).catch(() => {
    throw new Error(`${IMAGE} is not built: bash scripts/docker/build-images.sh distillery (or npm run test:docker)`);
  });
  await initBackend('wasm');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'distillery-image-'));
  admin = openTestKafka();
  const store = bucket.store();
  await generateCorpus(store, { prefix: 'corpus', images: { labeled: 1, test: 1, unlabeled: UNLABELED }, imageSize: { min: 64, max: 80 }, letterboxSize: 64, objectSize: { min: 12, max: 30 }, workers: 0 });
  const probe = compileTopology(topologyYaml('probe'), 'probe.yaml', { env: process.env });
  await saveTinyTeacher(store, 'models/teacher', { class0Bias: 4, config: probe.teacher });
});

after(async () => {
  if (containers.length > 0) await exec('docker', ['rm', '-f', ...containers]).catch(() => undefined);
  if (admin) {
    await admin.deleteTopics(topics).catch(() => undefined);
    await admin.close();
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('the image runs as uid 10001 with node as its entrypoint, and --help works on a read-only root', async () => {
  const { stdout: config } = await exec('docker', ['image', 'inspect', '-f', '{{json .Config.User}} {{json .Config.Entrypoint}}', IMAGE]);
  assert.equal(config.trim(), '"10001:10001" ["node","/app/bin/distillery.js"]');
  const { stdout: ids } = await exec('docker', ['run', '--rm', ...LOCKED_DOWN, '--entrypoint', 'node', IMAGE, '-p', 'process.getuid() + ":" + process.getgid()']);
  assert.equal(ids.trim(), '10001:10001');
  const { stdout: help } = await exec('docker', ['run', '--rm', ...LOCKED_DOWN, IMAGE, '--help']);
  assert.match(help, /^Usage: distillery \[options\] \[command\]/);
  assert.match(help, /run \[options\] <what>/);
});

test('ingest and a teacher from the image label every image; SIGTERM drains, commits and exits 0', { timeout: 300_000 }, async () => {
  const id = randomBytes(3).toString('hex');
  const file = path.join(tmp, `${id}.yaml`);
  await writeFile(file, topologyYaml(id));
  const topology: CompiledTopology = compileTopology(topologyYaml(id), file, { env: process.env });
  topics.push(...Object.values(topology.topics).map((t) => t.name));

  const ingest = runStage(`ingest-${id}`, file);
  assert.equal(await ingest.exited, 0, ingest.stderr());
  assert.equal(lastCounters(ingest.stderr(), `ingest-${id}`).published, UNLABELED);

  const teacher = runStage(`teacher-${id}`, file);
  // Committed input offsets, not output offsets: the teacher writes in Kafka transactions, whose commit markers
  // take offsets in the output topics too.
  const committed = async (): Promise<number> =>
    (await admin.groupOffsets(`teacher-${id}`, topology.topics.images.name)).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  await eventually('every image labeled or rejected by the containerised teacher', async () => (await committed()) >= UNLABELED, {
    timeoutMs: 180_000,
    intervalMs: 500,
  });
  // SIGTERM to PID 1 of the container, i.e. node itself (no npm/npx wrapper that would swallow it).
  await exec('docker', ['kill', '--signal', 'TERM', teacher.name]);
  assert.equal(await teacher.exited, 0, `the teacher container exited non-zero:\n${teacher.stderr()}`);
  assert.equal(lastCounters(teacher.stderr(), `teacher-${id}`).consumed, UNLABELED, teacher.stderr());
  assert.equal(await committed(), UNLABELED, 'the teacher group committed every image before exiting');
  // What a read_committed consumer downstream sees: one sample or rejection per image, none twice.
  const outcomes = [
    ...(await readAllMessages(admin, topology.topics.samples.name, { idleMs: 1500 })),
    ...(await readAllMessages(admin, topology.topics.rejected.name, { idleMs: 1500 })),
  ];
  assert.equal(outcomes.length, UNLABELED, 'one outcome per image');
  assert.equal(new Set(outcomes.map((m) => m.key)).size, UNLABELED, 'no image has two outcomes');
});

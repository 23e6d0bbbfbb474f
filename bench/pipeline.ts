// Benchmark: bare teacher inference vs the teacher stage through S3 + Kafka (1 worker, 1 with an inference thread, 2 workers; npm run bench:pipeline).
//
// One corpus, one backend, one run. Bare = decoded images already in memory, batched forward + NMS, no I/O. Stage =
// `distillery run teacher` processes fed by an ingest process: fetch from S3, decode + letterbox, inference, NMS,
// soft labels, JPEG re-encode, Sample/Rejection sends acked by Kafka, offset commits. The stage's time runs from
// the ingest start until the teacher group has committed every image (workers are already in the group). CPU per
// image of the teacher processes and of the Kafka and S3 servers (/proc) shows where the time beyond inference goes.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/backend.ts';
import { generateCorpus } from '../src/corpus/index.ts';
import { decodeLetterboxed } from '../src/image/letterbox.ts';
import { listAll } from '../src/io/object_store.ts';
import { S3Store } from '../src/io/s3_store.ts';
import { loadTeacher } from '../src/stages/teacher/teacher_model.ts';
import { inferTeacher } from '../src/stages/teacher/infer.ts';
import { compileTopology, loadTopology } from '../src/topology/index.ts';
import { KafkaTransport } from '../src/transport/kafka.ts';
import { createLogger } from '../src/util/logger.ts';
import { spawnStage, type StageChild } from '../test/helpers/stage_process.ts';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '480' },
    batch: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
  },
});
const IMAGES = Number(values.images);
const BATCH = Number(values.batch);
const REPO = fileURLToPath(new URL('..', import.meta.url));

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through \`npm run bench:pipeline\` (starts the services) or export the services' env`);
  return v;
}

const endpoint = requireEnv('S3_ENDPOINT');
requireEnv('KAFKA_BROKERS');
const embedded = await loadTopology(path.join(REPO, 'topologies/embedded.yaml'), { env: {} });
const backend = await initBackend(embedded.backend);
const id = randomBytes(3).toString('hex');
const bucket = `distillery-bench-${id}`;
const store = new S3Store({ bucket, region: process.env.AWS_REGION ?? 'us-east-1', endpoint, forcePathStyle: true });
const kafka = new KafkaTransport({ brokers: requireEnv('KAFKA_BROKERS').split(','), clientId: 'bench', logger: createLogger({ level: 'error' }) });
const tmp = await mkdtemp(path.join(os.tmpdir(), 'distillery-bench-'));
const children: StageChild[] = [];
const topics: string[] = [];
const log = (s: string): boolean => process.stderr.write(`bench: ${s}\n`);

/** User + system CPU seconds of a live process so far (Linux /proc), or undefined when it cannot be read. */
async function processCpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** Linux's USER_HZ: /proc times are in these ticks per second. */
const CLOCK_TICKS = 100;

/**
 * Pids of the local Kafka and S3 servers started by scripts/services (their pid files), to count their CPU too; only
 * when this run talks to them (their ports), not to containers the bench's wrapper started instead.
 */
async function servicePids(): Promise<{ kafka?: number; s3?: number }> {
  const ours = process.env.KAFKA_BROKERS === `127.0.0.1:${process.env.KAFKA_PORT ?? 9092}` && endpoint.endsWith(`:${process.env.S3_PORT ?? 7070}`);
  if (!ours) return {};
  const dir = process.env.DISTILLERY_SERVICES_STATE_DIR ?? path.join(os.homedir(), '.cache/distillery/services/state');
  const pid = async (name: string): Promise<number | undefined> => {
    const text = await readFile(path.join(dir, `${name}.pid`), 'utf8').catch(() => '');
    return /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined;
  };
  return { kafka: await pid('kafka'), s3: await pid('s3') };
}

/** The embedded topology's models and thresholds on Kafka + this bucket, topics and stage names unique to `tag`. */
function topologyYaml(tag: string, inferenceThread = false): string {
  return `
name: bench-${tag}
config:
  store: { kind: s3, bucket: ${bucket}, endpoint: '${endpoint}', region: '\${AWS_REGION:-us-east-1}' }
  transport: { kind: kafka, brokers: '\${KAFKA_BROKERS}', clientId: bench-${tag} }
topics:
  images: { name: bench.${tag}.images, partitions: 2 }
  samples: { name: bench.${tag}.samples, partitions: 2 }
  rejected: { name: bench.${tag}.rejected, partitions: 1 }
  dlq: { name: bench.${tag}.dlq, partitions: 1 }
model:
  numClasses: ${embedded.teacher.numClasses}
  inputSize: ${embedded.teacher.inputSize}
  anchors: ${JSON.stringify(embedded.anchors)}
  teacher: { preset: teacher }
  student: { preset: student }
stages:
  - { name: ingest-${tag}, kind: ingest, options: { prefix: corpus/unlabeled/images/, split: unlabeled } }
  - { name: teacher-${tag}, kind: teacher, options: { checkpoint: models/teacher, batchSize: ${BATCH}, inferenceThread: ${inferenceThread} } }
`;
}

async function committed(group: string, topic: string): Promise<number> {
  return (await kafka.groupOffsets(group, topic)).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

async function until(what: string, predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Teacher workers join, the ingest process publishes every ImageRef; seconds until the group committed them all. */
interface StageRun {
  seconds: number;
  perWorker: number[];
  /** CPU seconds per image over the stage's run: the teacher processes, and the Kafka and S3 servers when found. */
  cpuMsPerImage: { teachers?: number; kafka?: number; s3?: number };
}

async function stageRun(workers: number, threads: number, inferenceThread = false): Promise<StageRun> {
  const tag = `${id}-${workers}w${inferenceThread ? '-thread' : ''}`;
  const file = path.join(tmp, `${tag}.yaml`);
  await writeFile(file, topologyYaml(tag, inferenceThread));
  const topology = compileTopology(topologyYaml(tag, inferenceThread), file, { env: process.env });
  topics.push(...Object.values(topology.topics).map((t) => t.name));
  const group = `teacher-${tag}`;
  const env = { DISTILLERY_WASM_THREADS: String(threads), DISTILLERY_LOG_LEVEL: 'warn' };
  const teachers = Array.from({ length: workers }, () => spawnStage(group, file, env));
  children.push(...teachers);
  await until(
    `${workers} teacher worker(s) in the group`,
    async () => {
      const g = await kafka.describeGroup(group);
      return g.state === 'Stable' && g.members.length === workers && g.members.every((m) => m.partitions.length > 0);
    },
    120_000,
  );
  log(`${workers} worker(s) joined; ingesting ${IMAGES} images`);
  const services = await servicePids();
  const cpuNow = async (): Promise<{ teachers?: number; kafka?: number; s3?: number }> => {
    const perTeacher = await Promise.all(teachers.map((t) => processCpuSeconds(t.child.pid)));
    return {
      teachers: perTeacher.every((c) => c !== undefined) ? perTeacher.reduce((a, c) => a + (c as number), 0) : undefined,
      kafka: await processCpuSeconds(services.kafka),
      s3: await processCpuSeconds(services.s3),
    };
  };
  const cpu0 = await cpuNow();
  const t0 = performance.now();
  const ingest = spawnStage(`ingest-${tag}`, file, env);
  children.push(ingest);
  await until('every image committed by the teacher group', async () => (await committed(group, topology.topics.images.name)) >= IMAGES, 600_000);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = await cpuNow();
  const perImage = (k: 'teachers' | 'kafka' | 's3'): number | undefined => {
    const a = cpu0[k];
    const b = cpu1[k];
    return a === undefined || b === undefined ? undefined : ((b - a) * 1000) / IMAGES;
  };
  const ingestExit = await ingest.exited;
  if (ingestExit.code !== 0) throw new Error(`ingest failed: ${ingest.stderr()}`);
  await Promise.all(teachers.map((t) => t.stop()));
  const perWorker = teachers.map((t) => {
    const m = /consumed (\d+)/.exec(t.stderr().split('\n').filter((l) => l.includes('stopped after')).at(-1) ?? '');
    return m ? Number(m[1]) : 0;
  });
  return { seconds, perWorker, cpuMsPerImage: { teachers: perImage('teachers'), kafka: perImage('kafka'), s3: perImage('s3') } };
}

try {
  await store.ensureBucket();
  log(`generating ${IMAGES} unlabeled images into s3 bucket ${bucket}`);
  await generateCorpus(store, { prefix: 'corpus', images: { labeled: 8, test: 8, unlabeled: IMAGES }, workers: 0 });
  const teacherDir = path.join(REPO, 'models/teacher');
  for (const f of await readdir(teacherDir)) await store.put(`models/teacher/${f}`, new Uint8Array(await readFile(path.join(teacherDir, f))));

  // Bare: the same images, decoded once, through the teacher with no I/O.
  const teacher = await loadTeacher(store, 'models/teacher', { anchors: embedded.anchors, teacher: embedded.teacher });
  const pixels: Uint8Array[] = [];
  for await (const o of listAll(store, 'corpus/unlabeled/images/')) pixels.push((await decodeLetterboxed(await store.get(o.key), teacher.inputSize)).pixels);
  await inferTeacher(teacher, pixels.slice(0, BATCH), embedded.thresholds); // warm-up
  const before = tf.memory().numTensors;
  const b0 = performance.now();
  const bareCpu0 = process.cpuUsage();
  for (let i = 0; i < pixels.length; i += BATCH) await inferTeacher(teacher, pixels.slice(i, i + BATCH), embedded.thresholds);
  const bareSeconds = (performance.now() - b0) / 1000;
  const bareCpu = process.cpuUsage(bareCpu0);
  const bareCpuMs = (bareCpu.user + bareCpu.system) / 1000 / pixels.length;
  if (tf.memory().numTensors !== before) throw new Error('bare inference leaked tensors');
  teacher.dispose();
  const bare = pixels.length / bareSeconds;
  log(`bare: ${bare.toFixed(1)} images/s`);

  const one = await stageRun(1, backend.threads);
  log(`1 worker: ${(IMAGES / one.seconds).toFixed(1)} images/s`);
  const oneThread = await stageRun(1, backend.threads, true);
  log(`1 worker, inference thread: ${(IMAGES / oneThread.seconds).toFixed(1)} images/s`);
  const two = await stageRun(2, 1);
  log(`2 workers: ${(IMAGES / two.seconds).toFixed(1)} images/s`);

  const engine = backend.name === 'wasm' ? `wasm ${backend.threads} threads` : backend.name;
  const rows = [
    { setup: `bare teacher inference (in process, no I/O, ${engine})`, imagesPerSecond: bare, workers: '—', cpu: { teachers: bareCpuMs } as StageRun['cpuMsPerImage'] },
    { setup: `teacher stage via S3 + Kafka, 1 worker (${engine})`, imagesPerSecond: IMAGES / one.seconds, workers: one.perWorker.join(' / '), cpu: one.cpuMsPerImage },
    { setup: `teacher stage via S3 + Kafka, 1 worker, inference thread (${engine})`, imagesPerSecond: IMAGES / oneThread.seconds, workers: oneThread.perWorker.join(' / '), cpu: oneThread.cpuMsPerImage },
    { setup: `teacher stage via S3 + Kafka, 2 workers (${backend.name === 'wasm' ? 'wasm 1 thread each' : engine})`, imagesPerSecond: IMAGES / two.seconds, workers: two.perWorker.join(' / '), cpu: two.cpuMsPerImage },
  ];
  if (values.json) process.stdout.write(`${JSON.stringify({ images: IMAGES, batch: BATCH, rows }, null, 2)}\n`);
  else {
    const ms = (v: number | undefined): string => (v === undefined ? 'n/a' : v.toFixed(1));
    const lines = [
      '| setup | images/s | × bare | images per worker | teacher CPU ms/image | Kafka CPU ms/image | S3 CPU ms/image |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
    for (const r of rows) {
      lines.push(`| ${r.setup} | ${r.imagesPerSecond.toFixed(1)} | ${(r.imagesPerSecond / bare).toFixed(2)} | ${r.workers} | ${ms(r.cpu.teachers)} | ${ms(r.cpu.kafka)} | ${ms(r.cpu.s3)} |`);
    }
    lines.push(
      '',
      `${IMAGES} images, teacher batch ${BATCH}, ${embedded.teacher.inputSize} px, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), node ${process.version}; Kafka, the S3 server and the workers share these cores.`,
      `Kafka and S3 CPU is the servers' whole CPU over the stage's run (other clients of shared servers included); load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} at the end.`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
  }
} finally {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  await kafka.deleteTopics(topics).catch(() => undefined);
  await kafka.close();
  for await (const o of listAll(store, '')) await store.delete(o.key);
  await store.client.send(new (await import('@aws-sdk/client-s3')).DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
  store.close();
  await rm(tmp, { recursive: true, force: true });
}

// Fault verifier (`npm run chaos`): the distributed pipeline on its own Kafka + S3, with workers, broker and store killed.
//
// Starts a private Kafka broker and S3 server (scripts/services on free loopback ports, state in its own folder —
// never the shared ones), generates a small corpus, runs ingest, two teacher workers and the student as separate
// processes, and while they work: SIGKILLs a teacher worker, SIGKILLs the student, restarts the broker and takes the
// S3 server away for ~10 s. A supervisor restarts whatever died. At the end it reads every output topic the way
// read_committed consumers do and prints images in, samples, rejected, dlq, duplicates and lost, and the student's
// trained-sample count against its checkpoint offsets. Exit 0 only when nothing was lost or duplicated.
//
//   npm run chaos                 2,000 images; 3 teacher kills, 2 student kills, 1 broker restart, 1 S3 outage
//   npm run chaos -- --short      a short run (one fault of each kind), what `npm test` runs
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.ts';
import { generateCorpus } from '../src/corpus/index.ts';
import { readDlqRecord } from '../src/messages/dlq.ts';
import { decodeImageRef } from '../src/messages/image_ref.ts';
import { S3Store } from '../src/io/s3_store.ts';
import { compileTopology } from '../src/topology/index.ts';
import { KafkaTransport } from '../src/transport/kafka.ts';
import { readAllMessages, type ReceivedMessage } from '../src/transport/transport.ts';
import { createLogger } from '../src/util/logger.ts';
import { lastCounters, spawnStage, type StageChild } from '../test/helpers/stage_process.ts';
import { TINY_MODELS_YAML } from '../test/runner/tiny_topology.ts';
import { saveTinyTeacher } from '../test/stages/teacher/fixtures.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SERVICES = path.join(REPO, 'scripts/services/services.sh');

interface Plan {
  labeled: number;
  unlabeled: number;
  teacherKills: number;
  studentKills: number;
  brokerRestarts: number;
  s3Outages: number;
  outageMs: number;
  /** The whole run (services included) fails past this. */
  deadlineMs: number;
}

const FULL: Plan = { labeled: 200, unlabeled: 1800, teacherKills: 3, studentKills: 2, brokerRestarts: 1, s3Outages: 1, outageMs: 10_000, deadlineMs: 40 * 60_000 };
const SHORT: Plan = { labeled: 12, unlabeled: 36, teacherKills: 1, studentKills: 1, brokerRestarts: 1, s3Outages: 1, outageMs: 3000, deadlineMs: 12 * 60_000 };

const { values: args } = parseArgs({ options: { short: { type: 'boolean', default: false }, keep: { type: 'boolean', default: false } } });
const plan = args.short ? SHORT : FULL;
const started = Date.now();
const runId = randomBytes(3).toString('hex');
const stateDir = path.join(os.homedir(), '.cache/distillery/chaos', runId);

function say(line: string): void {
  process.stdout.write(`[chaos ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
}

function checkDeadline(what: string): void {
  if (Date.now() - started > plan.deadlineMs) throw new Error(`chaos run exceeded its deadline of ${plan.deadlineMs / 60_000} min waiting for ${what}`);
}

/** A free loopback port (bound and released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// ---- private services ---------------------------------------------------------------------------------------------

let servicesEnv: Record<string, string> = {};

function services(command: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SERVICES, ...command], { env: { ...process.env, ...servicesEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`services.sh ${command.join(' ')} exited ${code}:\n${err.slice(-2000)}`))));
  });
}

async function startServices(): Promise<Record<string, string>> {
  const [kafka, controller, s3] = [await freePort(), await freePort(), await freePort()];
  servicesEnv = { KAFKA_PORT: String(kafka), KAFKA_CONTROLLER_PORT: String(controller), S3_PORT: String(s3), DISTILLERY_SERVICES_STATE_DIR: stateDir };
  // The clients must not pick up the shared services' settings from the caller's environment.
  for (const name of ['KAFKA_BROKERS', 'S3_ENDPOINT', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) delete process.env[name];
  say(`starting a private Kafka (127.0.0.1:${kafka}) and S3 server (127.0.0.1:${s3}) in ${stateDir}`);
  await services(['start']);
  const env: Record<string, string> = {};
  for (const line of (await services(['env'])).split('\n')) {
    const m = /^export ([A-Z_0-9]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  Object.assign(process.env, env);
  return env;
}

async function servicePid(name: 'kafka' | 's3'): Promise<number> {
  return Number((await readFile(path.join(stateDir, `${name}.pid`), 'utf8')).trim());
}

/** Stops one of our services (by the pid our services.sh start wrote) and waits for it to be gone. */
async function stopService(name: 'kafka' | 's3'): Promise<void> {
  const pid = await servicePid(name);
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 300; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(100);
  }
  process.kill(pid, 'SIGKILL');
}

// ---- the pipeline ---------------------------------------------------------------------------------------------------

const bucket = `chaos-${runId}`;
const topics = { images: `chaos.${runId}.images`, samples: `chaos.${runId}.samples`, rejected: `chaos.${runId}.rejected`, dlq: `chaos.${runId}.dlq` };
const teacherGroup = `teacher-${runId}`;
const studentGroup = `student-${runId}`;
const studentPrefix = `runs/${runId}/student`;

function topologyYaml(): string {
  return `
name: chaos-${runId}
config:
  backend: wasm
  store: { kind: s3, bucket: ${bucket}, endpoint: '\${S3_ENDPOINT}', region: '\${AWS_REGION:-us-east-1}' }
  transport: { kind: kafka, brokers: '\${KAFKA_BROKERS}', clientId: chaos-${runId}, sessionTimeoutMs: 6s, heartbeatIntervalMs: 500ms }
topics:
  images: { name: ${topics.images}, partitions: 4 }
  samples: { name: ${topics.samples}, partitions: 2 }
  rejected: { name: ${topics.rejected}, partitions: 1 }
  dlq: { name: ${topics.dlq}, partitions: 1 }
${TINY_MODELS_YAML}
stages:
  - { name: labeled-${runId}, kind: ingest, options: { prefix: corpus/labeled/images/, split: labeled, annotations: corpus/labeled/annotations.json, pageSize: 50 } }
  - { name: unlabeled-${runId}, kind: ingest, options: { prefix: corpus/unlabeled/images/, split: unlabeled, pageSize: 50 } }
  - { name: ${teacherGroup}, kind: teacher, options: { checkpoint: models/teacher, batchSize: 8, fetchConcurrency: 4, maxBatchWaitMs: 50ms } }
  - name: ${studentGroup}
    kind: student
    options: { steps: 0, batchSize: 8, warmupSteps: 0, checkpointEvery: 10, checkpointPrefix: ${studentPrefix}, evalEvery: 0, bufferSize: 64 }
`;
}

/** Every supervised stage, so that a failing run still kills its children. */
const supervised: Supervised[] = [];

/** A stage kept running: restarted (after a pause) whenever it exits, until `finish()`. */
class Supervised {
  child: StageChild;
  restarts = 0;
  kills = 0;
  /** Last status counters of every incarnation, in order. */
  readonly runs: Array<Record<string, number>> = [];
  /** stderr of every finished incarnation, in order (written out when the run fails). */
  readonly logs: string[] = [];
  private finishing = false;
  private readonly loop: Promise<void>;

  constructor(
    readonly stage: string,
    private readonly file: string,
  ) {
    this.child = spawnStage(stage, file);
    this.loop = this.watch();
    supervised.push(this);
  }

  private async watch(): Promise<void> {
    for (;;) {
      const { code, signal } = await this.child.exited;
      this.runs.push(lastCounters(this.child.stderr(), this.stage));
      this.logs.push(this.child.stderr());
      if (this.finishing) return;
      if (signal !== 'SIGKILL') say(`${this.stage} exited (${signal ?? code}); restarting: ${this.child.stderr().trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`);
      await sleep(1000);
      if (this.finishing) return;
      this.restarts += 1;
      this.child = spawnStage(this.stage, this.file);
    }
  }

  kill(): void {
    this.kills += 1;
    this.child.child.kill('SIGKILL');
  }

  /** Ends the stage at once (a failed run). */
  abort(): void {
    this.finishing = true;
    if (this.child.child.exitCode === null && this.child.child.signalCode === null) this.child.child.kill('SIGKILL');
  }

  async finish(): Promise<number | null> {
    // A stage caught between a crash (a fault's after-effect) and its restart has no process to stop gracefully:
    // the exit code would be the crash's, and the restart would outlive the run. Let the restart happen first.
    // A just-restarted one is stopped once it runs (its first status line): a SIGTERM before the stage has set its
    // handler would end it by the signal, not by a drain.
    const running = (): boolean =>
      this.child.child.exitCode === null && this.child.child.signalCode === null && this.child.stderr().includes(`${this.stage}: `);
    for (let waited = 0; !running() && waited < 120_000; waited += 200) await sleep(200);
    this.finishing = true;
    const { code } = await this.child.stop(120_000);
    await this.loop;
    return code;
  }
}

async function committed(admin: KafkaTransport, group: string, topic: string): Promise<number[]> {
  return (await admin.groupOffsets(group, topic)).map((p) => Math.max(0, Number(p.offset)));
}

const sum = (xs: number[]): number => xs.reduce((s, x) => s + x, 0);

/** Polls until `predicate` holds (errors while services are down count as "not yet"). */
async function until(what: string, predicate: () => Promise<boolean>): Promise<void> {
  for (;;) {
    checkDeadline(what);
    if (await predicate().catch(() => false)) return;
    await sleep(500);
  }
}

async function main(): Promise<number> {
  const env = await startServices();
  const tmp = path.join(stateDir, 'work');
  await mkdir(tmp, { recursive: true });
  const file = path.join(tmp, 'topology.yaml');
  await writeFile(file, topologyYaml());
  const topology = compileTopology(topologyYaml(), file, { env: process.env });
  const store = new S3Store({ bucket, endpoint: env.S3_ENDPOINT, region: env.AWS_REGION ?? 'us-east-1', forcePathStyle: true });
  await store.ensureBucket();
  await initBackend('wasm');
  const images = plan.labeled + plan.unlabeled;
  say(`generating ${images} images (${plan.labeled} labeled, ${plan.unlabeled} unlabeled), then 3 broken objects and 1 malformed message`);
  await generateCorpus(store, { prefix: 'corpus', images: { labeled: plan.labeled, test: 1, unlabeled: plan.unlabeled }, imageSize: { min: 64, max: 96 }, letterboxSize: 64, objectSize: { min: 12, max: 40 }, workers: 0 });
  // Broken objects among them: the teacher must reject each exactly once too.
  const good = await store.get('corpus/unlabeled/images/000001.jpg');
  await store.put('corpus/unlabeled/images/zz-truncated.jpg', good.subarray(0, Math.floor(good.length / 2)));
  await store.put('corpus/unlabeled/images/zz-empty.jpg', new Uint8Array(0));
  await store.put('corpus/unlabeled/images/zz-text.jpg', 'not an image at all');
  // Class 0 fires everywhere, so every decodable unlabeled image becomes a sample.
  await saveTinyTeacher(store, 'models/teacher', { class0Bias: 4, config: topology.teacher });
  const admin = new KafkaTransport({ brokers: [env.KAFKA_BROKERS], clientId: `chaos-${runId}-admin`, logger: createLogger({ level: 'error' }), retry: { initialRetryTime: 200, retries: 3, maxRetryTime: 2000 } });
  await admin.createTopics(Object.values(topology.topics).map((t) => ({ topic: t.name, partitions: t.partitions })));

  say('ingesting');
  for (const stage of [`labeled-${runId}`, `unlabeled-${runId}`]) {
    const child = spawnStage(stage, file);
    const { code } = await child.exited;
    if (code !== 0) throw new Error(`${stage} failed:\n${child.stderr().slice(-2000)}`);
  }
  // And a message that is not an ImageRef at all: the teacher dead-letters it.
  const producer = admin.producer();
  await producer.connect();
  await producer.send(topics.images, [{ key: 'not-an-image-ref', value: new TextEncoder().encode('garbage') }]);
  await producer.disconnect();
  const published = await readAllMessages(admin, topics.images, { idleMs: 3000 });
  say(`${published.length} image refs on ${topics.images}`);

  const teachers = [new Supervised(teacherGroup, file), new Supervised(teacherGroup, file)];
  const student = new Supervised(studentGroup, file);
  const progress = async (): Promise<number> => sum(await committed(admin, teacherGroup, topics.images)) / published.length;

  // Faults at points of the teacher's progress, one at a time; the student is killed only once it checkpointed.
  const faults: Array<{ at: number; what: string; run: () => Promise<void> }> = [];
  const spread = (n: number, from: number, to: number): number[] => Array.from({ length: n }, (_, i) => from + ((to - from) * (i + 1)) / (n + 1));
  for (const [i, at] of spread(plan.teacherKills, 0.05, 0.6).entries()) {
    faults.push({ at, what: `SIGKILL teacher worker ${i % 2}`, run: async () => teachers[i % 2].kill() });
  }
  for (const at of spread(plan.studentKills, 0.2, 0.8)) {
    faults.push({
      at,
      what: 'SIGKILL the student',
      run: async () => {
        await until('the student checkpointed', async () => (lastCounters(student.child.stderr(), studentGroup).checkpoints ?? 0) >= 1);
        student.kill();
      },
    });
  }
  for (const at of spread(plan.brokerRestarts, 0.3, 0.5)) {
    faults.push({
      at,
      what: 'restart the Kafka broker',
      run: async () => {
        await stopService('kafka');
        await sleep(2000);
        await services(['start']);
      },
    });
  }
  for (const at of spread(plan.s3Outages, 0.55, 0.75)) {
    faults.push({
      at,
      what: `S3 server away for ${plan.outageMs / 1000} s`,
      run: async () => {
        await stopService('s3');
        await sleep(plan.outageMs);
        await services(['start']);
      },
    });
  }
  faults.sort((a, b) => a.at - b.at);
  for (const fault of faults) {
    await until(`progress ${fault.at}`, async () => (await progress()) >= fault.at);
    say(`${fault.what} (teacher progress ${((await progress().catch(() => NaN)) * 100).toFixed(0)} %)`);
    await fault.run();
  }
  await until('every image committed by the teacher group', async () => (await progress()) >= 1);
  say('the teacher group committed every image');

  // The student is done when its checkpoint offsets pass the last sample of every partition.
  const samples = await readAllMessages(admin, topics.samples, { idleMs: 3000 });
  const lastOffset = new Map<number, number>();
  for (const m of samples) lastOffset.set(m.partition, Math.max(lastOffset.get(m.partition) ?? -1, Number(m.offset)));
  await until('the student checkpointed past every sample', async () => {
    const c = await committed(admin, studentGroup, topics.samples);
    return [...lastOffset].every(([p, last]) => (c[p] ?? 0) > last);
  });
  say('the student checkpointed past every sample; stopping the stages');
  const studentExit = await student.finish();
  const teacherExits = await Promise.all(teachers.map((t) => t.finish()));

  const rejected = await readAllMessages(admin, topics.rejected, { idleMs: 3000 });
  const dlq = await readAllMessages(admin, topics.dlq, { idleMs: 3000 });
  const outcomes = new Map<string, number>();
  // Where each outcome sits (topic[partition]@offset), so a duplicate names its two transactions.
  const where = new Map<string, string[]>();
  const note = (ms: ReceivedMessage[], key: (m: ReceivedMessage) => string): void => {
    for (const m of ms) {
      outcomes.set(key(m), (outcomes.get(key(m)) ?? 0) + 1);
      where.set(key(m), [...(where.get(key(m)) ?? []), `${m.topic.slice(m.topic.lastIndexOf('.') + 1)}[${m.partition}]@${m.offset}`]);
    }
  };
  note(samples, (m) => m.key);
  note(rejected, (m) => m.key);
  // Outcomes are keyed by image id; a DLQ record keeps the images message's own key.
  const imageId = (m: ReceivedMessage): string => {
    try {
      return decodeImageRef(m.value).imageId;
    } catch {
      return m.key; // the malformed message: its DLQ record keeps its key
    }
  };
  const idOfKey = new Map(published.map((m) => [m.key, imageId(m)]));
  note(
    dlq.filter((m) => readDlqRecord(m).original.topic === topics.images),
    (m) => idOfKey.get(readDlqRecord(m).key) ?? readDlqRecord(m).key,
  );
  const imageKeys = new Set(idOfKey.values());
  const duplicates = sum([...outcomes.values()].map((n) => n - 1));
  const publishedAt = new Map(published.map((m) => [imageId(m), `images[${m.partition}]@${m.offset}`]));
  const duplicated = [...outcomes].filter(([, n]) => n > 1).map(([id]) => `${id} (from ${publishedAt.get(id) ?? '?'}): ${(where.get(id) ?? []).join(', ')}`);
  // The images topic itself: ingest publishes each image once (it runs before any fault).
  const refDuplicates = published.length - imageKeys.size;
  const lost = [...imageKeys].filter((k) => !outcomes.has(k)).length;
  const strays = [...outcomes.keys()].filter((k) => !imageKeys.has(k)).length;

  const latest = JSON.parse(new TextDecoder().decode(await store.get(`${studentPrefix}/latest.json`))) as { dir: string; step: number };
  const state = JSON.parse(new TextDecoder().decode(await store.get(`${studentPrefix}/${latest.dir}/state.json`))) as { offsets: Record<string, string>; extra?: { samplesTrained?: number } };
  const covered = sum([...lastOffset].map(([p]) => samples.filter((m) => m.partition === p && Number(m.offset) < Number(state.offsets[`${topics.samples}:${p}`] ?? 0)).length));
  const samplesTrained = state.extra?.samplesTrained ?? -1;
  const firstUses = sum(student.runs.map((r) => r.trained ?? 0));
  const studentDlq = dlq.length - dlq.filter((m) => readDlqRecord(m).original.topic === topics.images).length;

  const result = {
    images: imageKeys.size,
    imageRefs: published.length,
    samples: samples.length,
    rejected: rejected.length,
    dlq: dlq.length,
    duplicates,
    lost,
    strays,
    faults: {
      teacherKills: sum(teachers.map((t) => t.kills)),
      studentKills: student.kills,
      brokerRestarts: plan.brokerRestarts,
      s3Outages: plan.s3Outages,
      restarts: sum(teachers.map((t) => t.restarts)) + student.restarts,
    },
    student: { step: latest.step, offsetsCover: covered, samplesTrained, studentDlq, firstUsesOverRuns: firstUses },
    exits: { student: studentExit, teachers: teacherExits },
    seconds: Math.round((Date.now() - started) / 1000),
  };
  const ok =
    duplicates === 0 &&
    lost === 0 &&
    strays === 0 &&
    refDuplicates === 0 &&
    covered === samples.length &&
    samplesTrained === samples.length - studentDlq &&
    studentExit === 0 &&
    teacherExits.every((c) => c === 0);
  process.stdout.write(
    [
      '',
      `images in     ${result.images} messages on the images topic (${images} generated images, 3 broken objects, 1 malformed message)`,
      `samples       ${result.samples}`,
      `rejected      ${result.rejected}`,
      `dlq           ${result.dlq}`,
      `duplicates    ${result.duplicates}${duplicated.map((d) => `\n  ${d}`).join('')}`,
      `lost          ${result.lost}`,
      `faults        teacher SIGKILL ×${result.faults.teacherKills}, student SIGKILL ×${result.faults.studentKills}, broker restart ×${result.faults.brokerRestarts}, S3 outage ×${result.faults.s3Outages} (${plan.outageMs / 1000} s); ${result.faults.restarts} process restarts`,
      `student       checkpoint step ${latest.step}: offsets cover ${covered} of ${samples.length} samples; samplesTrained ${samplesTrained} (+ ${studentDlq} dead-lettered); first uses over all runs ≈ ${firstUses} (status lines; the excess is the replay after kills)`,
      `verdict       ${ok ? 'OK' : 'FAILED'} in ${result.seconds} s`,
      `CHAOS_RESULT ${JSON.stringify({ ...result, ok })}`,
      '',
    ].join('\n'),
  );
  if (!ok) await keepLogs();
  await admin.close();
  await store.close?.();
  return ok ? 0 : 1;
}

/** A failed run's stage logs, one file per process incarnation (the running one too), kept outside the state folder that is removed. */
async function keepLogs(): Promise<void> {
  const dir = path.join(os.homedir(), '.cache/distillery/chaos', `failed-${runId}`);
  await mkdir(dir, { recursive: true });
  for (const [k, s] of supervised.entries()) {
    const running = s.child.child.exitCode === null && s.child.child.signalCode === null;
    const logs = running ? [...s.logs, s.child.stderr()] : s.logs;
    for (const [i, log] of logs.entries()) await writeFile(path.join(dir, `${k}-${s.stage}-${i}.log`), log);
  }
  say(`stage logs of the failed run: ${dir} (DISTILLERY_LOG_LEVEL=debug for the transport's decisions)`);
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  process.stderr.write(`chaos: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await keepLogs().catch((e: unknown) => say(`keeping the logs failed: ${String(e)}`));
} finally {
  for (const s of supervised) s.abort();
  if (Object.keys(servicesEnv).length > 0) {
    say(args.keep ? `keeping the services and ${stateDir}` : 'stopping the private services');
    if (!args.keep) {
      await services(['stop', '--purge']).catch((e: unknown) => say(`stopping failed: ${String(e)}`));
      await rm(stateDir, { recursive: true, force: true });
    }
  }
}
process.exit(exitCode);

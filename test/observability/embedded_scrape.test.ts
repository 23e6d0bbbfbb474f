// Scrapes /metrics, /healthz and /readyz of a real embedded run while it runs: counters move, readiness flips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { generateCorpus } from '../../src/corpus/index.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { startProcessObservability, TEACHER_STEPS } from '../../src/observability/index.ts';
import { runEmbedded } from '../../src/runner/embedded.ts';
import { compileTopology } from '../../src/topology/index.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { parsePrometheus, sampleValue, type PromSample } from '../helpers/prometheus.ts';
import { tinyTopologyYaml } from '../runner/tiny_topology.ts';
import { saveTinyTeacher } from '../stages/teacher/fixtures.ts';

const LABELED = 4;
const UNLABELED = 6;

test('an embedded run serves its metrics and probes while it runs', { timeout: 180_000 }, async () => {
  await initBackend('wasm');
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-scrape-'));
  const controller = new AbortController();
  const obs = await startProcessObservability({ process: 'all', endpoint: { host: '127.0.0.1', port: 0 }, logger: silentLogger(), signal: controller.signal });
  const url = obs.server?.url;
  assert.ok(url);
  try {
    const store = new LocalStore({ root });
    await generateCorpus(store, { prefix: 'corpus', images: { labeled: LABELED, test: 3, unlabeled: UNLABELED }, imageSize: { min: 64, max: 96 }, workers: 0 });
    await store.put('corpus/unlabeled/images/zz-empty.jpg', new Uint8Array(0));
    // A watching ingest keeps the pipeline up until we stop it, so every figure can be awaited without a race.
    const topology = compileTopology(tinyTopologyYaml({ name: 'tiny-scrape', storeRoot: root, steps: 0, checkpointPrefix: 'runs/scrape/student', evalEvery: 2 }), 'tiny.yaml', {
      env: {},
      overrides: ['stages.ingest-unlabeled.options.watch=true', 'stages.ingest-unlabeled.options.watchIntervalMs=100ms'],
    });
    await saveTinyTeacher(store, 'models/teacher', { class0Bias: 4, config: topology.teacher });

    const get = async (p: string): Promise<{ status: number; type: string | null; body: string }> => {
      const res = await fetch(`${url}${p}`);
      return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
    };
    const before = await get('/readyz');
    assert.equal(before.status, 503, 'not ready before any stage runs');
    assert.deepEqual(JSON.parse(before.body), { status: 'not-ready', reasons: { process: 'starting: no stage running yet' } });
    assert.equal((await get('/healthz')).status, 200);

    const tensorsBefore = tf.memory().numTensors;
    const run = runEmbedded({ topology, logger: silentLogger(), store, observability: obs, signal: controller.signal });
    run.catch(() => undefined);
    const images = LABELED + UNLABELED + 1;
    const notReadyReasons = new Set<string>();
    let sawReady = false;
    let samples: PromSample[] = [];
    const deadline = Date.now() + 150_000;
    const done = (): boolean =>
      sawReady &&
      sampleValue(samples, 'distillery_images_consumed_total', { stage: 'teacher' }) === images &&
      TEACHER_STEPS.every((step) => (sampleValue(samples, 'distillery_teacher_step_seconds_count', { stage: 'teacher', step }) ?? 0) > 0) &&
      sampleValue(samples, 'distillery_student_ap', { stage: 'student' }) !== undefined;
    while (!done()) {
      assert.ok(Date.now() < deadline, `figures did not arrive in time; last scrape:\n${samples.filter((s) => s.name.startsWith('distillery_') && !s.name.includes('nodejs')).map((s) => `${s.name} ${JSON.stringify(s.labels)} ${s.value}`).join('\n')}`);
      const ready = await get('/readyz');
      if (ready.status === 200) sawReady = true;
      else for (const reason of Object.values((JSON.parse(ready.body) as { reasons: Record<string, string> }).reasons)) notReadyReasons.add(reason.replace(/\(.*\)/, '').trim());
      const metrics = await get('/metrics');
      assert.equal(metrics.status, 200);
      assert.match(metrics.type ?? '', /^text\/plain; version=0\.0\.4/);
      samples = parsePrometheus(metrics.body);
      await sleep(50);
    }
    assert.ok(sawReady, `/readyz never said 200 (reasons seen: ${[...notReadyReasons].join('; ')})`);
    assert.equal((await get('/healthz')).status, 200);

    const v = (name: string, labels: Record<string, string> = {}): number | undefined => sampleValue(samples, name, labels);
    assert.equal(v('distillery_images_produced_total'), images, 'both ingest stages together published every image');
    assert.equal(v('distillery_rejected_total', { stage: 'teacher', reason: 'empty-object' }), 1);
    assert.equal((v('distillery_samples_total', { stage: 'teacher' }) ?? 0) + (v('distillery_rejected_total', { stage: 'teacher' }) ?? 0), images, 'every image one sample or rejection');
    assert.ok((v('distillery_samples_consumed_total', { stage: 'student' }) ?? 0) > 0);
    for (const term of ['focal', 'distillation', 'localization', 'total']) {
      const loss = v('distillery_student_loss', { stage: 'student', term });
      assert.ok(loss !== undefined && Number.isFinite(loss) && loss >= 0, `loss ${term} = ${loss}`);
    }
    assert.ok((v('distillery_student_learning_rate', { stage: 'student' }) ?? 0) > 0);
    assert.ok((v('distillery_student_samples_per_second', { stage: 'student' }) ?? 0) > 0);
    assert.ok((v('distillery_student_steps_total', { stage: 'student' }) ?? 0) >= 2);
    const ap = v('distillery_student_ap', { stage: 'student' }) ?? -1;
    assert.ok(ap >= 0 && ap <= 1, `AP ${ap}`);
    // Lag of both consuming groups on their input topics, per partition; the teacher has taken everything listed.
    assert.equal(v('distillery_consumer_lag', { stage: 'teacher', topic: topology.topics.images.name, partition: '0' }), 0);
    assert.notEqual(v('distillery_consumer_lag', { stage: 'student', topic: topology.topics.samples.name, partition: '0' }), undefined);
    assert.ok((v('distillery_tensors', { stage: 'all' }) ?? 0) > 0, 'live tensors (the student and teacher weights)');
    assert.ok((v('distillery_process_resident_memory_bytes', { stage: 'all' }) ?? 0) > 0);
    assert.notEqual(v('distillery_nodejs_eventloop_lag_seconds', { stage: 'all' }), undefined);
    // Histogram buckets are cumulative and end at +Inf = count.
    const infer = samples.filter((s) => s.name === 'distillery_teacher_step_seconds_bucket' && s.labels.step === 'infer');
    assert.equal(infer.at(-1)?.labels.le, '+Inf');
    assert.equal(infer.at(-1)?.value, v('distillery_teacher_step_seconds_count', { stage: 'teacher', step: 'infer' }));

    controller.abort();
    const after = await get('/readyz');
    assert.equal(after.status, 503, 'draining after the stop signal');
    assert.deepEqual(JSON.parse(after.body).reasons, { process: 'shutting down' });
    const result = await run;
    assert.equal(result.stoppedBy, 'signal');
    assert.equal((await get('/healthz')).status, 200, 'a clean stop is not a failure');
    await result.transport.close();
    assert.ok(tf.memory().numTensors <= tensorsBefore + 16, `tensors left: ${tf.memory().numTensors - tensorsBefore}`);
  } finally {
    controller.abort();
    await obs.close();
    await rm(root, { recursive: true, force: true });
  }
});

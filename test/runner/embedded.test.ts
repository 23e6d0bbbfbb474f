// The whole pipeline in one process on a tiny corpus: every ingested image ends as exactly one sample or rejection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { generateCorpus } from '../../src/corpus/index.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { decodeRejection } from '../../src/messages/index.ts';
import { runEmbedded } from '../../src/runner/embedded.ts';
import { pipelineUse } from '../../src/runner/pipeline_use.ts';
import { compileTopology } from '../../src/topology/index.ts';
import { waitForMessages } from '../../src/transport/transport.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { saveTinyTeacher } from '../stages/teacher/fixtures.ts';
import { tinyTopologyYaml } from './tiny_topology.ts';

const TOPOLOGY = (root: string): string =>
    // A continuous student (steps 0): the run ends when the pipeline is drained, so every ingested image is accounted
  // for; a step budget may end the run first, by design, which would make the count racy.
  tinyTopologyYaml({ name: 'tiny-embedded', storeRoot: root, steps: 0, checkpointPrefix: 'runs/tiny/student', evalEvery: 4 });

test('ingest → teacher → filter → student: counts add up, bad images are rejected with reasons, a checkpoint lands', async () => {
  await initBackend('wasm');
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-embedded-'));
  try {
    const store = new LocalStore({ root });
    await generateCorpus(store, { prefix: 'corpus', images: { labeled: 4, test: 3, unlabeled: 8 }, imageSize: { min: 64, max: 96 }, workers: 0 });
    // Bad inputs among the unlabeled images: the run must record them and go on.
    const good = await store.get('corpus/unlabeled/images/000001.jpg');
    await store.put('corpus/unlabeled/images/zz-truncated.jpg', good.subarray(0, Math.floor(good.length / 2)));
    await store.put('corpus/unlabeled/images/zz-empty.jpg', new Uint8Array(0));
    await store.put('corpus/unlabeled/images/zz-text.jpg', 'not an image at all');

    const topology = compileTopology(TOPOLOGY(root), 'tiny.yaml', { env: {} });
    // A teacher whose class 0 fires everywhere, so unlabeled images pass the filter.
    await saveTinyTeacher(store, 'models/teacher', { class0Bias: 4, config: topology.teacher });

    const before = tf.memory().numTensors;
    const result = await runEmbedded({ topology, logger: silentLogger(), store });
    assert.equal(result.stoppedBy, 'completed');

    const ingested = result.counters['ingest-labeled'].published + result.counters['ingest-unlabeled'].published;
    assert.equal(ingested, 4 + 8 + 3);
    // Count the outcomes independently, by reading the topics with fresh consumer groups.
    const read = async (role: 'samples' | 'rejected' | 'dlq'): Promise<{ key: string; value: Uint8Array }[]> => {
      const { high } = (await result.transport.topicOffsets(topology.topics[role].name)).reduce(
        (acc, p) => ({ high: acc.high + Number(p.high) }),
        { high: 0 },
      );
      return high === 0 ? [] : waitForMessages(result.transport, topology.topics[role].name, high, { timeoutMs: 5000 });
    };
    const samples = await read('samples');
    const rejected = await read('rejected');
    const dlq = await read('dlq');
    assert.equal(dlq.length, 0);
    const keys = new Set([...samples, ...rejected].map((m) => m.key));
    assert.equal(samples.length + rejected.length, ingested, 'every image ends as exactly one sample or rejection');
    assert.equal(keys.size, ingested, 'no image twice');
    const reasons = rejected.map((m) => decodeRejection(m.value).reason).sort();
    assert.deepEqual(reasons, ['corrupt-image', 'empty-object', 'not-an-image']);

    // What the main job reports about the run: CPU over wall, and the teacher's work when it drained the images.
    assert.ok(result.usage.cpuSeconds > 0 && result.usage.wallSeconds > 0 && Number.isFinite(result.usage.cores));
    assert.ok(result.teacherDrained !== undefined, 'the teacher drained the images topic');
    const use = pipelineUse(topology, result);
    assert.equal(use.teacherImages, ingested, 'every image was consumed by the time the teacher drained');
    assert.equal(use.studentSteps, result.counters.student.steps);
    assert.ok(use.whileLabelling.drained && use.whileLabelling.starvedSteps <= use.whileLabelling.steps);
    // Both models run in threads of their own by default: the report has each thread's busy share.
    for (const busy of [use.teacherThreadBusy, use.studentThreadBusy]) assert.ok(busy !== undefined && busy > 0 && busy <= 1, `thread busy share ${busy}`);

    const steps = result.counters.student.steps;
    assert.ok(steps >= 1, `the student trained (${steps} steps)`);
    const latest = JSON.parse(new TextDecoder().decode(await store.get('runs/tiny/student/latest.json'))) as { step: number };
    assert.equal(latest.step, steps, 'the final checkpoint is written when the run stops');
    assert.ok(await store.head(`runs/tiny/student/step-${steps}/model.json`), 'the checkpoint holds a loadable TF.js model');
    await result.transport.close();
    assert.ok(tf.memory().numTensors <= before + 16, `tensors left: ${tf.memory().numTensors - before}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

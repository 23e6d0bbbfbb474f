// Rolling evaluation: best/ follows the highest test AP (unit rule with known APs, a continuous student run read back by `distillery detect`), and an evaluation failing beside training ends the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src/backend/backend.ts';
import { runDetect } from '../../../src/cli/detect.ts';
import { buildDetector, disposeLayersModel } from '../../../src/model/detector.ts';
import type { StageContext } from '../../../src/stages/stage.ts';
import { BestPromoter } from '../../../src/stages/student/promote_best.ts';
import { runStudentStage, type StudentStageConfig } from '../../../src/stages/student/run_student.ts';
import { readBestCard } from '../../../src/train/best_model.ts';
import type { EvalRecord } from '../../../src/train/history.ts';
import { DEFAULT_OBJECTIVE } from '../../../src/train/objective.ts';
import { MemoryTransport } from '../../../src/transport/memory.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { makeScenes, writeSplit } from '../../train/fixtures.ts';
import { tempStore, TEST_THRESHOLDS } from '../ingest/topology_fixture.ts';
import { makeSample, publish, sampleMessage, studentStage, studentTopology, tinyStudentConfig } from './fixtures.ts';

await initBackend('wasm');

const PREFIX = 'runs/test/student';

function record(step: number, AP: number): EvalRecord {
  return { step, AP, AP50: AP, AP75: AP, APs: 0, APm: 0, APl: 0, AR100: 0, images: 3, seconds: 0 };
}

test('best/ is the argmax of the APs seen, survives a restart, and only a strictly better AP replaces it', async () => {
  const { store, cleanup } = await tempStore();
  const detector = buildDetector(tinyStudentConfig(), { seed: 1 });
  try {
    const options = { store, checkpointPrefix: PREFIX, thresholds: TEST_THRESHOLDS, loss: DEFAULT_OBJECTIVE, evalAnnotations: 'test/annotations.json', categories: undefined, logger: silentLogger() };
    const lineage = { offsets: { 'samples:0': '7' }, teachers: [{ id: 'teacher@models/teacher', hash: 'sha256:t' }] };
    const promoter = new BestPromoter(options);
    const promoted: boolean[] = [];
    const before = tf.memory().numTensors;
    for (const [step, ap] of [[2, 0.1], [4, 0.3], [6, 0.2], [8, 0.5], [10, 0.5], [12, 0.4]]) promoted.push(await promoter.consider(record(step, ap), detector, lineage));
    assert.equal(tf.memory().numTensors, before, 'promotion leaves no tensors behind');
    assert.deepEqual(promoted, [true, true, false, true, false, false]);
    const card = await readBestCard(store, PREFIX);
    assert.deepEqual([card?.source.step, card?.evaluation?.AP, card?.teachers, card?.training.offsets], [8, 0.5, lineage.teachers, { 'samples:0': '7' }]);

    // A resumed run reads the best AP back from the card instead of overwriting best/ with a worse model.
    const resumed = new BestPromoter(options);
    assert.equal(await resumed.consider(record(14, 0.45), detector, lineage), false);
    assert.equal(await resumed.consider(record(16, 0.6), detector, lineage), true);
    assert.equal((await readBestCard(store, PREFIX))?.source.step, 16);
  } finally {
    disposeLayersModel(detector.model);
    await cleanup();
  }
});

test('a continuous student with rolling eval keeps best/ = its highest-AP evaluation, and detect runs on it', async () => {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  try {
    const scenes = makeScenes(3);
    const evalAnnotations = await writeSplit(store, 'test', scenes);
    const topology = studentTopology({ steps: 0, evalEvery: 2, evalImages: 3, evalAnnotations, learningRate: 1e-2, checkpointEvery: 4 });
    await transport.createTopics(Object.values(topology.topics).map((t) => ({ topic: t.name, partitions: t.partitions })));
    const messages = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => sampleMessage(await makeSample(topology, { id: `s${i}`, seed: i + 1, split: i % 2 === 0 ? 'labeled' : 'unlabeled' }))),
    );
    await publish(transport, 'test.samples', messages);
    const stop = new AbortController();
    let evals = 0;
    const ctx: StageContext<StudentStageConfig> = { topology, stage: studentStage(topology), store, transport, logger: silentLogger(), signal: stop.signal };
    const stage = runStudentStage(ctx, { onEval: () => (++evals === 5 ? stop.abort() : undefined) });
    await stage.done;

    const aps = stage.history.evals.map((e) => e.AP);
    assert.ok(aps.length >= 5, `evaluations: ${aps.join(', ')}`);
    assert.ok(new Set(aps).size > 1, `the AP moves during the run, so best/ had to be replaced: ${aps.join(", ")}`);
    const best = stage.history.evals.reduce((a, e) => (e.AP > a.AP ? e : a));
    const card = await readBestCard(store, PREFIX);
    assert.ok(card !== undefined, 'best/ was written');
    assert.deepEqual([card.source.step, card.evaluation?.AP], [best.step, best.AP], `best = argmax of ${JSON.stringify(stage.history.evals.map((e) => [e.step, e.AP]))}`);
    assert.equal(card.classes.length, 2);
    assert.deepEqual(card.teachers, [{ id: 'tiny-teacher', hash: 'sha256:test' }], 'the teacher of the samples trained on');

    let out = '';
    const summary = await runDetect([path.join(store.root, 'test', 'images')], { model: path.join(store.root, PREFIX, 'best'), annotations: path.join(store.root, evalAnnotations) }, {
      stdout: { write: (t: string) => ((out += t), true) },
      stderr: { write: () => true },
    });
    assert.deepEqual([summary.images, summary.errors], [3, 0]);
    assert.ok(Array.isArray(JSON.parse(out)));
  } finally {
    await transport.close();
    await cleanup();
  }
});

test('an evaluation that fails while it runs beside training ends the run with its error, leaking no tensors', async () => {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  const stop = new AbortController();
  // Were the failure swallowed, this continuous run would never end: stop it after a while so the test fails instead.
  const guard = setTimeout(() => stop.abort(), 120_000);
  try {
    const scenes = makeScenes(3);
    const evalAnnotations = await writeSplit(store, 'test', scenes);
    const topology = studentTopology({ steps: 0, evalEvery: 2, evalImages: 3, evalAnnotations, checkpointEvery: 4 });
    assert.equal(studentStage(topology).options.trainingThread, true, 'evaluations run beside training only with a training thread');
    await transport.createTopics(Object.values(topology.topics).map((t) => ({ topic: t.name, partitions: t.partitions })));
    const messages = await Promise.all(Array.from({ length: 8 }, async (_, i) => sampleMessage(await makeSample(topology, { id: `s${i}`, seed: i + 1, split: i % 2 === 0 ? 'labeled' : 'unlabeled' }))));
    await publish(transport, 'test.samples', messages);
    const before = tf.memory().numTensors;
    let evals = 0;
    const ctx: StageContext<StudentStageConfig> = { topology, stage: studentStage(topology), store, transport, logger: silentLogger(), signal: stop.signal };
    const stage = runStudentStage(ctx, {
      onEval: () => {
        if (++evals === 2) throw new Error('the evaluation sink broke');
      },
    });
    await assert.rejects(stage.done, /the evaluation sink broke/);
    assert.equal(stop.signal.aborted, false, 'the failure ended the run, not the guard');
    assert.equal(evals, 2, 'no evaluation after the failed one');
    assert.equal(tf.memory().numTensors, before, 'the stage freed its detector and optimizer');
  } finally {
    clearTimeout(guard);
    await transport.close();
    await cleanup();
  }
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { buildDetector, disposeLayersModel, type Detector } from '../../src/model/detector.ts';
import { saveDetector } from '../../src/model/store_io.ts';
import { listCheckpointSteps, loadCheckpoint, readLatest } from '../../src/train/checkpoint.ts';
import { loadCocoDataset, type DetectionDataset } from '../../src/train/dataset.ts';
import { meanLoss } from '../../src/train/history.ts';
import { DEFAULT_OBJECTIVE } from '../../src/train/objective.ts';
import { trainSupervised, type SupervisedTrainOptions, type TrainProgress } from '../../src/train/supervised.ts';
import { makeScenes, tempStore, TINY_DETECTOR, writeSplit, type TempStore } from './fixtures.ts';

let tmp: TempStore;
let labeled: DetectionDataset;
let testSplit: DetectionDataset;

before(async () => {
  await initBackend('cpu');
  tmp = await tempStore();
  await writeSplit(tmp.store, 'labeled', makeScenes(6));
  await writeSplit(tmp.store, 'test', makeScenes(4, 50));
  labeled = await loadCocoDataset(tmp.store, 'labeled/annotations.json', { inputSize: 32 });
  testSplit = await loadCocoDataset(tmp.store, 'test/annotations.json', { inputSize: 32 });
});

after(async () => {
  await tmp.cleanup();
});

function options(prefix: string, extra: Partial<SupervisedTrainOptions> = {}): SupervisedTrainOptions {
  return {
    store: tmp.store,
    detector: TINY_DETECTOR,
    labeled,
    test: testSplit,
    steps: 8,
    batchSize: 3,
    learningRate: 0.01,
    warmupSteps: 2,
    checkpointEvery: 3,
    checkpointPrefix: prefix,
    keepCheckpoints: 2,
    seed: 7,
    ...extra,
  };
}

async function weightsOf(d: Detector): Promise<Float32Array[]> {
  return Promise.all(d.model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

test('training reduces the loss, evaluates, checkpoints every N steps and keeps the newest K, without leaking', async () => {
  const counts: number[] = [];
  const events: TrainProgress['kind'][] = [];
  const result = await trainSupervised(
    options('runs/fit', {
      steps: 24,
      learningRate: 0.02,
      evalEvery: 10,
      evalImages: 2,
      checkpointEvery: 10,
      keepCheckpoints: 2,
      // Keyed by annotation file, as the CLI passes it.
      labeled: 'labeled/annotations.json',
      onProgress: (e) => {
        events.push(e.kind);
        if (e.kind === 'step') counts.push(tf.memory().numTensors);
      },
    }),
  );
  assert.equal(result.step, 24);
  assert.equal(result.stopped, false);
  assert.deepEqual(result.history.steps.map((s) => s.step), Array.from({ length: 24 }, (_, i) => i + 1));
  const first = meanLoss(result.history, 0, 4);
  const last = meanLoss(result.history, 20, 24);
  assert.ok(last < 0.7 * first, `loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  // Adam creates its slots on step 1; after that the count is flat, across evaluations and checkpoints too.
  assert.ok(counts.slice(1).every((c) => c === counts[1]), `tensor counts per step: ${counts.join(', ')}`);
  assert.deepEqual(result.history.evals.map((e) => [e.step, e.images]), [[10, 2], [20, 2], [24, 4]]);
  assert.ok(result.metrics && result.metrics.AP >= 0 && result.metrics.AP <= 1 && result.metrics.numImages === 4);
  assert.ok(result.history.steps.every((s) => s.gradNorm !== undefined && s.lr > 0));
  assert.ok(result.history.steps[0].lr < result.history.steps[1].lr, 'warm-up');
  assert.deepEqual(await listCheckpointSteps(tmp.store, 'runs/fit'), [20, 24]);
  assert.equal((await readLatest(tmp.store, 'runs/fit'))?.step, 24);
  assert.equal(result.checkpoint, 'runs/fit/step-24');
  assert.ok(events.includes('loaded') && events.includes('checkpoint') && events.includes('eval'));
  result.detector.model.dispose();
});

test('a stop requested from the event loop (as a SIGINT/SIGTERM handler does) ends the run between steps', async () => {
  const controller = new AbortController();
  const steps: number[] = [];
  const result = await trainSupervised(
    options('runs/macrotask-stop', {
      test: undefined,
      steps: 40,
      checkpointEvery: 0,
      signal: controller.signal,
      onProgress: (e) => {
        // A signal handler runs in its own event-loop turn, never inside the training loop's promise chain.
        if (e.kind === 'step' && e.step === 2) setImmediate(() => controller.abort());
        if (e.kind === 'step') steps.push(e.step);
      },
    }),
  );
  assert.equal(result.stopped, true);
  assert.deepEqual(steps, [1, 2], 'the step after the request is not started');
  assert.equal((await readLatest(tmp.store, 'runs/macrotask-stop'))?.step, 2, 'and where it stopped is saved');
  result.detector.model.dispose();
});

test('stopped by its signal and resumed, a run ends with the same weights as an uninterrupted one', async () => {
  // Both runs start from the same saved weights (the fine-tuning path; a fresh build is seeded, tested below).
  const init = buildDetector(TINY_DETECTOR);
  await saveDetector(init, tmp.store, 'init/tiny');
  init.model.dispose();
  const straight = await trainSupervised(options('runs/straight', { test: undefined, initFrom: 'init/tiny' }));
  const controller = new AbortController();
  const first = await trainSupervised(
    options('runs/interrupted', {
      test: undefined,
      initFrom: 'init/tiny',
      signal: controller.signal,
      onProgress: (e) => {
        if (e.kind === 'step' && e.step === 4) controller.abort();
      },
    }),
  );
  assert.equal(first.stopped, true);
  assert.equal(first.step, 4);
  assert.equal(first.metrics, undefined);
  // Stopping between checkpoints (every 3) still saves where it stopped.
  assert.equal((await readLatest(tmp.store, 'runs/interrupted'))?.step, 4);
  first.detector.model.dispose();

  const steps: number[] = [];
  const resumed = await trainSupervised(
    options('runs/interrupted', { test: undefined, resume: true, onProgress: (e) => e.kind === 'step' && steps.push(e.step) }),
  );
  assert.equal(resumed.resumedFrom, 4);
  assert.deepEqual(steps, [5, 6, 7, 8]);
  assert.equal(resumed.step, 8);
  assert.deepEqual(resumed.history.steps.map((s) => s.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  const [a, b] = [await weightsOf(straight.detector), await weightsOf(resumed.detector)];
  a.forEach((w, i) => assert.deepEqual(b[i], w, `weight ${i}`));
  assert.deepEqual(
    resumed.history.steps.map((s) => s.total),
    straight.history.steps.map((s) => s.total),
  );
  const ckpt = await loadCheckpoint(tmp.store, 'runs/interrupted');
  const ref = await loadCheckpoint(tmp.store, 'runs/straight');
  assert.ok(ckpt && ref);
  assert.deepEqual(ckpt.state.offsets, ref.state.offsets);
  assert.deepEqual(ckpt.state.rng, ref.state.rng);
  ckpt.detector.model.dispose();
  ref.detector.model.dispose();

  // A finished run resumed again does no more steps.
  const again = await trainSupervised(options('runs/interrupted', { test: undefined, resume: true }));
  assert.equal(again.step, 8);
  assert.equal(again.history.steps.length, 8);
  for (const r of [straight, resumed, again]) r.detector.model.dispose();
});

test('two fresh runs with the same seed are the same run, initial weights included; another seed is another run', async () => {
  const before = tf.memory().numTensors;
  const run = (prefix: string, seed: number) => trainSupervised(options(prefix, { test: undefined, steps: 3, checkpointEvery: 0, seed }));
  const [a, b, c] = [await run('runs/seeded-a', 3), await run('runs/seeded-b', 3), await run('runs/seeded-c', 4)];
  assert.deepEqual(await weightsOf(b.detector), await weightsOf(a.detector));
  assert.deepEqual(b.history.steps.map((s) => s.total), a.history.steps.map((s) => s.total));
  assert.notDeepEqual(c.history.steps.map((s) => s.total), a.history.steps.map((s) => s.total));
  for (const r of [a, b, c]) disposeLayersModel(r.detector.model);
  // Each run leaves nothing behind but its model (optimizer slots, batches and targets included).
  assert.equal(tf.memory().numTensors, before);
});

test('an existing checkpoint without resume, a distillation objective and mismatched classes are refused', async () => {
  await assert.rejects(trainSupervised(options('runs/straight', { test: undefined })), /already holds a checkpoint at step 8; resume it/);
  await assert.rejects(trainSupervised(options('runs/other', { objective: DEFAULT_OBJECTIVE })), /distillation must be 'none'/);
  const before = tf.memory().numTensors;
  await assert.rejects(
    trainSupervised(options('runs/other', { detector: { ...TINY_DETECTOR, numClasses: 3 } })),
    /2 categories but the detector has 3 classes/,
  );
  assert.equal(tf.memory().numTensors, before, 'a run refused after building its model frees all of it, shared head weights included');
  assert.equal(await readLatest(tmp.store, 'runs/other'), undefined);
});

test('in a training thread the run takes exactly the inline steps; with two replicas it trains, checkpoints and resumes', async () => {
  const start = buildDetector(TINY_DETECTOR, { seed: 12 });
  await saveDetector(start, tmp.store, 'init/where');
  disposeLayersModel(start.model);
  const tensorsBefore = tf.memory().numTensors;
  // Both from the same saved weights (a fresh run's are random).
  const inline = await trainSupervised(options('runs/where-inline', { steps: 4, evalEvery: 0, initFrom: 'init/where' }));
  const threaded = await trainSupervised(options('runs/where-thread', { steps: 4, evalEvery: 0, initFrom: 'init/where', trainer: { thread: true } }));
  try {
    assert.deepEqual(
      threaded.history.steps.map((r) => [r.total, r.lr]),
      inline.history.steps.map((r) => [r.total, r.lr]),
      'the same losses step for step',
    );
    assert.deepEqual(await weightsOf(threaded.detector), await weightsOf(inline.detector), 'the returned detector holds the trained weights');
    assert.deepEqual(threaded.metrics, inline.metrics, 'the final evaluation saw them too');
  } finally {
    disposeLayersModel(inline.detector.model);
    disposeLayersModel(threaded.detector.model);
  }

  const trainer = { thread: true, replicas: 2 };
  const first = await trainSupervised(options('runs/where-replicas', { steps: 3, evalEvery: 0, trainer }));
  disposeLayersModel(first.detector.model);
  const resumed = await trainSupervised(options('runs/where-replicas', { steps: 5, evalEvery: 0, trainer, resume: true }));
  try {
    assert.equal(resumed.resumedFrom, 3);
    assert.deepEqual(resumed.history.steps.map((r) => r.step), [1, 2, 3, 4, 5]);
    assert.ok(resumed.history.steps.every((r) => Number.isFinite(r.total) && r.total > 0));
    const saved = await loadCheckpoint(tmp.store, 'runs/where-replicas');
    assert.ok(saved);
    assert.deepEqual(await weightsOf(saved.detector), await weightsOf(resumed.detector), 'the last checkpoint holds the replicas’ weights');
    disposeLayersModel(saved.detector.model);
  } finally {
    disposeLayersModel(resumed.detector.model);
  }
  assert.ok(tf.memory().numTensors <= tensorsBefore, `tensors left: ${tf.memory().numTensors - tensorsBefore}`);
});

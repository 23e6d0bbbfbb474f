import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { generateAnchors } from '../../src/boxes/anchors.ts';
import type { ObjectStore } from '../../src/io/object_store.ts';
import { buildDetector, type Detector } from '../../src/model/detector.ts';
import { detectorAnchorConfig } from '../../src/model/detector_config.ts';
import { ResumableAdam, type NamedTensor } from '../../src/train/adam.ts';
import {
  listCheckpointSteps,
  loadCheckpoint,
  readLatest,
  restoreOptimizer,
  saveCheckpoint,
  type CheckpointState,
} from '../../src/train/checkpoint.ts';
import { disposeBatch, formatPosition, loadCocoDataset, parsePosition, trainingBatches, type DetectionDataset, type SamplerPosition } from '../../src/train/dataset.ts';
import { emptyHistory, stepRecord } from '../../src/train/history.ts';
import { DEFAULT_OBJECTIVE } from '../../src/train/objective.ts';
import { SeededRng } from '../../src/train/rng.ts';
import { trainStep } from '../../src/train/step.ts';
import { makeScenes, tempStore, TINY_DETECTOR, writeSplit, type TempStore } from './fixtures.ts';

const objective = { ...DEFAULT_OBJECTIVE, distillation: 'none' as const };
const anchors = generateAnchors(detectorAnchorConfig(TINY_DETECTOR), 32, 32);
let tmp: TempStore;
let dataset: DetectionDataset;

before(async () => {
  await initBackend('cpu');
  tmp = await tempStore();
  await writeSplit(tmp.store, 'labeled', makeScenes(5));
  dataset = await loadCocoDataset(tmp.store, 'labeled/annotations.json', { inputSize: 32 });
});

after(async () => {
  await tmp.cleanup();
});

async function weightsOf(d: Detector): Promise<Float32Array[]> {
  return Promise.all(d.model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

/** n training steps from (position, rng); asserts the tensor count stays flat once Adam has its slots. */
async function runSteps(d: Detector, opt: ResumableAdam, rng: SeededRng, start: SamplerPosition, n: number): Promise<SamplerPosition> {
  const it = trainingBatches(dataset, 3, rng, { anchors, shuffleSeed: 11, start, flip: true });
  let position = start;
  let count = -1;
  for (let i = 0; i < n; i++) {
    opt.learningRate = 0.01 / (1 + opt.iterations);
    const batch = it.next().value;
    await trainStep(d, opt, batch.images, batch.targets, undefined, objective, { clipNorm: 5 });
    position = batch.position;
    disposeBatch(batch);
    if (opt.iterations > 1) {
      if (count >= 0) assert.equal(tf.memory().numTensors, count, `tensors leaked at step ${opt.iterations}`);
      count = tf.memory().numTensors;
    }
  }
  return position;
}

function state(step: number, position: SamplerPosition, rng: SeededRng): CheckpointState {
  const history = emptyHistory();
  history.steps.push(stepRecord(step, 0.01, { total: 1.5, focal: 1, distillation: 0, localization: 0.5, gradNorm: 2 }, 12));
  history.evals.push({ step, AP: 0.1, AP50: 0.2, AP75: 0.05, APs: -1, APm: 0.1, APl: 0.3, AR100: 0.4, images: 5, seconds: 0.2 });
  return { step, offsets: { labeled: formatPosition(position), 'images-0': '1234' }, rng: { augment: rng.state }, history, extra: { note: 'x' } };
}

test('resuming from a checkpoint gives the same weights and offsets as never stopping (exact on cpu)', async () => {
  const prefix = 'ckpt/resume';
  const detector = buildDetector(TINY_DETECTOR);
  const opt = new ResumableAdam({ learningRate: 0.01 });
  const rng = new SeededRng(77);
  let pos = await runSteps(detector, opt, rng, { epoch: 0, index: 0 }, 3);
  const beforeSave = tf.memory().numTensors;
  await saveCheckpoint(tmp.store, prefix, detector, opt, state(3, pos, rng));
  assert.equal(tf.memory().numTensors, beforeSave, 'saving creates no lasting tensors');
  pos = await runSteps(detector, opt, rng, pos, 4);
  const straight = await weightsOf(detector);
  const straightOffsets = formatPosition(pos);

  const ckpt = await loadCheckpoint(tmp.store, prefix);
  assert.ok(ckpt);
  assert.equal(ckpt.state.step, 3);
  const opt2 = new ResumableAdam({ learningRate: 0.01 });
  const beforeRestore = tf.memory().numTensors;
  await restoreOptimizer(opt2, ckpt.optimizer);
  const moments = 2 * ckpt.detector.model.trainableWeights.length;
  assert.equal(tf.memory().numTensors, beforeRestore + moments, 'restoring keeps exactly the moment variables');
  assert.equal(opt2.iterations, 3);
  const rng2 = new SeededRng(0);
  rng2.state = ckpt.state.rng.augment;
  const pos2 = await runSteps(ckpt.detector, opt2, rng2, parsePosition(ckpt.state.offsets.labeled), 4);
  assert.equal(formatPosition(pos2), straightOffsets);
  const resumed = await weightsOf(ckpt.detector);
  assert.equal(resumed.length, straight.length);
  resumed.forEach((w, i) => assert.deepEqual(w, straight[i], `weight ${i} differs after resuming`));
  assert.equal(rng2.state, rng.state);

  const beforeDispose = tf.memory().numTensors;
  opt2.dispose();
  assert.equal(tf.memory().numTensors, beforeDispose - moments);
  opt.dispose();
  detector.model.dispose();
  ckpt.detector.model.dispose();
});

test('a checkpoint round-trips weights, optimizer moments, step, offsets, rng and history', async () => {
  const prefix = 'ckpt/roundtrip';
  const detector = buildDetector(TINY_DETECTOR);
  const opt = new ResumableAdam({ learningRate: 0.01 });
  const rng = new SeededRng(1);
  const pos = await runSteps(detector, opt, rng, { epoch: 0, index: 0 }, 2);
  const saved = state(2, pos, rng);
  const dir = await saveCheckpoint(tmp.store, prefix, detector, opt, saved);
  assert.equal(dir, `${prefix}/step-2`);
  assert.deepEqual(await readLatest(tmp.store, prefix), { ...(await readLatest(tmp.store, prefix)), v: 1, step: 2, dir: 'step-2' });

  const ckpt = await loadCheckpoint(tmp.store, prefix);
  assert.ok(ckpt);
  assert.deepEqual(ckpt.state, saved);
  assert.deepEqual(ckpt.detector.config, detector.config);
  const [a, b] = [await weightsOf(detector), await weightsOf(ckpt.detector)];
  a.forEach((w, i) => assert.deepEqual(b[i], w));
  assert.equal(ckpt.optimizer.className, 'DistilleryAdam');

  const opt2 = new ResumableAdam({ learningRate: 0.01 });
  await restoreOptimizer(opt2, ckpt.optimizer);
  const [w1, w2] = [(await opt.getWeights()) as NamedTensor[], (await opt2.getWeights()) as NamedTensor[]];
  assert.equal(w1.length, 1 + 2 * detector.model.trainableWeights.length);
  assert.equal(w2.length, w1.length);
  for (let i = 0; i < w1.length; i++) assert.deepEqual(await w2[i].tensor.data(), await w1[i].tensor.data(), `optimizer weight ${w1[i].name}`);
  w1[0].tensor.dispose();
  w2[0].tensor.dispose();

  await assert.rejects(restoreOptimizer(tf.train.adam(0.1), ckpt.optimizer), /checkpoint optimizer is DistilleryAdam/);
  opt.dispose();
  opt2.dispose();
  detector.model.dispose();
  ckpt.detector.model.dispose();
});

/** A store that records the order of writes and deletes. */
function recording(store: ObjectStore, log: string[]): ObjectStore {
  return {
    get: (k) => store.get(k),
    head: (k) => store.head(k),
    list: (p, o) => store.list(p, o),
    describe: () => store.describe(),
    put: async (k, b, o) => {
      log.push(`put ${k}`);
      await store.put(k, b, o);
    },
    delete: async (k) => {
      log.push(`delete ${k}`);
      await store.delete(k);
    },
  };
}

test('latest.json is written after the checkpoint files and before pruning; only the newest K are kept', async () => {
  const prefix = 'ckpt/prune';
  const detector = buildDetector(TINY_DETECTOR);
  const opt = new ResumableAdam({ learningRate: 0.01 });
  const rng = new SeededRng(1);
  const log: string[] = [];
  const store = recording(tmp.store, log);
  // A folder past the current step, as a crash during a save would leave it.
  await tmp.store.put(`${prefix}/step-99/model.json`, '{}');
  for (const step of [1, 2, 3, 4]) {
    log.length = 0;
    await saveCheckpoint(store, prefix, detector, opt, state(step, { epoch: 0, index: step }, rng), { keep: 2 });
    const latestAt = log.indexOf(`put ${prefix}/latest.json`);
    assert.ok(latestAt > 0);
    assert.ok(log.slice(0, latestAt).every((l) => l.startsWith(`put ${prefix}/step-${step}/`)), log.join('\n'));
    assert.ok(log.slice(latestAt + 1).every((l) => l.startsWith('delete')), log.join('\n'));
  }
  assert.deepEqual(await listCheckpointSteps(tmp.store, prefix), [3, 4]);
  assert.equal((await readLatest(tmp.store, prefix))?.step, 4);
  assert.equal((await loadCheckpoint(tmp.store, prefix, { step: 1 })), undefined);
  await assert.rejects(saveCheckpoint(store, prefix, detector, opt, state(5, { epoch: 0, index: 0 }, rng), { keep: 0 }), /keep must be a positive integer/);
  opt.dispose();
  detector.model.dispose();
});

test('an empty prefix has no checkpoint; a damaged state file is reported with its key', async () => {
  assert.equal(await readLatest(tmp.store, 'ckpt/none'), undefined);
  assert.equal(await loadCheckpoint(tmp.store, 'ckpt/none'), undefined);
  const prefix = 'ckpt/damaged';
  const detector = buildDetector(TINY_DETECTOR);
  const opt = new ResumableAdam({ learningRate: 0.01 });
  await saveCheckpoint(tmp.store, prefix, detector, opt, state(0, { epoch: 0, index: 0 }, new SeededRng(1)));
  await tmp.store.put(`${prefix}/step-0/state.json`, JSON.stringify({ v: 1, step: -3 }));
  await assert.rejects(loadCheckpoint(tmp.store, prefix), /ckpt\/damaged\/step-0\/state\.json: invalid checkpoint file: step/);
  await tmp.store.put(`${prefix}/latest.json`, '{not json');
  await assert.rejects(readLatest(tmp.store, prefix), /latest\.json: not valid JSON/);
  opt.dispose();
  detector.model.dispose();
});

// The student's trainer: a training thread (or data-parallel replicas) trains as inline does, syncs back, reports errors.
import os from 'node:os';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { generateAnchors } from '../../src/boxes/anchors.ts';
import { initBackend, resolveTrainingBackend, WASM_THREADS_ENV } from '../../src/backend/backend.ts';
import { buildDetector, disposeLayersModel, type Detector } from '../../src/model/detector.ts';
import { detectorAnchorConfig } from '../../src/model/detector_config.ts';
import type { PackedBatch } from '../../src/train/packed_batch.ts';
import { openDetectorTrainer, replicaWasmThreads, shardBatch, type DetectorTrainer } from '../../src/train/trainer.ts';
import { ResumableAdam } from '../../src/train/adam.ts';
import { encodeOptimizerState } from '../../src/train/checkpoint.ts';
import { DEFAULT_OBJECTIVE } from '../../src/train/objective.ts';
import type { StepLosses } from '../../src/train/step.ts';
import { ANCHORS, CLASSES, SIZE, tinyStudentConfig } from '../stages/student/fixtures.ts';

await initBackend('wasm');

const config = tinyStudentConfig();
const anchors = generateAnchors(detectorAnchorConfig(config), SIZE, SIZE);

/** A deterministic batch: patterned pixels, one box per image, soft labels in (0, 1). */
function packed(seed: number, size = 2, pixel?: number): PackedBatch {
  const pixels = new Float32Array(size * SIZE * SIZE * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = pixel ?? (i * 31 + seed * 97) % 256;
  const probs = new Float32Array(size * ANCHORS * CLASSES);
  for (let i = 0; i < probs.length; i++) probs[i] = ((i * 13 + seed * 7) % 100) / 101 + 0.001;
  const hard = Array.from({ length: size }, (_, i) => ({ boxes: [[4 + i, 6, 30 + seed, 40] as [number, number, number, number]], classIds: [i % CLASSES] }));
  return { size, inputSize: SIZE, pixels, probs, hard, labeled: 1, unlabeled: size - 1 };
}

/** A seeded student and a fresh Adam: two of the same seed start from the same weights. */
function student(seed: number): { detector: Detector; optimizer: ResumableAdam } {
  return { detector: buildDetector(config, { seed }), optimizer: new ResumableAdam({ learningRate: 1e-3 }) };
}

function release(...students: Array<{ detector: Detector; optimizer: ResumableAdam }>): void {
  for (const m of students) {
    m.optimizer.dispose();
    disposeLayersModel(m.detector.model);
  }
}

async function weightsOf(detector: Detector): Promise<Float32Array[]> {
  return Promise.all(detector.model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

async function optimizerBytes(optimizer: ResumableAdam): Promise<Float32Array> {
  return new Float32Array((await encodeOptimizerState(optimizer)).data);
}

test('a training thread takes the same steps as inline training: losses, then weights and optimizer state after sync', async () => {
  const inline = student(3);
  const threaded = student(3);
  const options = { anchors, objective: DEFAULT_OBJECTIVE, clipNorm: 10 };
  let a: DetectorTrainer | undefined;
  let b: DetectorTrainer | undefined;
  try {
    a = await openDetectorTrainer(inline.detector, inline.optimizer, { ...options, thread: false });
    const before = tf.memory().numTensors;
    b = await openDetectorTrainer(threaded.detector, threaded.optimizer, { ...options, thread: true });
    assert.equal(tf.memory().numTensors, before, 'the training copy lives in the worker');
    assert.deepEqual([a.threaded, b.threaded, a.threadBusy(), a.workerTensors()], [false, true, undefined, undefined]);

    const workerTensors: number[] = [];
    for (let step = 0; step < 4; step++) {
      const lr = step === 0 ? 5e-4 : 1e-3;
      const la: StepLosses = await a.step(packed(step), lr);
      const lb: StepLosses = await b.step(packed(step), lr);
      assert.deepEqual(lb, la, `step ${step}: the same loss terms`);
      workerTensors.push(b.workerTensors() as number);
    }
    assert.ok(workerTensors.every((n) => n === workerTensors[0]), `tensors in the worker stable across steps: ${workerTensors.join(', ')}`);
    const busy = b.threadBusy() as number;
    assert.ok(busy > 0 && busy <= 1, `training thread busy share ${busy}`);

    // Before sync the stage's copy still holds the initial weights; after it, exactly the inline run's.
    assert.notDeepEqual(await weightsOf(threaded.detector), await weightsOf(inline.detector));
    await b.sync();
    const afterSync = tf.memory().numTensors;
    assert.deepEqual(await weightsOf(threaded.detector), await weightsOf(inline.detector), 'weights after sync');
    assert.deepEqual(await optimizerBytes(threaded.optimizer), await optimizerBytes(inline.optimizer), 'Adam moments after sync');
    assert.deepEqual([threaded.optimizer.iterations, threaded.optimizer.learningRate], [4, 1e-3]);
    await b.step(packed(9), 1e-3);
    await b.sync();
    assert.equal(tf.memory().numTensors, afterSync, 'a second sync replaces the stage-side state, leaking nothing');

    const inWorker = b.workerTensors() as number;
    await b.close();
    assert.ok((b.workerTensors() as number) < inWorker, `closing frees the model in the worker (${inWorker} → ${b.workerTensors()} tensors)`);
  } finally {
    await a?.close();
    await b?.close();
    release(inline, threaded);
  }
});

test("the worker's errors reach the step that caused them, the weights stay untouched, and the thread keeps working", async () => {
  const detector = buildDetector(config, { seed: 4 });
  const optimizer = new ResumableAdam({ learningRate: 1e-3 });
  const trainer = await openDetectorTrainer(detector, optimizer, { thread: true, anchors, objective: DEFAULT_OBJECTIVE, clipNorm: 10 });
  try {
    await trainer.step(packed(1), 1e-3);
    await trainer.sync();
    const good = await weightsOf(detector);
    await assert.rejects(trainer.step(packed(2, 2, Number.NaN), 1e-3), /training thread: training diverged: loss is NaN/);
    await trainer.sync();
    assert.deepEqual(await weightsOf(detector), good, 'a diverged step changes nothing');
    const wrong = { ...packed(3), inputSize: SIZE * 2 };
    await assert.rejects(trainer.step(wrong, 1e-3), /training thread: packed batch: 24576 pixel values for 2 images of 128 px/);
    const losses = await trainer.step(packed(4), 1e-3);
    assert.ok(Number.isFinite(losses.total), 'the next batch trains');
  } finally {
    await trainer.close();
    optimizer.dispose();
    disposeLayersModel(detector.model);
  }
  await assert.rejects(trainer.step(packed(5), 1e-3), /training thread is closed/);
});

/** The batch with every sample twice in a row: sharded over 2 replicas, each replica gets the original batch. */
function doubled(batch: PackedBatch): PackedBatch {
  const plane = SIZE * SIZE * 3;
  const perImage = ANCHORS * CLASSES;
  const pixels = new Float32Array(batch.pixels.length * 2);
  const probs = new Float32Array((batch.probs as Float32Array).length * 2);
  for (let i = 0; i < batch.size; i++) {
    for (const copy of [2 * i, 2 * i + 1]) {
      pixels.set(batch.pixels.subarray(i * plane, (i + 1) * plane), copy * plane);
      probs.set((batch.probs as Float32Array).subarray(i * perImage, (i + 1) * perImage), copy * perImage);
    }
  }
  return { ...batch, size: batch.size * 2, pixels, probs, hard: batch.hard.flatMap((h) => [h, h]) };
}

test('shardBatch deals sample i to shard i mod n, keeping pixels, soft labels and boxes together', () => {
  const batch = packed(1, 3);
  const shards = shardBatch(batch, 2);
  assert.deepEqual(shards.map((s) => s.size), [2, 1]);
  const plane = SIZE * SIZE * 3;
  const perImage = ANCHORS * CLASSES;
  assert.deepEqual(shards[0].pixels.subarray(plane, 2 * plane), batch.pixels.subarray(2 * plane, 3 * plane), 'shard 0 holds samples 0 and 2');
  assert.deepEqual(shards[1].probs, batch.probs?.subarray(perImage, 2 * perImage), 'shard 1 holds sample 1');
  assert.deepEqual(shards[0].hard, [batch.hard[0], batch.hard[2]]);
  assert.deepEqual(shardBatch(packed(1, 1), 2).map((s) => s.size), [1], 'no empty shard');
});

test('two training replicas step data-parallel: shares that are the same batch give exactly the one-thread step', async () => {
  const single = student(6);
  const replicated = student(6);
  const base = { anchors, objective: DEFAULT_OBJECTIVE, clipNorm: 0, thread: true };
  let a: DetectorTrainer | undefined;
  let b: DetectorTrainer | undefined;
  // Bit-equality needs the same XNNPACK thread count on both sides (it changes the order of float sums); workers read
  // the variable when they start.
  const threadsBefore = process.env[WASM_THREADS_ENV];
  process.env[WASM_THREADS_ENV] = '1';
  try {
    a = await openDetectorTrainer(single.detector, single.optimizer, base);
    b = await openDetectorTrainer(replicated.detector, replicated.optimizer, { ...base, replicas: 2 });
    assert.deepEqual([a.workerThreads, b.workerThreads], [1, 1], 'every training thread on one wasm thread');
    const inWorker: number[] = [];
    for (let step = 0; step < 4; step++) {
      const la: StepLosses = await a.step(packed(step), 1e-3);
      const lb: StepLosses = await b.step(doubled(packed(step)), 1e-3);
      assert.deepEqual(lb, la, `step ${step}: the averaged loss terms of two equal shares`);
      inWorker.push(b.workerTensors() as number);
    }
    // A short batch of one sample: one share; every replica still applies the update.
    assert.deepEqual(await b.step(packed(7, 1), 1e-3), await a.step(packed(7, 1), 1e-3));
    assert.deepEqual(await b.step(doubled(packed(8)), 1e-3), await a.step(packed(8), 1e-3), 'the replicas stayed identical');
    // A replica's count is read after its gradients, before it applies that step's update (applied behind the next
    // request): the first reading predates Adam's moments, which the first update creates.
    const afterFirstUpdate = inWorker.slice(1);
    assert.ok(afterFirstUpdate.every((n) => n === afterFirstUpdate[0]), `tensors in a replica stable across steps: ${inWorker.join(', ')}`);
    await a.sync();
    await b.sync();
    assert.deepEqual(await weightsOf(replicated.detector), await weightsOf(single.detector), 'weights after sync');
    assert.deepEqual(await optimizerBytes(replicated.optimizer), await optimizerBytes(single.optimizer), 'Adam moments after sync');
  } finally {
    if (threadsBefore === undefined) delete process.env[WASM_THREADS_ENV];
    else process.env[WASM_THREADS_ENV] = threadsBefore;
    await a?.close();
    await b?.close();
    release(single, replicated);
  }
});

test('replicas clip the averaged gradients by their global norm, as one thread clips its own', async () => {
  const single = student(8);
  const replicated = student(8);
  const base = { anchors, objective: DEFAULT_OBJECTIVE, clipNorm: 1e-3, thread: true };
  const a = await openDetectorTrainer(single.detector, single.optimizer, base);
  const b = await openDetectorTrainer(replicated.detector, replicated.optimizer, { ...base, replicas: 2 });
  try {
    assert.equal(a.workerThreads, (await initBackend('wasm')).threads, 'one training thread: the wasm threads of this one');
    if (process.env[WASM_THREADS_ENV] === undefined) {
      assert.equal(b.workerThreads, Math.max(1, Math.floor(os.availableParallelism() / 2)), 'two replicas share the cores');
    }
    for (let step = 0; step < 2; step++) {
      const la = await a.step(packed(step), 1e-3);
      const lb = await b.step(doubled(packed(step)), 1e-3);
      assert.ok(la.gradNorm !== undefined && la.gradNorm > 1e-3, 'the norm is above the clip');
      assert.ok(Math.abs((lb.gradNorm as number) - la.gradNorm) <= 1e-5 * la.gradNorm, `norm ${lb.gradNorm} vs ${la.gradNorm}`);
    }
    await a.sync();
    await b.sync();
    const [wa, wb] = [await weightsOf(single.detector), await weightsOf(replicated.detector)];
    const worst = Math.max(...wa.map((w, i) => Math.max(...w.map((v, k) => Math.abs(v - wb[i][k])))));
    assert.ok(worst < 1e-6, `weights within 1e-6 (float32 vs float64 norm): worst ${worst}`);
  } finally {
    await a.close();
    await b.close();
    release(single, replicated);
  }
});

test('replicaWasmThreads splits the cores between replicas unless DISTILLERY_WASM_THREADS is set', () => {
  assert.equal(replicaWasmThreads(1, 2, {}), undefined, 'one training thread keeps the default');
  assert.equal(replicaWasmThreads(2, 2, {}), 1);
  assert.equal(replicaWasmThreads(2, 8, {}), 4);
  assert.equal(replicaWasmThreads(3, 8, {}), 2);
  assert.equal(replicaWasmThreads(4, 2, {}), 1, 'never below one');
  assert.equal(replicaWasmThreads(2, 8, { [WASM_THREADS_ENV]: '3' }), undefined, 'the variable applies to every replica');
});

test('training threads may run another backend than the stage: the same steps to float tolerance, synced back', async () => {
  const same = student(9);
  const other = student(9);
  const base = { anchors, objective: DEFAULT_OBJECTIVE, clipNorm: 0, thread: true };
  const a = await openDetectorTrainer(same.detector, same.optimizer, base);
  const b = await openDetectorTrainer(other.detector, other.optimizer, { ...base, backend: 'cpu' });
  try {
    assert.deepEqual([a.workerBackend, b.workerBackend, tf.getBackend()], ['wasm', 'cpu', 'wasm']);
    const initial = await weightsOf(other.detector);
    const steps = 3;
    for (let step = 0; step < steps; step++) {
      const [la, lb] = [await a.step(packed(step), 1e-3), await b.step(packed(step), 1e-3)];
      assert.ok(Math.abs(la.total - lb.total) <= 1e-3 * Math.abs(la.total), `step ${step}: loss ${lb.total} on cpu vs ${la.total} on wasm`);
    }
    await a.sync();
    await b.sync();
    const [wa, wb] = [await weightsOf(same.detector), await weightsOf(other.detector)];
    const worst = (x: Float32Array[], y: Float32Array[]): number => Math.max(...x.map((w, i) => Math.max(...w.map((v, k) => Math.abs(v - y[i][k])))));
    assert.ok(worst(wb, initial) > 0, "the cpu thread's training reached the stage's detector");
    // Adam moves a weight by about the learning rate per step whatever its gradient's size, so where a gradient is
    // float noise the two backends may step it either way: within 2 · steps · lr of each other, not bit-equal.
    assert.ok(worst(wa, wb) <= 2 * steps * 1e-3 * 1.05, `weights within Adam's reach of each other: worst difference ${worst(wa, wb)}`);
  } finally {
    await a.close();
    await b.close();
    release(same, other);
  }
  await assert.rejects(openDetectorTrainer(same.detector, same.optimizer, { ...base, thread: false, backend: 'cpu' }), /trainingBackend needs trainingThread: true/);
});

test("trainingBackend 'auto' trains on wasm where the stage runs tensorflow on CPU, else on the stage's backend", () => {
  assert.equal(resolveTrainingBackend('auto', 'tensorflow', false), 'wasm');
  assert.equal(resolveTrainingBackend('auto', 'tensorflow', true), undefined, 'a GPU trains faster than wasm');
  assert.equal(resolveTrainingBackend('auto', 'wasm', false), undefined);
  assert.equal(resolveTrainingBackend('auto', 'cpu', false), undefined);
  assert.equal(resolveTrainingBackend('cpu', 'tensorflow', false), 'cpu', 'a named backend is taken as it is');
  assert.equal(resolveTrainingBackend(undefined, 'tensorflow', false), undefined);
});

test('trainingReplicas > 1 without a training thread is refused', async () => {
  const detector = buildDetector(config, { seed: 1 });
  const optimizer = new ResumableAdam({ learningRate: 1e-3 });
  try {
    await assert.rejects(openDetectorTrainer(detector, optimizer, { thread: false, replicas: 2, anchors, objective: DEFAULT_OBJECTIVE, clipNorm: 0 }), /trainingReplicas > 1 needs trainingThread: true/);
  } finally {
    optimizer.dispose();
    disposeLayersModel(detector.model);
  }
});

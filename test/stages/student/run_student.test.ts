// End-to-end tests of the student stage on MemoryTransport: training, eval, checkpoints + offsets, crash and resume, DLQ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { LocalStore } from '../../../src/io/local_store.ts';
import type { ObjectStore } from '../../../src/io/object_store.ts';
import { readDlqRecord } from '../../../src/messages/dlq.ts';
import { buildDetector, disposeLayersModel } from '../../../src/model/detector.ts';
import { resolveDetectorConfig } from '../../../src/model/detector_config.ts';
import { saveDetector } from '../../../src/model/store_io.ts';
import { readCheckpointLineage } from '../../../src/export/export_model.ts';
import type { StageContext } from '../../../src/stages/stage.ts';
import { runStudentStage, type StudentCheckpointInfo, type StudentStageConfig, type StudentStageHooks } from '../../../src/stages/student/run_student.ts';
import { loadCheckpoint, readLatest } from '../../../src/train/checkpoint.ts';
import { mixSeed, SeededRng } from '../../../src/train/rng.ts';
import type { CompiledTopology, StudentStageOptions } from '../../../src/topology/types.ts';
import { MemoryTransport } from '../../../src/transport/memory.ts';
import { waitForMessages, type OutgoingMessage, type PartitionOffset } from '../../../src/transport/transport.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { makeScenes, writeSplit } from '../../train/fixtures.ts';
import { tempStore } from '../ingest/topology_fixture.ts';
import { initBackend } from '../../../src/backend/backend.ts';
import { DEFAULT_STUDENT, makeSample, publish, sampleMessage, studentStage, studentTopology, tinyStudentConfig, until, weightValues } from './fixtures.ts';

// wasm: the training steps are several times faster than on the cpu backend.
await initBackend('wasm');

const SAMPLES = 'test.samples';
const KEY = `${SAMPLES}:0`;
const PREFIX = 'runs/test/student';

interface Harness {
  store: LocalStore;
  transport: MemoryTransport;
  cleanup: () => Promise<void>;
}

async function harness(): Promise<Harness> {
  const { store, cleanup } = await tempStore();
  const transport = new MemoryTransport();
  return {
    store: store as LocalStore,
    transport,
    cleanup: async () => {
      await transport.close();
      await cleanup();
    },
  };
}

function context(h: Harness, topology: CompiledTopology): StageContext<StudentStageConfig> {
  return { topology, stage: studentStage(topology), store: h.store, transport: h.transport, logger: silentLogger(), signal: new AbortController().signal };
}

/** `n` samples alternating labeled / unlabeled, ids s0…s(n−1). */
async function samples(topology: CompiledTopology, n: number, split?: (i: number) => 'labeled' | 'unlabeled'): Promise<OutgoingMessage[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => sampleMessage(await makeSample(topology, { id: `s${i}`, seed: i + 1, split: split?.(i) ?? (i % 2 === 0 ? 'labeled' : 'unlabeled') }))),
  );
}

async function setup(h: Harness, options: Partial<StudentStageOptions>, messages: OutgoingMessage[], loss?: Partial<CompiledTopology['loss']>): Promise<CompiledTopology> {
  const base = studentTopology(options);
  const topology = loss === undefined ? base : { ...base, loss: { ...base.loss, ...loss } };
  await h.transport.createTopics(Object.values(topology.topics).map((t) => ({ topic: t.name, partitions: t.partitions })));
  if (messages.length > 0) await publish(h.transport, SAMPLES, messages);
  return topology;
}

test('trains `steps` steps on mixed batches, evaluates, checkpoints offsets and commits them; bad samples go to the DLQ', async () => {
  const h = await harness();
  try {
    const evalAnnotations = await writeSplit(h.store, 'test', makeScenes(3));
    const topology = studentTopology();
    const bad: OutgoingMessage[] = [
      { key: 'garbage', value: Uint8Array.from([0x44, 0x53, 0x54, 0x4c, 9, 9, 9, 9, 9, 9]) },
      sampleMessage(await makeSample(topology, { id: 'foreign', seed: 3, anchorConfig: { ratios: [0.5, 1] } })),
    ];
    const good = await samples(topology, 12);
    const messages = [...good.slice(0, 5), bad[0], ...good.slice(5, 9), bad[1], ...good.slice(9)];
    const options = { steps: 6, batchSize: 4, checkpointEvery: 2, evalEvery: 3, evalImages: 2, evalAnnotations };
    await setup(h, options, messages);

    const tensorsBefore = tf.memory().numTensors;
    const perStep: number[] = [];
    const inWorker: number[] = [];
    const checkpoints: Array<StudentCheckpointInfo & { committed: Promise<PartitionOffset[]> }> = [];
    const hooks: StudentStageHooks = {
      onStep: () => {
        perStep.push(tf.memory().numTensors);
        inWorker.push(stage.counters.trainingThreadTensors ?? Number.NaN);
      },
      // Called right after the commit: the group's offsets read now must be the checkpoint's.
      onCheckpoint: (info) => checkpoints.push({ ...info, committed: h.transport.groupOffsets('student', SAMPLES) }),
    };
    const stage = runStudentStage(context(h, studentTopology(options)), hooks);
    const counters = await stage.done;

    assert.equal(tf.memory().numTensors, tensorsBefore, 'the stage frees its model, optimizer and every batch');
    assert.equal(perStep.length, 6);
    // Steps run in the training thread (the default): its count is stable from the first step. The stage's own copy
    // gains the optimizer's moments at the first sync (the checkpoint of step 2) and is stable from then on.
    assert.ok(inWorker.every((n) => n > 0 && n === inWorker[0]), `tensor count in the training thread stable across steps: ${inWorker.join(', ')}`);
    assert.ok(perStep[1] === perStep[0] && perStep.slice(2).every((n) => n === perStep[2]), `tensor count on the stage's thread stable between syncs: ${perStep.join(', ')}`);
    assert.ok(counters.trainingThreadBusy > 0 && counters.trainingThreadBusy <= 1, `training thread busy share ${counters.trainingThreadBusy}`);

    assert.deepEqual(
      [counters.steps, counters.consumed, counters.labeled, counters.unlabeled, counters.dlq, counters.ignored, counters.checkpoints, counters.evals],
      [6, 14, 6, 6, 2, 0, 3, 2],
    );
    assert.deepEqual([counters['batch.labeled'], counters['batch.unlabeled']], [2, 2], 'labeledFraction 0.5 of a batch of 4');
    assert.equal(counters.bufferFresh, 0, 'every sample was trained on');
    // 6 steps × 2 unlabeled slots over 6 unlabeled samples, each trained fresh once: at least 6 slots had no fresh one.
    assert.ok(counters.unlabeledShortfall >= 6 && counters.unlabeledShortfall <= 12, `unlabeled slots without a fresh sample: ${counters.unlabeledShortfall}`);
    assert.ok(counters.starvedSteps >= 3 && counters.starvedSteps <= 6, `steps short of fresh unlabeled samples: ${counters.starvedSteps}`);
    assert.ok(Number.isFinite(counters.waitSeconds) && counters.waitSeconds >= 0, 'time waiting for a batch is counted');

    const history = stage.history;
    assert.deepEqual(history.steps.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
    for (const r of history.steps) {
      assert.ok([r.total, r.focal, r.distillation, r.localization].every(Number.isFinite), `step ${r.step} losses are finite`);
      assert.ok(r.distillation > 0 && r.focal > 0, `step ${r.step} has focal and distillation terms`);
      assert.ok(Math.abs(r.total - (r.focal + r.distillation + r.localization)) < 1e-4 * r.total, 'λ = 1');
    }
    // 2 warm-up steps, then cosine over the remaining 4.
    assert.deepEqual(history.steps.slice(0, 4).map((r) => r.lr), [5e-4, 1e-3, 1e-3, 1e-3 * 0.5 * (1 + Math.cos(Math.PI / 4))], 'warm-up, then cosine decay');
    assert.deepEqual(history.evals.map((e) => [e.step, e.images]), [
      [3, 2],
      [6, 2],
    ]);
    assert.ok(history.evals.every((e) => e.AP >= 0 && e.AP <= 1 && e.AP50 >= e.AP));
    assert.equal(counters.AP, history.evals[1].AP);

    assert.deepEqual(checkpoints.map((c) => c.step), [2, 4, 6]);
    for (const c of checkpoints) {
      assert.deepEqual(await c.committed, [{ partition: 0, offset: c.offsets[KEY] }], `step ${c.step}: committed = checkpointed offsets`);
    }
    assert.deepEqual(checkpoints[2].offsets, { [KEY]: '14' }, 'at the end everything is consumed and trained on');
    assert.deepEqual(await h.transport.groupOffsets('student', SAMPLES), [{ partition: 0, offset: '14' }]);

    const saved = await loadCheckpoint(h.store, PREFIX);
    assert.ok(saved);
    disposeLayersModel(saved.detector.model);
    assert.equal(saved.state.step, 6);
    assert.deepEqual(saved.state.offsets, { [KEY]: '14' });
    assert.equal(typeof saved.state.rng.draw, 'number');
    assert.deepEqual(saved.state.history, JSON.parse(JSON.stringify(history)), 'the checkpoint carries the whole loss and eval history');

    const dlq = (await waitForMessages(h.transport, 'test.dlq', 2)).map((m) => readDlqRecord(m));
    assert.deepEqual(
      dlq.map((d) => [d.key, d.stage, d.errorClass, d.original.offset]),
      [
        ['garbage', 'student', 'MessageDecodeError', '5'],
        ['foreign', 'student', 'SampleMismatchError', '10'],
      ],
    );
    assert.match(dlq[1].errorMessage, /soft labels would not align/);

    // Started again on a finished checkpoint: nothing to do, nothing consumed.
    const again = await runStudentStage(context(h, studentTopology(options))).done;
    assert.deepEqual([again.steps, again.consumed], [6, 0]);
  } finally {
    await h.cleanup();
  }
});

test('a crash after a checkpoint resumes from it: same weights, step, history and offsets, even when the commit was lost', async () => {
  const h = await harness();
  try {
    const options = { steps: 0, batchSize: 4, checkpointEvery: 2, warmupSteps: 0 };
    const topology = await setup(h, options, await samples(studentTopology(), 24));
    const firstRun: StudentCheckpointInfo[] = [];
    const crashing = runStudentStage(context(h, topology), {
      maxFresh: 4,
      onCheckpoint: (info) => firstRun.push(info),
      onStep: (r) => {
        if (r.step === 5) throw new Error('simulated crash');
      },
    });
    await assert.rejects(crashing.done, /simulated crash/);
    assert.deepEqual(firstRun.map((c) => c.step), [2, 4]);
    assert.equal((await readLatest(h.store, PREFIX))?.step, 4, 'no checkpoint after the crash');
    const atFour = firstRun[1].offsets;
    const resumeAt = Number(atFour[KEY]);
    // Four steps of four fresh samples each: at most 16 of the 24 samples were trained on.
    assert.ok(resumeAt > 0 && resumeAt <= 16, `checkpoint 4 holds back to the untrained samples (offset ${resumeAt})`);
    assert.deepEqual(await h.transport.groupOffsets('student', SAMPLES), [{ partition: 0, offset: atFour[KEY] }]);
    // As if the process died between saving and committing: the group is behind the checkpoint.
    await h.transport.setGroupOffsets('student', SAMPLES, [{ partition: 0, offset: '0' }]);

    const saved = await loadCheckpoint(h.store, PREFIX, { step: 4 });
    assert.ok(saved);
    const savedWeights = await weightValues(saved.detector.model);
    disposeLayersModel(saved.detector.model);

    let restored: { step: number; offsets: Record<string, string>; weights: Map<string, Float32Array> } | undefined;
    const restoredWeights: Promise<Map<string, Float32Array>>[] = [];
    const groupAtFirstStep: Promise<PartitionOffset[]>[] = [];
    const resumed = runStudentStage(context(h, topology), {
      onRestored: ({ step, offsets, detector }) => {
        restored = { step, offsets, weights: new Map() };
        restoredWeights.push(weightValues(detector.model));
      },
      onStep: (r) => {
        if (r.step === 5) groupAtFirstStep.push(h.transport.groupOffsets('student', SAMPLES));
      },
    });
    await until(() => resumed.counters.consumed >= 24 - resumeAt && resumed.counters.steps >= 7, 'the resumed run to read its input and train');
    await resumed.stop();
    const counters = await resumed.done;

    assert.ok(restored);
    assert.deepEqual([restored.step, restored.offsets], [4, atFour]);
    assert.deepEqual(await restoredWeights[0], savedWeights, 'weights are the checkpoint’s');
    assert.deepEqual(await groupAtFirstStep[0], [{ partition: 0, offset: atFour[KEY] }], 'the group was seeked to the checkpoint offsets');
    assert.equal(counters.consumed, 24 - resumeAt, 'consumption resumed at the checkpoint offset, not at the stale commit');
    assert.deepEqual(resumed.history.steps.slice(0, 4), (await readHistoryOfFirstRun()).slice(0, 4), 'history continues the first run');
    assert.equal(resumed.history.steps[4].step, 5);
    assert.deepEqual(await h.transport.groupOffsets('student', SAMPLES), [{ partition: 0, offset: '24' }], 'stop checkpoints and commits everything trained on');
    assert.equal((await readLatest(h.store, PREFIX))?.step, counters.steps);

    async function readHistoryOfFirstRun(): Promise<unknown[]> {
      const ckpt = await loadCheckpoint(h.store, PREFIX, { step: 4 });
      assert.ok(ckpt);
      disposeLayersModel(ckpt.detector.model);
      return ckpt.state.history.steps;
    }
  } finally {
    await h.cleanup();
  }
});

test('killed between a checkpoint\'s objects and its manifest: resumes at the previous manifest; every sample trained once except the counted replay window', async (t) => {
  const h = await harness();
  try {
    const n = 24;
    const options = { steps: 0, batchSize: 4, checkpointEvery: 2, warmupSteps: 0 };
    const topology = await setup(h, options, await samples(studentTopology(), n));
    // The process "dies" as it writes the second checkpoint's manifest: its objects are all in the store.
    let manifests = 0;
    const dying: ObjectStore = {
      get: (k) => h.store.get(k),
      head: (k) => h.store.head(k),
      list: (p, o) => h.store.list(p, o),
      delete: (k) => h.store.delete(k),
      describe: () => h.store.describe(),
      put: async (key, body, o) => {
        if (key === `${PREFIX}/latest.json` && ++manifests === 2) throw new Error('killed before the manifest');
        return h.store.put(key, body, o);
      },
    };
    const offsetOf = new Map<string, number>();
    const trainedBy = (into: string[]): StudentStageHooks['onTrained'] => (drawn) => {
      for (const s of drawn) {
        into.push(s.id);
        offsetOf.set(s.id, s.source.offset);
      }
    };
    const tensorsBefore = tf.memory().numTensors;
    const a: string[] = [];
    const saved: StudentCheckpointInfo[] = [];
    const crashing = runStudentStage({ ...context(h, topology), store: dying }, { maxFresh: 4, onTrained: trainedBy(a), onCheckpoint: (c) => saved.push(c) });
    await assert.rejects(crashing.done, /killed before the manifest/);
    assert.deepEqual(saved.map((c) => c.step), [2]);
    assert.equal((await readLatest(h.store, PREFIX))?.step, 2, 'the manifest still names the previous checkpoint');
    assert.ok(await h.store.head(`${PREFIX}/step-4/state.json`), 'the unfinished checkpoint\'s objects are there, unnamed');
    const resumeAt = Number(saved[0].offsets[KEY]);

    const b: string[] = [];
    let restoredAt: Record<string, string> | undefined;
    const resumed = runStudentStage(context(h, topology), { maxFresh: 4, onTrained: trainedBy(b), onRestored: ({ offsets }) => (restoredAt = offsets) });
    await until(() => b.length === n - resumeAt, 'the resumed run to train every sample it read', 60_000);
    await resumed.stop();
    const counters = await resumed.done;

    assert.deepEqual(restoredAt, saved[0].offsets, 'resumed at the manifest\'s offsets, not at the orphaned objects\'');
    assert.equal(new Set(a).size, a.length, 'a run trains a sample for the first time once');
    assert.equal(new Set(b).size, b.length);
    assert.ok(b.every((id) => (offsetOf.get(id) as number) >= resumeAt), 'nothing below the checkpoint offset is trained again');
    // The replay window: exactly the samples the dead run first trained at or above the checkpoint offset.
    const replayed = b.filter((id) => a.includes(id)).sort();
    const window = a.filter((id) => (offsetOf.get(id) as number) >= resumeAt).sort();
    assert.deepEqual(replayed, window);
    assert.ok(replayed.length > 0, 'the crash came after samples past the checkpoint were trained');
    assert.deepEqual(new Set([...a, ...b]).size, n, 'no sample skipped');
    t.diagnostic(`checkpoint offset ${resumeAt} of ${n}; first uses: dead run ${a.length}, resumed run ${b.length}, replayed ${replayed.length}`);
    const final = await loadCheckpoint(h.store, PREFIX);
    assert.ok(final);
    disposeLayersModel(final.detector.model);
    assert.deepEqual(final.state.offsets, { [KEY]: String(n) });
    assert.equal(final.state.extra?.samplesTrained, n, 'the checkpoint counts every sample below its offsets once');
    assert.equal(counters.samplesTrained, n);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'both runs, the dead one too, freed their tensors');
  } finally {
    await h.cleanup();
  }
});

test('a labeled-only student ignores unlabeled samples; distillation "none" trains on hard labels alone', async () => {
  const h = await harness();
  try {
    // Inline training (trainingThread false): the steps run on the stage's thread, with its tensors.
    const options = { steps: 3, batchSize: 4, labeledOnly: true, checkpointEvery: 10, trainingThread: false };
    const topology = await setup(h, options, await samples(studentTopology(), 8), { distillation: 'none' });
    const batches: number[][] = [];
    const perStep: number[] = [];
    const stage = runStudentStage(context(h, topology), {
      onStep: () => {
        batches.push([stage.counters['batch.labeled'], stage.counters['batch.unlabeled']]);
        perStep.push(tf.memory().numTensors);
      },
    });
    const counters = await stage.done;
    assert.ok(perStep.every((n) => n === perStep[0]), `tensor count stable across inline steps: ${perStep.join(', ')}`);
    assert.deepEqual([counters.trainingThreadBusy, counters.trainingThreadTensors], [undefined, undefined], 'no training thread');
    assert.deepEqual([counters.labeled, counters.unlabeled, counters.ignored, counters.bufferUnlabeled], [4, 0, 4, 0]);
    assert.deepEqual(batches, [
      [4, 0],
      [4, 0],
      [4, 0],
    ]);
    assert.ok(stage.history.steps.every((r) => r.distillation === 0 && r.focal > 0));
    assert.deepEqual(await h.transport.groupOffsets('student', SAMPLES), [{ partition: 0, offset: '8' }]);
  } finally {
    await h.cleanup();
  }
});

test('flip augmentation draws from its own checkpointed stream: one draw per sample, none with augment "none", resumed from the checkpoint', async () => {
  const expectedState = (seed: number, draws: number): number => {
    const rng = new SeededRng(mixSeed(seed, 4));
    for (let i = 0; i < draws; i++) rng.next();
    return rng.state;
  };
  for (const augment of ['flip', 'none'] as const) {
    const h = await harness();
    try {
      const topology = await setup(h, { steps: 3, batchSize: 4, checkpointEvery: 10, augment }, await samples(studentTopology(), 8));
      const before = tf.memory().numTensors;
      await runStudentStage(context(h, topology)).done;
      assert.equal(tf.memory().numTensors, before);
      const ckpt = await loadCheckpoint(h.store, PREFIX);
      assert.ok(ckpt);
      disposeLayersModel(ckpt.detector.model);
      assert.equal(ckpt.state.rng.augment, expectedState(5, augment === 'flip' ? 3 * 4 : 0), augment);
      // A resumed run continues that stream: two more steps draw eight more flips (on new samples: the buffer is not saved).
      await publish(h.transport, SAMPLES, await samples(studentTopology(), 8));
      const more = { ...topology, stages: topology.stages.map((st) => (st.kind === 'student' ? { ...st, options: { ...st.options, steps: 5 } } : st)) };
      await runStudentStage(context(h, more)).done;
      const resumed = await loadCheckpoint(h.store, PREFIX);
      assert.ok(resumed);
      disposeLayersModel(resumed.detector.model);
      assert.equal(resumed.state.step, 5);
      assert.equal(resumed.state.rng.augment, expectedState(5, augment === 'flip' ? 5 * 4 : 0), `${augment}, resumed`);
    } finally {
      await h.cleanup();
    }
  }
});

test('stopping a student that is still waiting for its first batch writes no checkpoint', async () => {
  const h = await harness();
  try {
    // Waiting for more than the 2 samples it holds for longer than the test runs.
    const topology = await setup(h, { steps: 0, maxBatchWaitMs: 600_000 }, await samples(studentTopology(), 2));
    const tensorsBefore = tf.memory().numTensors;
    const stage = runStudentStage(context(h, topology));
    await until(() => stage.counters.consumed === 2, 'two samples');
    await stage.stop();
    const counters = await stage.done;
    assert.deepEqual([counters.steps, counters.checkpoints, counters.bufferFresh], [0, 0, 2]);
    assert.equal(await readLatest(h.store, PREFIX), undefined);
    assert.deepEqual(await h.transport.groupOffsets('student', SAMPLES), [{ partition: 0, offset: '-1' }], 'untrained samples stay uncommitted');
    assert.equal(tf.memory().numTensors, tensorsBefore);
  } finally {
    await h.cleanup();
  }
});

test('fewer samples than a batch and nothing more coming: after maxBatchWaitMs it trains on a short batch and commits past them', async () => {
  const h = await harness();
  try {
    // A restarted student with only the stream's tail past its checkpoint is in this state: 3 samples, batches of 8.
    const topology = await setup(h, { steps: 0, batchSize: 8, checkpointEvery: 1, maxBatchWaitMs: 50 }, await samples(studentTopology(), 3));
    const tensorsBefore = tf.memory().numTensors;
    const trained: string[][] = [];
    const stage = runStudentStage(context(h, topology), { onTrained: (s) => trained.push(s.map((x) => x.id)) });
    await until(() => stage.counters.checkpoints >= 1, 'a step on the short batch and its checkpoint');
    await stage.stop();
    const counters = await stage.done;
    assert.deepEqual(trained[0].slice().sort(), ['s0', 's1', 's2'], 'the first step trained all three samples once');
    assert.equal(counters.samplesTrained, 3);
    assert.deepEqual(await h.transport.groupOffsets('student', SAMPLES), [{ partition: 0, offset: '3' }], 'committed past every sample');
    assert.equal(tf.memory().numTensors, tensorsBefore);
  } finally {
    await h.cleanup();
  }
});

test('a long run does not pile listeners onto the stop signal (no MaxListenersExceededWarning)', async () => {
  const h = await harness();
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w.name);
  };
  process.on('warning', onWarning);
  try {
    // More steps than Node's default limit of 10 listeners per event: each step used to add one.
    const options = { steps: 14, batchSize: 2, checkpointEvery: 100, warmupSteps: 0 };
    const topology = await setup(h, options, await samples(studentTopology(), 4), { distillation: 'none' });
    const counters = await runStudentStage(context(h, topology)).done;
    assert.equal(counters.steps, 14);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
    await h.cleanup();
  }
});

test('initFrom: a fresh student starts from exactly the saved weights and records it; its own checkpoint wins on restart', async () => {
  const h = await harness();
  try {
    const save = async (prefix: string, seed: number): Promise<Map<string, Float32Array>> => {
      const d = buildDetector(tinyStudentConfig(), { seed });
      const weights = await weightValues(d.model);
      await saveDetector(d, h.store, prefix);
      disposeLayersModel(d.model);
      return weights;
    };
    const base = await save('models/base', 99);
    const other = await save('models/other', 98);
    const random = buildDetector(tinyStudentConfig(), { seed: DEFAULT_STUDENT.seed });
    assert.notDeepEqual(await weightValues(random.model), base, 'the stage’s own random start differs from the saved model');
    disposeLayersModel(random.model);

    // The fine-tune's own schedule (warm-up 0, peak 2e-4), not the from-scratch one (warm-up 2 up to 1e-3: 5e-4, 1e-3).
    const gentle = { initLearningRate: 2e-4, initWarmupSteps: 0 };
    const topology = await setup(h, { steps: 2, checkpointEvery: 2, initFrom: 'models/base', ...gentle }, await samples(studentTopology(), 8));
    const tensorsBefore = tf.memory().numTensors;
    const started: Array<{ initFrom: string; weights: Promise<Map<string, Float32Array>> }> = [];
    await runStudentStage(context(h, topology), { onInitialized: ({ initFrom, detector }) => started.push({ initFrom, weights: weightValues(detector.model) }) }).done;
    assert.equal(tf.memory().numTensors, tensorsBefore, 'the stage frees the loaded model');
    assert.equal(started.length, 1);
    assert.equal(started[0].initFrom, 'models/base');
    assert.deepEqual(await started[0].weights, base, 'the first step’s weights are the saved model’s');
    const first = await loadCheckpoint(h.store, PREFIX);
    assert.ok(first);
    disposeLayersModel(first.detector.model);
    assert.deepEqual([first.state.step, first.state.extra?.initFrom], [2, 'models/base'], 'the checkpoint records where the weights started');
    assert.equal((await readCheckpointLineage(h.store, PREFIX)).initFrom, 'models/base', 'and the exported model card carries it');
    assertRates(first.state.history.steps.map((r) => r.lr), [2e-4, 1e-4], 'a student started from a model trains on initLearningRate / initWarmupSteps');

    // A restart (as in continuous mode) with initFrom still set, even to another model: the checkpoint wins.
    const restarted = studentTopology({ steps: 4, checkpointEvery: 2, initFrom: 'models/other', ...gentle });
    const more = await Promise.all(Array.from({ length: 8 }, async (_, i) => sampleMessage(await makeSample(restarted, { id: `r${i}`, seed: i + 20, split: i % 2 === 0 ? 'labeled' : 'unlabeled' }))));
    await publish(h.transport, SAMPLES, more);
    let restored: Promise<Map<string, Float32Array>> | undefined;
    let initialized = 0;
    await runStudentStage(context(h, restarted), {
      onRestored: ({ step, detector }) => {
        assert.equal(step, 2);
        restored = weightValues(detector.model);
      },
      onInitialized: () => (initialized += 1),
    }).done;
    assert.equal(initialized, 0, 'initFrom is not loaded over a checkpoint');
    const restoredWeights = await restored;
    assert.ok(restoredWeights);
    assert.notDeepEqual(restoredWeights, other);
    assert.notDeepEqual(restoredWeights, base, 'the checkpoint’s trained weights, not either saved model');
    const last = await loadCheckpoint(h.store, PREFIX);
    assert.ok(last);
    disposeLayersModel(last.detector.model);
    assert.deepEqual([last.state.step, last.state.extra?.initFrom], [4, 'models/base'], 'the resumed run keeps the recorded start');
    // Steps 3 and 4 of a cosine over 4 from 2e-4: a resumed fine-tune keeps the fine-tune's schedule.
    assertRates(last.state.history.steps.slice(2).map((r) => r.lr), [1e-4, 2e-4 * 0.5 * (1 + Math.cos(Math.PI * 0.75))], 'the resumed run keeps the gentler schedule');
    assert.equal(tf.memory().numTensors, tensorsBefore);
  } finally {
    await h.cleanup();
  }
});

function assertRates(actual: number[], expected: number[], message: string): void {
  assert.equal(actual.length, expected.length, message);
  actual.forEach((lr, i) => assert.ok(Math.abs(lr - expected[i]) < 1e-12, `${message}: step ${i + 1} lr ${lr}, expected ${expected[i]}`));
}

test('initFrom: a missing model or another architecture fails the stage with a one-line error, leaking nothing', async () => {
  const h = await harness();
  try {
    const wider = buildDetector(resolveDetectorConfig({ ...tinyStudentConfig(), name: 'wider', stageChannels: [4, 4, 8, 16] }));
    await saveDetector(wider, h.store, 'models/wider');
    disposeLayersModel(wider.model);
    const tensorsBefore = tf.memory().numTensors;
    await assert.rejects(runStudentStage(context(h, await setup(h, { initFrom: 'models/none' }, []))).done, /no saved model at .*models\/none/);
    await assert.rejects(runStudentStage(context(h, studentTopology({ initFrom: 'models/wider' }))).done, /holds 'wider'.*stageChannels: saved \[4,4,8,16\], wanted \[4,4,8,8\]/);
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(await readLatest(h.store, PREFIX), undefined, 'no checkpoint written');
  } finally {
    await h.cleanup();
  }
});

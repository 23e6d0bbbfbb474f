// The main job end to end on a tiny corpus and tiny models: report.html and metrics.json with all three models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { readCocoAnnotations } from '../../src/corpus/index.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import type { MetricsJson } from '../../src/report/index.ts';
import { BUNDLED_TEACHER_KEY, baselineStartLearningRate, chooseStudentInit, compileWithSteps, ensureTeacher, parseStudentInit, runMainJob, stageOf } from '../../src/runner/main_job.ts';
import { compileTopology } from '../../src/topology/index.ts';
import { disposeLayersModel } from '../../src/model/detector.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { saveTinyTeacher } from '../stages/teacher/fixtures.ts';
import { tinyTopologyYaml } from './tiny_topology.ts';

const TOPOLOGY = (root: string): string =>
  tinyTopologyYaml({
    name: 'tiny-main',
    storeRoot: `${root}/store`,
    runDir: `${root}/runs/\${DISTILLERY_RUN_ID:-latest}`,
    steps: 100,
    checkpointPrefix: 'runs/${DISTILLERY_RUN_ID:-latest}/student',
    evalEvery: 10,
  });

const sink = (): { text: string; write(s: string): boolean } => ({
  text: '',
  write(s: string) {
    this.text += s;
    return true;
  },
});

test('run all: generates the corpus, copies the bundled teacher, distils, trains the baseline, writes the report', async () => {
  await initBackend('wasm');
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-main-'));
  try {
    const topologyFile = path.join(root, 'tiny.yaml');
    await writeFile(topologyFile, TOPOLOGY(root));
    const topology = compileTopology(TOPOLOGY(root), 'tiny.yaml', { env: {} });
    const bundled = path.join(root, 'bundled');
    const base = {
      topologyFile,
      // A continuous student (0 = until the pipeline is drained and every sample consumed): a step budget may end
      // the run before every image reached the teacher, by design, which would make the counts below racy.
      steps: 0,
      env: {},
      corpus: { images: { labeled: 4, test: 3, unlabeled: 8 }, imageSize: { min: 64, max: 96 }, letterboxSize: 64, objectSize: { min: 12, max: 40 }, workers: 0 },
      bundledTeacherDir: path.join(bundled, 'teacher'),
      logger: silentLogger(),
    };

    // No teacher anywhere: a one-line error saying how to get one.
    await assert.rejects(runMainJob({ ...base, runId: 'no-teacher', io: { stdout: sink(), stderr: sink() } }), /distillery train teacher/);

    // A teacher already in the store with another anchor layout (e.g. an earlier bundled one): refused before the
    // baseline trains (a step budget trains it first), with what to do.
    const store = new LocalStore({ root: path.join(root, 'store') });
    await saveTinyTeacher(store, 'models/teacher', { config: { ...topology.teacher, anchorSizeFactor: topology.teacher.anchorSizeFactor * 2 } });
    await assert.rejects(
      runMainJob({ ...base, steps: 3, runId: 'other-layout', io: { stdout: sink(), stderr: sink() } }),
      /its anchor layout .* differs from the topology's anchors .* delete its model folder and the main job copies the current one/,
    );
    assert.equal(await store.head('runs/other-layout/baseline/training/latest.json'), undefined, 'no baseline was trained');
    await rm(path.join(root, 'store', 'models', 'teacher'), { recursive: true });

    // A "bundled" teacher whose class 0 fires everywhere, so unlabeled images pass the filter.
    await saveTinyTeacher(new LocalStore({ root: bundled }), 'teacher', { class0Bias: 4, config: topology.teacher });
    const stdout = sink();
    const stderr = sink();
    const before = tf.memory().numTensors;
    const result = await runMainJob({ ...base, runId: 'tiny-1', io: { stdout, stderr } });
    assert.ok(tf.memory().numTensors <= before + 16, `tensors left: ${tf.memory().numTensors - before}`);

    assert.ok(await store.head('models/teacher/model.json'), 'the bundled teacher was copied into the store');
    assert.ok(await store.head('runs/tiny-1/student/latest.json'), 'the student checkpoints per run');
    assert.ok(await store.head('runs/tiny-1/baseline/model.json'), 'the baseline is saved per run');
    assert.equal(result.runDir, path.join(root, 'runs', 'tiny-1'));
    assert.ok((await stat(result.paths.html)).size > 1000);

    const metrics = JSON.parse(await readFile(result.paths.metrics, 'utf8')) as MetricsJson;
    assert.equal(metrics.runId, 'tiny-1');
    for (const role of ['teacher', 'baseline', 'distilled'] as const) {
      const m = metrics.models[role];
      assert.equal(m.parameters, result.report.models[role].parameters, role);
      assert.ok(m.parameters > 0 && m.flopsPerImage > 0, role);
      assert.ok(m.metrics.AP >= 0 && m.metrics.AP <= 1, `${role} AP ${m.metrics.AP}`);
    }
    assert.ok(metrics.models.teacher.parameters > metrics.models.distilled.parameters || topology.teacher.stemChannels === topology.student.stemChannels);
    assert.deepEqual(metrics.filter.rejectedByReason, result.report.filter.rejectedByReason);
    const trained = result.report.models.distilled.history.steps.length;
    assert.ok(trained >= 1, 'the student trained');
    assert.equal(result.report.models.baseline.history.steps.length, trained, 'the baseline trains as many steps as the student');
    assert.ok(result.report.models.baseline.history.evals.length >= 1, 'the baseline has an mAP-over-steps curve');

    // Filter counts agree with the corpus: 4 labeled + 8 unlabeled ingested, each one sample or one rejection.
    const f = result.report.filter;
    const rejected = Object.values(f.rejectedByReason).reduce((s, n) => s + n, 0);
    assert.equal(f.imagesIngested, 12);
    assert.equal(f.samples + rejected, f.imagesIngested);
    assert.equal(f.unlabeled.images, 8);
    const truth = await readCocoAnnotations(store, 'corpus/unlabeled/annotations.json');
    const empty = truth.images.filter((im) => !truth.annotations.some((a) => a.image_id === im.id)).length;
    assert.ok(f.unlabeledByTruth);
    assert.equal(f.unlabeledByTruth.empty.images, empty);
    assert.equal(f.unlabeledByTruth.nonEmpty.images, 8 - empty);
    assert.equal(f.unlabeledByTruth.empty.kept + f.unlabeledByTruth.nonEmpty.kept, f.unlabeled.kept);

    assert.ok(result.report.grid.images.length === 3 && result.report.grid.images.every((g) => g.bytes.length > 0 && g.width >= 64));
    assert.ok(stdout.text.includes('distilled student') && stdout.text.includes('baseline student'), 'summary table printed');
    assert.ok(stdout.text.includes(result.paths.html), 'report path printed');
    assert.ok(stdout.text.includes('distilled student initialised from: random weights'), 'a continuous student starts from random weights');
    assert.deepEqual(metrics.models.distilled.init, { from: 'random' });

    const lastLine = (text: string): string => text.split('\n').filter((l) => /^pipeline \d+ s: /.test(l)).at(-1) ?? '';
    assert.match(lastLine(stderr.text), /teacher 12\/12 images/, 'the corpus manifest gives the progress total');

    // A second run over the same store lists the whole corpus again (ingest cursors of the last run are cleared).
    // Its unlabeled prefix is not the manifest's split key, so the total is unknown: ingest's own count trails the
    // teacher's (it counts a page once all of it was sent) and is no total, so the progress line shows none.
    const stderr2 = sink();
    const again = await runMainJob({
      ...base,
      runId: 'tiny-2',
      baseline: false,
      overrides: ['stages.ingest-unlabeled.options.prefix=corpus/unlabeled/images'],
      io: { stdout: sink(), stderr: stderr2 },
    });
    assert.equal(again.report.filter.imagesIngested, 12);
    assert.equal(again.report.filter.unlabeled.images, 8);
    assert.equal(again.report.models.baseline.metrics.AP, -1, 'a skipped baseline has no metrics');
    assert.match(lastLine(stderr2.text), /teacher 12 images \(/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('run all --student-init baseline: the baseline trains first, the distilled student starts from its weights and says so; a later run starts from that saved model', async () => {
  await initBackend('wasm');
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-main-init-'));
  try {
    const topologyFile = path.join(root, 'tiny.yaml');
    await writeFile(topologyFile, TOPOLOGY(root));
    const topology = compileTopology(TOPOLOGY(root), 'tiny.yaml', { env: {} });
    const bundled = path.join(root, 'bundled');
    await saveTinyTeacher(new LocalStore({ root: bundled }), 'teacher', { class0Bias: 4, config: topology.teacher });
    const base = {
      topologyFile,
      steps: 4,
      env: {},
      corpus: { images: { labeled: 4, test: 3, unlabeled: 8 }, imageSize: { min: 64, max: 96 }, letterboxSize: 64, objectSize: { min: 12, max: 40 }, workers: 0 },
      bundledTeacherDir: path.join(bundled, 'teacher'),
      logger: silentLogger(),
      io: { stdout: sink(), stderr: sink() },
    };
    // Asked for without what it needs: one-line errors before any work.
    await assert.rejects(runMainJob({ ...base, runId: 'no-baseline', studentInit: 'baseline', baseline: false }), /drop --no-baseline/);
    await assert.rejects(runMainJob({ ...base, runId: 'continuous', studentInit: 'baseline', steps: 0 }), /pass --steps N/);

    const stdout = sink();
    const stderr = sink();
    const before = tf.memory().numTensors;
    const result = await runMainJob({ ...base, runId: 'from-baseline', studentInit: 'baseline', io: { stdout, stderr } });
    assert.ok(tf.memory().numTensors <= before + 16, `tensors left: ${tf.memory().numTensors - before}`);

    const store = new LocalStore({ root: path.join(root, 'store') });
    const checkpoint = await loadCheckpoint(store, 'runs/from-baseline/student');
    assert.ok(checkpoint);
    disposeLayersModel(checkpoint.detector.model);
    assert.equal(checkpoint.state.extra?.initFrom, 'runs/from-baseline/baseline', 'the student loaded the baseline saved by this run');
    assert.ok(stderr.text.indexOf('training the labeled-only baseline first') < stderr.text.indexOf('pipeline'), 'the baseline trains before the pipeline starts');
    assert.equal(result.report.models.baseline.history.steps.length, 4, 'the baseline trains the student\'s step budget');
    assert.equal(result.report.models.distilled.history.steps.length, 4);
    // Its own schedule: the baseline-start peak, where the baseline trained at the from-scratch one.
    const peak = (steps: ReadonlyArray<{ lr: number }>): number => Math.max(...steps.map((r) => r.lr));
    const { learningRate, warmupSteps } = stageOf(topology, 'student').options;
    assert.ok(warmupSteps < 4 && learningRate !== baselineStartLearningRate(), 'the 4 steps reach the peak, which differs');
    assertClose(peak(result.report.models.distilled.history.steps), baselineStartLearningRate(), 'distilled student');
    assertClose(peak(result.report.models.baseline.history.steps), learningRate, 'baseline');
    // A topology's own initLearningRate (here from --set) wins over the main job's.
    const own = await runMainJob({ ...base, runId: 'own-lr', studentInit: 'baseline', overrides: ['stages.student.options.initLearningRate=0.0001'] });
    assertClose(peak(own.report.models.distilled.history.steps), 1e-4, 'initLearningRate from --set');

    const init = { from: 'baseline', key: 'runs/from-baseline/baseline' };
    assert.deepEqual(result.report.models.distilled.init, init);
    const metrics = JSON.parse(await readFile(result.paths.metrics, 'utf8')) as MetricsJson;
    assert.deepEqual(metrics.models.distilled.init, init);
    assert.ok(stdout.text.includes('distilled student initialised from: the labeled-only baseline (runs/from-baseline/baseline)'), stdout.text);
    assert.ok((await readFile(result.paths.html, 'utf8')).includes('The distilled student started from the labeled-only baseline (runs/from-baseline/baseline).'));

    // A later run starts from that saved baseline without retraining one (e.g. a long run after a short one).
    await assert.rejects(runMainJob({ ...base, runId: 'from-missing', studentInit: { model: 'runs/nothing/here' }, baseline: false }), /--student-init runs\/nothing\/here: no saved model there/);
    const later = await runMainJob({ ...base, runId: 'from-model', studentInit: { model: 'runs/from-baseline/baseline' }, baseline: false, io: { stdout: sink(), stderr: sink() } });
    const laterCheckpoint = await loadCheckpoint(store, 'runs/from-model/student');
    assert.ok(laterCheckpoint);
    disposeLayersModel(laterCheckpoint.detector.model);
    assert.equal(laterCheckpoint.state.extra?.initFrom, 'runs/from-baseline/baseline');
    assert.deepEqual(later.report.models.distilled.init, { from: 'model', key: 'runs/from-baseline/baseline' });
    assert.equal(later.report.models.baseline.history.steps.length, 0, '--no-baseline: no baseline trained');
    assertClose(peak(later.report.models.distilled.history.steps), baselineStartLearningRate(), 'student from a saved model');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("a student started from the baseline gets its preset's peak learning rate, the baseline the stage's", async () => {
  const compiled = async (overrides: string[]) => {
    const t = await compileWithSteps('topologies/embedded.yaml', {}, overrides, 300, 'runs/x/baseline');
    const { learningRate, initLearningRate, initFrom, steps } = stageOf(t, 'student').options;
    return { learningRate, initLearningRate, initFrom, steps };
  };
  // The embedded default is student-large, at 4e-3: at 8e-3 two of three seeds of its baseline did not train (docs/results.md).
  assert.deepEqual(await compiled([]), { learningRate: 4e-3, initLearningRate: 4e-3, initFrom: 'runs/x/baseline', steps: 300 });
  assert.equal(baselineStartLearningRate('student-large'), 4e-3);
  assert.deepEqual(await compiled(['model.student.preset=student']), { learningRate: 8e-3, initLearningRate: 8e-3, initFrom: 'runs/x/baseline', steps: 300 });
  // The topology's own rates win.
  assert.deepEqual(await compiled(['stages.student.options.learningRate=0.002', 'stages.student.options.initLearningRate=0.001']), {
    learningRate: 0.002,
    initLearningRate: 0.001,
    initFrom: 'runs/x/baseline',
    steps: 300,
  });
});

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: peak learning rate ${actual}, expected ${expected}`);
}

test('the default start is the baseline where there is one to train first (a step budget, no --no-baseline), else random', () => {
  assert.equal(chooseStudentInit(undefined, 2000, true), 'baseline');
  assert.equal(chooseStudentInit(undefined, 0, true), 'random', 'a continuous student has no budget to train the baseline for first');
  assert.equal(chooseStudentInit(undefined, 2000, false), 'random');
  assert.equal(chooseStudentInit('random', 2000, true), 'random');
  assert.throws(() => chooseStudentInit('baseline', 2000, false), /drop --no-baseline/);
  assert.throws(() => chooseStudentInit('baseline', 0, true), /pass --steps N/);
  assert.deepEqual(chooseStudentInit({ model: 'runs/a/baseline' }, 0, false), { model: 'runs/a/baseline' }, 'a saved model needs neither');
  assert.deepEqual([parseStudentInit('random'), parseStudentInit('baseline'), parseStudentInit('runs/a/baseline/')], ['random', 'baseline', { model: 'runs/a/baseline' }]);
  assert.throws(() => parseStudentInit(' '), /needs 'random', 'baseline' or the store prefix/);
});

test('the bundled teacher seeds only its own key: another missing checkpoint is an error, and nothing is written', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-ensure-'));
  try {
    const bundled = path.join(root, 'bundled');
    await mkdir(bundled);
    await writeFile(path.join(bundled, 'model.json'), '{"weightsManifest": []}');
    await writeFile(path.join(bundled, 'group1-shard1of1.bin'), new Uint8Array([1, 2, 3]));
    const store = new LocalStore({ root: path.join(root, 'store') });
    await assert.rejects(
      ensureTeacher(store, 'models/teacher-misspelt', bundled, 'mine.yaml'),
      /no teacher at .*models\/teacher-misspelt\/model\.json .*copied only to models\/teacher: check the key, or train one there with `distillery train teacher --topology mine\.yaml --out models\/teacher-misspelt`/,
    );
    assert.deepEqual((await store.list('models/')).objects, []);
    await ensureTeacher(store, `${BUNDLED_TEACHER_KEY}/`, bundled, 'mine.yaml');
    assert.deepEqual((await store.list('models/')).objects.map((o) => o.key).sort(), ['models/teacher/group1-shard1of1.bin', 'models/teacher/model.json']);
    // A checkpoint that exists is used as it is, whatever its key.
    await store.put('models/mine/model.json', new Uint8Array([0]));
    await ensureTeacher(store, 'models/mine', bundled, 'mine.yaml');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

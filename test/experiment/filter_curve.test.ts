// The filter curve: keep rates by hidden truth over τ, the goal, per-class calibration, and `distillery filter-curve` on a tiny corpus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { runFilterCurve, type FilterCurveReport } from '../../src/cli/filter_curve.ts';
import { generateCorpus } from '../../src/corpus/index.ts';
import { aucByObjectCount, calibratePerClass, emptyVsNonEmptyAuc, filterCurve, keepRates, meetsGoal, splitHalves, tauMeetingGoal, type ImageScores } from '../../src/experiment/filter_curve.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { compileTopology } from '../../src/topology/index.ts';
import { saveTinyTeacher } from '../stages/teacher/fixtures.ts';
import { tinyTopologyYaml } from '../runner/tiny_topology.ts';

const image = (key: string, objects: number, classMax: number[]): ImageScores => ({ key, objects, classMax });

test('keep rates count an image as kept when any class reaches its τ, split by hidden truth', () => {
  const images = [image('a', 0, [0.6, 0.1]), image('b', 0, [0.2, 0.3]), image('c', 2, [0.1, 0.7]), image('d', 1, [0.45, 0])];
  assert.deepEqual(keepRates(images, 0.5), { emptyKept: 1, empty: 2, nonEmptyKept: 1, nonEmpty: 2 });
  assert.deepEqual(keepRates(images, [0.7, 0.3]), { emptyKept: 1, empty: 2, nonEmptyKept: 1, nonEmpty: 2 });
  assert.deepEqual(keepRates(images, [0.4, 0.8]), { emptyKept: 1, empty: 2, nonEmptyKept: 1, nonEmpty: 2 });
  const curve = filterCurve(images, [0.3, 0.5, 0.65]);
  assert.deepEqual(
    curve.map((p) => [p.tau, p.emptyKept, p.nonEmptyKept]),
    [
      [0.3, 2, 2],
      [0.5, 1, 1],
      [0.65, 0, 1],
    ],
  );
});

test('the goal (≤ 20% empty, ≥ 90% non-empty kept) and the smallest τ meeting it', () => {
  assert.equal(meetsGoal({ emptyKept: 2, empty: 10, nonEmptyKept: 9, nonEmpty: 10 }), true);
  assert.equal(meetsGoal({ emptyKept: 3, empty: 10, nonEmptyKept: 10, nonEmpty: 10 }), false);
  assert.equal(meetsGoal({ emptyKept: 0, empty: 10, nonEmptyKept: 8, nonEmpty: 10 }), false);
  // Eight empty images below 0.5 and two at 0.9; nine non-empty ones at 0.6 … 0.92 and one at 0.2.
  const images = [
    ...Array.from({ length: 8 }, (_, i) => image(`e${i}`, 0, [0.1 + i * 0.05])),
    image('e8', 0, [0.9]),
    image('e9', 0, [0.9]),
    ...Array.from({ length: 9 }, (_, i) => image(`n${i}`, 1 + i, [0.6 + i * 0.04])),
    image('n9', 1, [0.2]),
  ];
  assert.equal(tauMeetingGoal(filterCurve(images, [0.3, 0.5, 0.95])), 0.5);
  assert.equal(tauMeetingGoal(filterCurve(images, [0.3, 0.95])), undefined);
});

test('per-class τ: the fewest empty images kept among the combinations keeping ≥ 90% of non-empty ones', () => {
  // Empty images fire on class 1 at 0.7; objects score 0.6 on class 0 and 0.5 on class 1: no single τ separates them.
  const images = [
    ...Array.from({ length: 5 }, (_, i) => image(`e${i}`, 0, [0.1, 0.7])),
    ...Array.from({ length: 5 }, (_, i) => image(`n${i}`, 1, [0.6, 0.5])),
  ];
  const grid = [0.5, 0.6, 0.7, 0.8];
  assert.equal(tauMeetingGoal(filterCurve(images, grid)), undefined);
  assert.deepEqual(calibratePerClass(images, grid), [0.5, 0.8]);
  assert.deepEqual(keepRates(images, [0.5, 0.8]), { emptyKept: 0, empty: 5, nonEmptyKept: 5, nonEmpty: 5 });
  // Nothing keeps 90% of the objects when they all score below the grid.
  assert.equal(calibratePerClass([image('e', 0, [0.9, 0]), image('n', 1, [0.1, 0.1])], grid), undefined);
  assert.throws(() => calibratePerClass([image('a', 1, new Array<number>(12).fill(0.5))], grid), /4\^12 combinations/);
});

test('the AUC of the best score: the chance a non-empty image outscores an empty one, ties ½', () => {
  const images = [image('e1', 0, [0.2]), image('e2', 0, [0.6]), image('n1', 1, [0.6]), image('n2', 3, [0.9, 0.1])];
  // n1 beats e1 and ties e2 (1.5), n2 beats both (2): 3.5 of 4 pairs.
  assert.equal(emptyVsNonEmptyAuc(images), 3.5 / 4);
  assert.equal(emptyVsNonEmptyAuc(images, (im) => -Math.max(...im.classMax)), 0.5 / 4);
  assert.ok(Number.isNaN(emptyVsNonEmptyAuc([image('e', 0, [0.1])])));
});

test('the AUC by object count compares each group with all empty images', () => {
  const images = [image('e1', 0, [0.2]), image('e2', 0, [0.6]), image('one', 1, [0.4]), image('two', 2, [0.9]), image('five', 5, [0.1]), image('four', 4, [0.7])];
  assert.deepEqual(aucByObjectCount(images), [0.5, 1, Number.NaN, 0.5]);
  assert.deepEqual(aucByObjectCount(images, 2), [0.5, 4 / 6]);
});

test('halves alternate in key order, so both hold every kind of image', () => {
  const images = ['d', 'a', 'c', 'b'].map((k, i) => image(k, i % 2, [0]));
  const { calibration, heldOut } = splitHalves(images);
  assert.deepEqual(calibration.map((i) => i.key), ['a', 'c']);
  assert.deepEqual(heldOut.map((i) => i.key), ['b', 'd']);
});

test('distillery filter-curve: runs the teacher over a tiny corpus once, prints the curve, and reuses saved scores', async () => {
  await initBackend('wasm');
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-filter-curve-'));
  try {
    const yaml = tinyTopologyYaml({ name: 'tiny-filter', storeRoot: path.join(root, 'store'), steps: 1, checkpointPrefix: 'runs/x/student', evalEvery: 0 });
    const topologyFile = path.join(root, 'tiny.yaml');
    await writeFile(topologyFile, yaml);
    const topology = compileTopology(yaml, topologyFile, { env: {} });
    const store = new LocalStore({ root: path.join(root, 'store') });
    const io = (): { stdout: { text: string; write(t: string): boolean }; stderr: { text: string; write(t: string): boolean } } => {
      const sink = () => ({ text: '', write(t: string) { this.text += t; return true; } });
      return { stdout: sink(), stderr: sink() };
    };
    // No corpus yet: a clear error naming the missing truth.
    await saveTinyTeacher(store, 'models/teacher', { config: topology.teacher });
    await assert.rejects(runFilterCurve({ topology: topologyFile, limit: 0 }, io()), /corpus\/unlabeled\/annotations\.json: not found/);

    const manifest = await generateCorpus(store, { prefix: 'corpus', images: { labeled: 2, test: 2, unlabeled: 10 }, emptyShare: 0.4, imageSize: { min: 64, max: 96 }, letterboxSize: 64, objectSize: { min: 12, max: 40 }, workers: 0 });
    // --out into a folder that does not exist yet: created, as `detect --out` does.
    const out = path.join(root, 'reports', 'filter', 'curve.json');
    const first = io();
    const before = tf.memory().numTensors;
    const report = await runFilterCurve({ topology: topologyFile, limit: 0, taus: [0.3, 0.5, 0.7], out }, first);
    assert.equal(tf.memory().numTensors, before);
    assert.equal(report.images, 10);
    assert.equal(report.curve.length, 3);
    for (const p of report.curve) {
      assert.equal(p.empty, manifest.splits.unlabeled.emptyImages);
      assert.equal(p.empty + p.nonEmpty, 10);
    }
    // Raising τ never keeps more images.
    for (let i = 1; i < report.curve.length; i++) assert.ok(report.curve[i].emptyKept + report.curve[i].nonEmptyKept <= report.curve[i - 1].emptyKept + report.curve[i - 1].nonEmptyKept);
    assert.deepEqual(report.current.rates, keepRates(report.scores, 0.5));
    assert.match(first.stdout.text, /\| τ \| empty images kept \| non-empty images kept \| meets the goal \|/);
    assert.match(first.stdout.text, /\| 0\.5 \| \d+\.\d% \| \d+\.\d% \| (yes|no) \|/);
    assert.match(first.stdout.text, /ROC AUC of the best detection score, non-empty vs empty: \d\.\d{3}/);
    assert.match(first.stdout.text, /The same AUC by the image's number of objects: 1: (\d\.\d{3}|n\/a), 2: .*, ≥ 4: (\d\.\d{3}|n\/a)\./);
    assert.equal(report.aucByObjects.length, 4);
    assert.match(first.stdout.text, /Topology's filter \(hardLabel 0\.5\): empty kept/);

    // τ from the labeled test split alone (in the shifted look), reported on the unlabeled images.
    const calibrated = io();
    const withTau = await runFilterCurve({ topology: topologyFile, limit: 0, taus: [0.3, 0.5, 0.7], scores: out, calibrate: 'corpus/test/annotations.json', calibrateLook: 'shift' }, calibrated);
    assert.equal(withTau.labeledTau?.images, 2);
    assert.equal(withTau.labeledTau?.look, 'shift');
    assert.deepEqual(withTau.labeledTau?.unlabeled, keepRates(report.scores, withTau.labeledTau?.tau ?? Number.NaN));
    assert.match(calibrated.stdout.text, /τ chosen on labeled images only \(corpus\/test\/annotations\.json, 2 images, in the unlabeled domain's look; the largest keeping 90% of them\): \d\.\d{3}; on the unlabeled images it keeps empty kept/);
    await assert.rejects(runFilterCurve({ topology: topologyFile, limit: 0, scores: out, calibrate: 'corpus/nowhere.json' }, io()), /corpus\/nowhere\.json/);

    const again = await runFilterCurve({ topology: topologyFile, limit: 0, taus: [0.3, 0.5, 0.7], scores: out }, io());
    assert.deepEqual(again.curve, report.curve);
    const saved = JSON.parse(await readFile(out, 'utf8')) as FilterCurveReport;
    assert.equal(saved.scores.length, 10);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

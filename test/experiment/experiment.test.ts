// The ablation runner: samples file format, row selection, statistics, and `distillery experiment` end to end on a tiny corpus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../../src/backend/backend.ts';
import { main } from '../../src/cli/program.ts';
import type { ExperimentReport } from '../../src/cli/experiment.ts';
import { generateCorpus } from '../../src/corpus/index.ts';
import { EXPERIMENT_ROWS, experimentRow, meanStd, recordsFor, rowLearningRate, rowStudentConfig, summarizeRows, type CellResult } from '../../src/experiment/experiment.ts';
import { PRESETS } from '../../src/model/detector_config.ts';
import { decodeSampleRecords, encodeSampleRecords, readSampleRecords, type SampleRecord } from '../../src/experiment/samples_file.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { compileTopology } from '../../src/topology/index.ts';
import { saveTinyTeacher } from '../stages/teacher/fixtures.ts';
import { tinyTopologyYaml } from '../runner/tiny_topology.ts';

const record = (key: string, split: SampleRecord['split'], hard: number, bytes = [1, 2, 3]): SampleRecord => ({ key, value: Uint8Array.from(bytes), split, hard, objectKey: `img/${key}.jpg` });

test('samples files round-trip byte for byte and reject truncation and foreign files', () => {
  const records = [record('1', 'labeled', 2), record('u/a', 'unlabeled', 0, []), record('u/b', 'unlabeled', 3, Array.from({ length: 300 }, (_, i) => i % 256))];
  const bytes = encodeSampleRecords(records);
  assert.deepEqual(decodeSampleRecords(bytes), records);
  assert.throws(() => decodeSampleRecords(bytes.subarray(0, bytes.length - 1), 'f.bin'), /f\.bin: truncated at byte \d+ \(value of 300 bytes\)/);
  assert.throws(() => decodeSampleRecords(new TextEncoder().encode('hello'), 'g.bin'), /g\.bin: not a distillery samples file/);
});

test('rows select labeled samples always, and unlabeled ones by the filter setting', () => {
  const records = [record('1', 'labeled', 1), record('2', 'labeled', 0), record('u1', 'unlabeled', 0), record('u2', 'unlabeled', 2), record('t', 'test', 1)];
  const keys = (id: string): string[] => recordsFor(experimentRow(id), records).map((r) => r.key);
  assert.deepEqual(keys('labeled-only'), ['1', '2']);
  assert.deepEqual(keys('adl'), ['1', '2']);
  assert.deepEqual(keys('adl-unfiltered'), ['1', '2', 'u1', 'u2']);
  assert.deepEqual(keys('adl-filtered'), ['1', '2', 'u2']);
  assert.deepEqual(keys('sad-noflip'), ['1', '2', 'u2']);
  assert.throws(() => experimentRow('sad'), /unknown experiment row 'sad' \(expected one of labeled-only, kl, fdl, adl, adl-unfiltered, adl-filtered, sad-noflip, sad-large, labeled-only-large\)/);
  assert.deepEqual(
    EXPERIMENT_ROWS.map((r) => r.distillation),
    ['none', 'kld', 'fdl', 'adl', 'adl', 'adl', 'adl', 'adl', 'none'],
  );
  // Every row names its student: the table is the same whatever the topology's default student is.
  assert.deepEqual(
    EXPERIMENT_ROWS.map((r) => [r.augment, r.preset]),
    [
      ...Array.from({ length: 6 }, () => [undefined, 'student']),
      ['none', 'student'],
      [undefined, 'student-large'],
      [undefined, 'student-large'],
    ],
  );
});

test("a row with its own preset trains at that preset's peak learning rate, the others at the topology's", () => {
  const yaml = tinyTopologyYaml({ name: 'tiny-lr', storeRoot: 'store', steps: 3, checkpointPrefix: 'runs/x/student', evalEvery: 0 });
  const topology = compileTopology(yaml, 'tiny.yaml', { env: {} });
  assert.equal(rowLearningRate(topology, experimentRow('adl-filtered')), 0.001, "the tiny topology's own rate");
  assert.equal(rowLearningRate(topology, experimentRow('sad-large')), 4e-3);
  assert.equal(rowLearningRate(topology, experimentRow('labeled-only-large')), 4e-3);
  // A topology whose student already is student-large keeps its own rate for those rows too.
  const large = compileTopology(yaml, 'tiny.yaml', { env: {}, overrides: ['model.student.preset=student-large'] });
  assert.equal(rowLearningRate(large, experimentRow('sad-large')), 0.001);
  assert.equal(rowLearningRate(large, experimentRow('adl-filtered')), 8e-3, 'a student row under a student-large topology');
  // The row of the topology's own preset keeps the topology's architecture; another preset's row builds that preset.
  assert.equal(rowStudentConfig(topology, experimentRow('adl-filtered')), topology.student);
  assert.equal(rowStudentConfig(large, experimentRow('sad-large')), large.student);
  assert.equal(rowStudentConfig(large, experimentRow('adl-filtered')).name, 'student');
  assert.deepEqual(rowStudentConfig(large, experimentRow('adl-filtered')).stageChannels, PRESETS.student.stageChannels);
});

test('mean and sample standard deviation per row, in table order', () => {
  assert.deepEqual(meanStd([1]), { mean: 1, std: 0 });
  const s = meanStd([1, 2, 3, 4]);
  assert.equal(s.mean, 2.5);
  assert.ok(Math.abs(s.std - Math.sqrt(5 / 3)) < 1e-12);
  const cell = (row: string, seed: number, AP: number): CellResult => ({ row, seed, steps: 1, AP, AP50: 2 * AP, seconds: 10, labeledSamples: 4, unlabeledSamples: 0, curve: [], losses: [] });
  const rows = summarizeRows([cell('adl', 1, 0.2), cell('labeled-only', 1, 0.1), cell('adl', 2, 0.4)]);
  assert.deepEqual(rows.map((r) => [r.row.id, r.n]), [['labeled-only', 1], ['adl', 2]]);
  assert.ok(Math.abs(rows[1].AP.mean - 0.3) < 1e-12 && Math.abs(rows[1].AP50.mean - 0.6) < 1e-12);
});

test('distillery experiment: labels once, trains each row × seed in child processes, writes the table', async () => {
  await initBackend('wasm');
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-experiment-'));
  try {
    const yaml = tinyTopologyYaml({ name: 'tiny-experiment', storeRoot: path.join(root, 'store'), steps: 3, checkpointPrefix: 'runs/x/student', evalEvery: 0 });
    const topologyFile = path.join(root, 'tiny.yaml');
    await writeFile(topologyFile, yaml);
    const topology = compileTopology(yaml, topologyFile, { env: {} });
    const store = new LocalStore({ root: path.join(root, 'store') });
    await generateCorpus(store, { prefix: 'corpus', images: { labeled: 4, test: 3, unlabeled: 8 }, imageSize: { min: 64, max: 96 }, letterboxSize: 64, objectSize: { min: 12, max: 40 }, workers: 0 });
    // Class 0 fires everywhere, so the filter keeps the unlabeled images.
    await saveTinyTeacher(store, 'models/teacher', { class0Bias: 4, config: topology.teacher });

    const out = path.join(root, 'out');
    let stdout = '';
    let stderr = '';
    const write = process.stdout.write.bind(process.stdout);
    const writeErr = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((chunk: string | Uint8Array) => {
      stdout += chunk.toString();
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    }) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(['node', 'distillery', 'experiment', '--topology', topologyFile, '--steps', '2', '--seeds', '2', '--rows', 'labeled-only,adl-unfiltered,adl-filtered', '--jobs', '2', '--eval-every', '1', '--out', out]);
    } finally {
      process.stdout.write = write;
      process.stderr.write = writeErr;
    }
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.match(stderr, /labeling the labeled and unlabeled splits with the teacher \(filter off\)/);

    const report = JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as ExperimentReport;
    assert.deepEqual(report.seeds, [1, 2]);
    assert.deepEqual(report.labeling.labeled, 4);
    assert.deepEqual(report.labeling.unlabeled, 8);
    assert.equal(report.cells.length, 6);
    for (const c of report.cells) {
      assert.equal(c.steps, 2);
      assert.deepEqual(c.curve.map((e) => e.step), [1, 2], 'evaluated every step and at the end');
      assert.deepEqual(c.losses.map((l) => l.step), [1, 2]);
      assert.equal(c.labeledSamples, 4);
      assert.ok(c.AP >= 0 && c.AP <= 1 && c.AP50 >= c.AP, JSON.stringify(c));
    }
    const records = await readSampleRecords(path.join(out, 'samples.bin'));
    const kept = records.filter((r) => r.split === 'unlabeled' && r.hard > 0).length;
    assert.equal(report.labeling.unlabeledKept, kept);
    const used = Object.fromEntries(report.rows.map((r) => [r.row.id, r.unlabeledSamples]));
    assert.deepEqual(used, { 'labeled-only': 0, 'adl-unfiltered': 8, 'adl-filtered': kept });
    const table = await readFile(path.join(out, 'results.md'), 'utf8');
    assert.match(table, /\| teacher \(bundled checkpoint, one model\) \|/);
    assert.match(table, /\| \+ ADL, unlabeled data, filtered \(full SAD\) \| \d\.\d{3} ± \d\.\d{3} \|/);
    assert.match(stdout, /\[6\/6\]/);
    // Cell checkpoints are removed once their result is written.
    assert.deepEqual((await store.list('experiments/')).objects, []);

    // A second experiment reuses the labels, and a row with another student preset reports that student's FLOPs.
    const out2 = path.join(root, 'out2');
    process.stdout.write = (() => true) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    }) as typeof process.stderr.write;
    try {
      code = await main(['node', 'distillery', 'experiment', '--topology', topologyFile, '--steps', '1', '--seeds', '1', '--rows', 'sad-large', '--jobs', '1', '--samples', path.join(out, 'samples.bin'), '--out', out2]);
    } finally {
      process.stdout.write = write;
      process.stderr.write = writeErr;
    }
    assert.equal(code, 0, stderr);
    assert.match(stderr, /reusing the teacher's samples of/);
    const second = JSON.parse(await readFile(path.join(out2, 'results.json'), 'utf8')) as ExperimentReport;
    assert.equal(second.labeling.seconds, 0);
    assert.equal(second.labeling.unlabeledKept, kept);
    assert.ok((second.student.byRow?.['sad-large'] ?? 0) > second.student.flopsPerImage, 'student-large costs more than the topology student');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

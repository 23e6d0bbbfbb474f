// `distillery detect` with the bundled teacher on generated corpus images: scorable results, per-image errors, drawings, JSON lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../../src/backend/backend.ts';
import { runDetect } from '../../src/cli/detect.ts';
import { generateCorpus } from '../../src/corpus/generate.ts';
import { evaluateCoco } from '../../src/eval/coco_eval.ts';
import { evaluateDetector } from '../../src/eval/evaluate_detector.ts';
import { parseCocoDetections, parseCocoGroundTruth } from '../../src/eval/coco_types.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { disposeLayersModel } from '../../src/model/detector.ts';
import { loadDetector } from '../../src/model/store_io.ts';
import { loadCocoDataset } from '../../src/train/dataset.ts';

await initBackend('cpu');

const TEACHER = path.resolve('models/teacher');

/** Captures what the command writes. */
function buffers(): { io: { stdout: { write(t: string): boolean }; stderr: { write(t: string): boolean } }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (t) => ((out += t), true) }, stderr: { write: (t) => ((err += t), true) } },
    out: () => out,
    err: () => err,
  };
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-detect-'));
const corpus = path.join(dir, 'corpus');
await generateCorpus(new LocalStore({ root: corpus }), { seed: 11, images: { labeled: 1, test: 6, unlabeled: 1 }, workers: 0 });
const images = path.join(corpus, 'test', 'images');
const annotations = path.join(corpus, 'test', 'annotations.json');
const gt = parseCocoGroundTruth(JSON.parse(await readFile(annotations, 'utf8')));

test.after(() => rm(dir, { recursive: true, force: true }));

test('results score with the evaluator, equal the evaluation path, and a corrupt image is one error line', async () => {
  // A truncated JPEG among the inputs: it must be reported and the other images still processed.
  const first = (await readdir(images)).sort()[0];
  const withBad = path.join(dir, 'with-bad');
  await mkdir(withBad);
  for (const f of await readdir(images)) await copyFile(path.join(images, f), path.join(withBad, f));
  await writeFile(path.join(withBad, 'broken.jpg'), (await readFile(path.join(images, first))).subarray(0, 300));
  const out = path.join(dir, 'results.json');
  const draw = path.join(dir, 'drawn');
  const b = buffers();

  const before = tf.memory().numTensors;
  const summary = await runDetect([withBad], { model: TEACHER, out, annotations, draw, batchSize: 4 }, b.io);
  assert.equal(tf.memory().numTensors, before, 'detect leaves no tensors behind');

  assert.deepEqual({ images: summary.images, errors: summary.errors }, { images: 6, errors: 1 });
  const errorLines = b.err().split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errorLines.length, 1, b.err());
  assert.match(errorLines[0], /^error: broken\.jpg: corrupt-image: /);

  const results = parseCocoDetections(JSON.parse(await readFile(out, 'utf8')));
  assert.equal(results.length, summary.detections);
  const metrics = evaluateCoco(gt, results);
  assert.ok(metrics.AP > 0.1, `the bundled teacher scores on its own benchmark (AP ${metrics.AP})`);

  // Same boxes as the evaluation path (dataset loader → evaluateDetector), i.e. mapped back to original pixels alike.
  const store = new LocalStore({ root: path.join(corpus, 'test') });
  const teacher = await loadDetector(new LocalStore({ root: TEACHER }), '');
  try {
    const dataset = await loadCocoDataset(store, 'annotations.json', { inputSize: teacher.config.inputSize });
    const reference = await evaluateDetector(teacher, dataset);
    assert.ok(Math.abs(reference.metrics.AP - metrics.AP) < 1e-9, `AP ${metrics.AP} vs evaluateDetector ${reference.metrics.AP}`);
    const categoryIds = dataset.categories.categoryIds;
    for (const [id, dets] of reference.detections) {
      const mine = results.filter((r) => r.image_id === id);
      assert.equal(mine.length, dets.length, `image ${id}`);
      dets.forEach((d, i) => {
        assert.equal(mine[i].category_id, categoryIds[d.classId]);
        assert.ok(Math.abs(mine[i].bbox[0] - d.box[0]) < 1e-3 && Math.abs(mine[i].bbox[2] - (d.box[2] - d.box[0])) < 1e-3, `image ${id} box ${i}`);
      });
    }
  } finally {
    disposeLayersModel(teacher.model);
  }

  const drawn = (await readdir(draw)).sort();
  assert.equal(drawn.length, 6, 'one drawing per processed image');
  for (const f of drawn) {
    const meta = await sharp(path.join(draw, f)).metadata();
    const entry = gt.images.find((im) => im.file_name?.endsWith(f));
    assert.ok(entry, f);
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', entry.width, entry.height], `${f} is a decodable image at the original size`);
  }
});

test('JSON lines carry the same entries; --threshold drops lower scores; a missing model is a clear error', async () => {
  const json = path.join(dir, 'all.json');
  const jsonl = path.join(dir, 'all.jsonl');
  await runDetect([images], { model: TEACHER, out: json, annotations }, buffers().io);
  await runDetect([images], { model: TEACHER, out: jsonl, annotations }, buffers().io);
  const a = JSON.parse(await readFile(json, 'utf8')) as Array<{ score: number }>;
  const lines = (await readFile(jsonl, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { score: number });
  assert.deepEqual(lines, a);

  const b = buffers();
  await runDetect([images], { model: TEACHER, threshold: 0.5 }, b.io);
  const high = JSON.parse(b.out()) as Array<{ score: number; image_id: number; file_name: string }>;
  assert.ok(high.length > 0 && high.length < a.length && high.every((r) => r.score > 0.5), `${high.length} of ${a.length} above 0.5`);
  assert.ok(high.every((r) => typeof r.file_name === 'string'), 'without --annotations each entry names its file');

  await assert.rejects(runDetect([images], { model: path.join(dir, 'nowhere') }, buffers().io), /no such file or directory/);
  await assert.rejects(runDetect([images], { model: corpus }, buffers().io), /no model here/);
});

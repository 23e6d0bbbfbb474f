// Tests for post-processing: equality with per-class tfjs NMS (every strategy, random and bundled-teacher outputs), threshold, top-k per level, max detections, clipping, hygiene.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { fileURLToPath } from 'node:url';
import { renderImage } from '../../src/corpus/render_image.ts';
import { decodeLetterboxed } from '../../src/image/letterbox.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { forward, preprocessImages } from '../../src/model/detector.ts';
import { loadTeacher } from '../../src/stages/teacher/teacher_model.ts';
import { loadTopology } from '../../src/topology/index.ts';
import { resolveAnchorConfig } from '../../src/boxes/anchor_config.ts';
import { generateAnchors, type AnchorSet } from '../../src/boxes/anchors.ts';
import { decodeBoxes } from '../../src/boxes/box_coder.ts';
import { kthLargest, postprocess, sigmoidScore, type Detection, type NmsStrategy, type PostprocessOptions } from '../../src/postprocess/detections.ts';
import { rng } from '../helpers/rng.ts';

await tf.setBackend('cpu');

function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

interface Inputs {
  set: AnchorSet;
  numClasses: number;
  batch: number;
  logits: Float32Array; // [batch, anchors, classes]
  deltas: Float32Array; // [batch, anchors, 4]
}

function randomInputs(seed: number, numClasses: number, batch = 2, logitMean = -1, quantize = false): Inputs {
  const set = generateAnchors(resolveAnchorConfig(), 64, 80);
  const rand = rng(seed);
  const draw = (): number => logitMean + 2 * normal(rand);
  // Quantized logits make equal scores common, which exercises every tie-break.
  const logits = new Float32Array(batch * set.numAnchors * numClasses).map(() => (quantize ? Math.round(draw() * 2) / 2 : draw()));
  // Small deltas keep neighbouring anchors' boxes heavily overlapping, so NMS has work to do.
  const deltas = new Float32Array(batch * set.numAnchors * 4).map(() => (rand() - 0.5) * 0.8);
  return { set, numClasses, batch, logits, deltas };
}

async function run(inp: Inputs, opts: PostprocessOptions): Promise<Detection[][]> {
  const logitsT = tf.tensor3d(inp.logits, [inp.batch, inp.set.numAnchors, inp.numClasses]);
  const deltasT = tf.tensor3d(inp.deltas, [inp.batch, inp.set.numAnchors, 4]);
  const before = tf.memory().numTensors;
  const out = await postprocess(logitsT, deltasT, inp.set.boxes, inp.set.levels, opts);
  assert.equal(tf.memory().numTensors, before, 'postprocess must not leak tensors');
  assert.ok(!logitsT.isDisposed && !deltasT.isDisposed, 'inputs belong to the caller');
  logitsT.dispose();
  deltasT.dispose();
  return out;
}

interface RefCandidate {
  k: number; // anchor * C + class
  score: number;
  box: [number, number, number, number];
}

/**
 * Straightforward reference: tf.sigmoid scores, threshold, per-level top-k by (score desc, index asc),
 * decode, clip, then tf.image.nonMaxSuppression run separately for each class, merge, top-N.
 */
async function reference(inp: Inputs, opts: PostprocessOptions): Promise<{ detections: Detection[][]; candidates: number[] }> {
  const thr = opts.scoreThreshold ?? 0.05;
  const topK = opts.topKPerLevel ?? 1000;
  const iou = opts.nmsIou ?? 0.5;
  const maxDet = opts.maxDetections ?? 100;
  const C = inp.numClasses;
  const A = inp.set.numAnchors;
  const probsT = tf.sigmoid(tf.tensor1d(inp.logits));
  const probs = await probsT.data();
  tf.dispose(probsT);
  const byScore = (a: RefCandidate, b: RefCandidate): number => b.score - a.score || a.k - b.k;
  const detections: Detection[][] = [];
  const candidates: number[] = [];
  for (let b = 0; b < inp.batch; b++) {
    const boxes = decodeBoxes(inp.set.boxes, inp.deltas.subarray(b * A * 4, (b + 1) * A * 4));
    let all: RefCandidate[] = [];
    for (const level of inp.set.levels) {
      const inLevel: RefCandidate[] = [];
      for (let k = level.offset * C; k < (level.offset + level.count) * C; k++) {
        const score = probs[b * A * C + k];
        if (score <= thr) continue;
        const a = Math.floor(k / C);
        inLevel.push({ k, score, box: [boxes[a * 4], boxes[a * 4 + 1], boxes[a * 4 + 2], boxes[a * 4 + 3]] });
      }
      all = all.concat(inLevel.sort(byScore).slice(0, topK));
    }
    if (opts.imageSize !== undefined) {
      const { width, height } = opts.imageSize;
      for (const c of all) c.box = [clamp(c.box[0], width), clamp(c.box[1], height), clamp(c.box[2], width), clamp(c.box[3], height)];
      all = all.filter((c) => c.box[2] > c.box[0] && c.box[3] > c.box[1]);
    }
    all.sort(byScore);
    candidates.push(all.length);
    const kept: RefCandidate[] = [];
    for (let cls = 0; cls < C; cls++) {
      const mine = all.filter((c) => c.k % C === cls);
      if (mine.length === 0) continue;
      const selected = tf.tidy(() =>
        tf.image.nonMaxSuppression(
          tf.tensor2d(
            mine.map((c) => c.box),
            [mine.length, 4],
          ),
          tf.tensor1d(mine.map((c) => c.score)),
          maxDet,
          iou,
        ),
      );
      for (const i of await selected.data()) kept.push(mine[i]);
      selected.dispose();
    }
    kept.sort(byScore);
    detections.push(kept.slice(0, maxDet).map((c) => ({ box: c.box, score: c.score, classId: c.k % C })));
  }
  return { detections, candidates };
}

function clamp(v: number, hi: number): number {
  return Math.fround(Math.min(Math.max(v, 0), hi));
}

const CASES: { name: string; seed: number; numClasses: number; opts: PostprocessOptions; quantize?: boolean }[] = [
  { name: 'defaults', seed: 1, numClasses: 3, opts: {} },
  { name: 'top-k 50 per level, 30 detections', seed: 2, numClasses: 2, opts: { topKPerLevel: 50, maxDetections: 30 } },
  { name: 'IoU 0.3, 1000 detections, clipped', seed: 3, numClasses: 4, opts: { nmsIou: 0.3, maxDetections: 1000, imageSize: { height: 64, width: 80 } } },
  { name: 'IoU 0.7, threshold 0.3', seed: 4, numClasses: 2, opts: { nmsIou: 0.7, scoreThreshold: 0.3 } },
  { name: 'many tied scores, top-k 300', seed: 5, numClasses: 3, opts: { topKPerLevel: 300, maxDetections: 1000 }, quantize: true },
];

const STRATEGIES: NmsStrategy[] = ['single-pass', 'offset', 'per-class'];

for (const c of CASES) {
  for (const nmsStrategy of STRATEGIES) {
    test(`equals per-class tf.image.nonMaxSuppression: ${c.name} (seed ${c.seed}, ${c.numClasses} classes, ${nmsStrategy})`, async () => {
      const inp = randomInputs(c.seed, c.numClasses, 2, -1, c.quantize ?? false);
      const ref = await reference(inp, c.opts);
      const got = await run(inp, { ...c.opts, nmsStrategy });
      assert.equal(got.length, inp.batch);
      for (let b = 0; b < inp.batch; b++) {
        // The inputs must make NMS do real work, or the comparison proves little.
        assert.ok(ref.detections[b].length > 10, `image ${b}: only ${ref.detections[b].length} reference detections`);
        assert.ok(ref.candidates[b] > ref.detections[b].length * 2, `image ${b}: NMS suppressed too little`);
        assert.deepEqual(got[b], ref.detections[b], `image ${b}`);
      }
      const cap = c.opts.maxDetections ?? 100;
      if (cap < 1000) assert.ok(got.some((d) => d.length === cap), `the ${cap}-detection cap should bind in some image`);
    });
  }
}

test('score threshold is strict and matches tf.sigmoid(x) > threshold exactly, also right at the boundary', async () => {
  const set = generateAnchors(resolveAnchorConfig({ levels: [3] }), 64, 64); // 576 disjoint-enough anchors
  // float32 thresholds, so that some sigmoid values land exactly on them (and must be dropped).
  for (const thr of [0.05, 0.3, 0.55, 0.9].map(Math.fround)) {
    // Logits walk float32 ulps across logit(thr), so some sigmoids round to either side of it.
    const base = Math.fround(Math.log(thr / (1 - thr)));
    const logits = new Float32Array(set.numAnchors);
    const buf = new Float32Array(1);
    const bits = new Int32Array(buf.buffer);
    buf[0] = base;
    const baseBits = bits[0];
    for (let i = 0; i < set.numAnchors; i++) {
      bits[0] = baseBits + (i - set.numAnchors / 2) * (base >= 0 ? 1 : -1);
      logits[i] = buf[0];
    }
    const probsT = tf.sigmoid(tf.tensor1d(logits));
    const probs = await probsT.data();
    probsT.dispose();
    const expected = Array.from(probs.keys()).filter((i) => probs[i] > thr);
    assert.ok(expected.length > 0 && expected.length < set.numAnchors, `threshold ${thr} splits the logits`);
    assert.ok(probs.some((p) => p === thr), `some score equals threshold ${thr} exactly`);
    const [dets] = await run(
      { set, numClasses: 1, batch: 1, logits, deltas: new Float32Array(set.numAnchors * 4) },
      { scoreThreshold: thr, nmsIou: 1, maxDetections: 10000, topKPerLevel: 10000 },
    );
    assert.equal(dets.length, expected.length, `threshold ${thr}`);
    assert.ok(dets.every((d) => d.score > thr));
  }
});

test('a hand-built case: kept boxes are the anchors (zero deltas), scores are sigmoids, low scores dropped', async () => {
  const set = generateAnchors(resolveAnchorConfig(), 64, 64);
  const C = 3;
  const logits = new Float32Array(set.numAnchors * C).fill(-10);
  const p4 = set.levels[1].offset + 5;
  logits[0 * C + 2] = 1; // P3 anchor 0, class 2
  logits[p4 * C + 0] = -2; // P4 anchor, class 0: sigmoid 0.119
  logits[7 * C + 1] = -3.5; // sigmoid 0.029 < 0.05: dropped
  const [dets] = await run({ set, numClasses: C, batch: 1, logits, deltas: new Float32Array(set.numAnchors * 4) }, {});
  const anchor = (i: number): number[] => Array.from(set.boxes.subarray(i * 4, i * 4 + 4));
  assert.deepEqual(dets, [
    { box: anchor(0), score: Math.fround(1 / (1 + Math.exp(-1))), classId: 2 },
    { box: anchor(p4), score: Math.fround(1 / (1 + Math.exp(2))), classId: 0 },
  ]);
});

test('maxDetections keeps the best-scoring detections', async () => {
  const inp = randomInputs(9, 3, 1);
  inp.deltas.fill(0);
  // IoU threshold 1 suppresses only identical boxes of the same class, which never occur here.
  const [dets] = await run(inp, { nmsIou: 1, maxDetections: 7 });
  const scores = Array.from(inp.logits, sigmoidScore).sort((a, b) => b - a);
  assert.deepEqual(
    dets.map((d) => d.score),
    scores.slice(0, 7),
  );
});

test('topKPerLevel keeps the k best (anchor, class) pairs of every level', async () => {
  const inp = randomInputs(10, 3, 1, 0);
  inp.deltas.fill(0);
  const [dets] = await run(inp, { nmsIou: 1, topKPerLevel: 3 });
  assert.equal(dets.length, 3 * inp.set.levels.length);
  for (const level of inp.set.levels) {
    const inLevel = Array.from(inp.logits.subarray(level.offset * 3, (level.offset + level.count) * 3), sigmoidScore).sort((a, b) => b - a);
    const lo = level.offset * 4;
    const hi = (level.offset + level.count) * 4;
    // With zero deltas a detection's box is its anchor, which tells its level.
    const got = dets
      .filter((d) => {
        for (let i = lo; i < hi; i += 4) if (inp.set.boxes[i] === d.box[0] && inp.set.boxes[i + 1] === d.box[1] && inp.set.boxes[i + 2] === d.box[2] && inp.set.boxes[i + 3] === d.box[3]) return true;
        return false;
      })
      .map((d) => d.score);
    assert.deepEqual(got, inLevel.slice(0, 3), `level ${level.offset}`);
  }
});

test('imageSize clips boxes and drops those left without area; no candidates gives empty lists', async () => {
  const set = generateAnchors(resolveAnchorConfig(), 64, 64);
  const logits = new Float32Array(2 * set.numAnchors).fill(-20);
  const deltas = new Float32Array(2 * set.numAnchors * 4);
  const inside = 500;
  logits[inside] = 3;
  logits[0] = 2; // anchor 0 straddles the top-left corner
  logits[1] = 1; // anchor 1, pushed 20 widths to the right: entirely outside
  deltas[4] = 20;
  const [dets, none] = await run({ set, numClasses: 1, batch: 2, logits, deltas }, { imageSize: { height: 64, width: 64 } });
  assert.deepEqual(none, []);
  assert.equal(dets.length, 2);
  const a0 = set.boxes.subarray(0, 4);
  assert.ok(a0[0] < 0 && a0[1] < 0, 'anchor 0 sticks out of the image');
  assert.deepEqual(dets[1].box, [0, 0, a0[2], a0[3]]);
  const [x1, y1, x2, y2] = set.boxes.subarray(inside * 4, inside * 4 + 4);
  assert.deepEqual(dets[0].box, [Math.max(x1, 0), Math.max(y1, 0), Math.min(x2, 64), Math.min(y2, 64)]);
  const [unclipped] = await run({ set, numClasses: 1, batch: 2, logits, deltas }, {});
  assert.equal(unclipped.length, 3);
});

test('invalid inputs are rejected without leaking', async () => {
  const set = generateAnchors(resolveAnchorConfig(), 32, 32);
  const logits = tf.zeros([1, set.numAnchors, 2]) as tf.Tensor3D;
  const deltas = tf.zeros([1, set.numAnchors, 4]) as tf.Tensor3D;
  const badDeltas = tf.zeros([1, set.numAnchors - 1, 4]) as tf.Tensor3D;
  const before = tf.memory().numTensors;
  await assert.rejects(postprocess(logits, badDeltas, set.boxes, set.levels), /boxDeltas shape/);
  await assert.rejects(postprocess(logits, deltas, set.boxes.subarray(4), set.levels), /anchors but the outputs have/);
  await assert.rejects(postprocess(logits, deltas, set.boxes, set.levels.slice(1)), /contiguous/);
  await assert.rejects(postprocess(logits, deltas, set.boxes, set.levels, { scoreThreshold: 1 }), /scoreThreshold/);
  await assert.rejects(postprocess(logits, deltas, set.boxes, set.levels, { maxDetections: 0 }), /maxDetections/);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([logits, deltas, badDeltas]);
});

test('sigmoidScore equals the cpu backend sigmoid bit for bit', async () => {
  const rand = rng(12);
  const x = new Float32Array(5000).map(() => normal(rand) * 8);
  const t = tf.sigmoid(tf.tensor1d(x));
  const probs = await t.data();
  t.dispose();
  for (let i = 0; i < x.length; i++) assert.equal(sigmoidScore(x[i]), probs[i]);
});

test('kthLargest agrees with sorting, with duplicates', () => {
  const rand = rng(13);
  for (let trial = 0; trial < 50; trial++) {
    const n = 1 + Math.floor(rand() * 300);
    const values = Float64Array.from({ length: n }, () => Math.floor(rand() * 20));
    const sorted = Array.from(values).sort((a, b) => b - a);
    const k = 1 + Math.floor(rand() * n);
    assert.equal(kthLargest(Float64Array.from(values), k), sorted[k - 1]);
  }
  assert.throws(() => kthLargest(new Float64Array(3), 4), /out of/);
});

test('wasm backend gives the same detections and leaks nothing', async () => {
  const inp = randomInputs(21, 3);
  const ref = await reference(inp, {}); // on cpu, so the reference's tf.sigmoid is the cpu kernel's
  await tf.setBackend('wasm');
  try {
    for (const nmsStrategy of STRATEGIES) {
      assert.deepEqual(await run(inp, { nmsStrategy }), ref.detections, nmsStrategy);
    }
  } finally {
    await tf.setBackend('cpu');
  }
});

test('single-pass (the default) equals per-class tfjs NMS on random inputs of many shapes', async () => {
  const rand = rng(31);
  for (let trial = 0; trial < 12; trial++) {
    const numClasses = 1 + Math.floor(rand() * 6);
    const inp = randomInputs(100 + trial, numClasses, 1, -2 + rand() * 3, trial % 3 === 0);
    const opts: PostprocessOptions = {
      nmsIou: [0.3, 0.5, 0.6, 1][trial % 4],
      maxDetections: [5, 100, 1000][trial % 3],
      topKPerLevel: [50, 1000][trial % 2],
      imageSize: trial % 2 === 0 ? { height: 64, width: 80 } : undefined,
    };
    const old = await run(inp, { ...opts, nmsStrategy: 'per-class' });
    assert.ok(old[0].length > 0, `trial ${trial} keeps something`);
    assert.deepEqual(await run(inp, opts), old, `trial ${trial}`);
  }
});

test('single-pass falls back to the tfjs kernel for non-finite boxes, and agrees with it', async () => {
  // A diverged model's NaN delta gives a NaN box. The kernel demotes a candidate whose IoU is NaN behind every
  // other one, so with a cap of 2 it keeps the first and third boxes, where a plain greedy pass would keep the second.
  const inp = randomInputs(41, 1, 1);
  inp.logits.fill(-10);
  inp.deltas.fill(0);
  inp.logits[3] = 3;
  inp.logits[4] = 2;
  inp.logits[40] = 1;
  inp.deltas[4 * 4] = NaN;
  const old = await run(inp, { nmsStrategy: 'per-class', maxDetections: 2 });
  assert.deepEqual(
    old[0].map((d) => d.score),
    [sigmoidScore(3), sigmoidScore(1)],
  );
  assert.deepEqual(await run(inp, { maxDetections: 2 }), old);
  const uncapped = await run(inp, { nmsStrategy: 'per-class' });
  assert.ok(uncapped[0].some((d) => d.box.some(Number.isNaN)), 'the NaN box is kept once the cap allows');
  assert.deepEqual(await run(inp, {}), uncapped);
});

test('single-pass equals per-class on the bundled teacher\'s outputs for generated images, leaking nothing', async () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const topology = await loadTopology(`${root}/topologies/embedded.yaml`);
  const teacher = await loadTeacher(new LocalStore({ root }), 'models/teacher', { anchors: topology.anchors, teacher: topology.teacher });
  const size = teacher.inputSize;
  const images = await Promise.all(
    [0, 1, 2, 3].map(async (i) => {
      const { jpeg } = await renderImage({
        key: `postprocess-test/${i}`,
        domain: i % 2 === 0 ? 'target' : 'shifted',
        empty: false,
        imageSize: { min: 96, max: 256 },
        objectSize: { min: 12, max: 88 },
        letterboxSize: size,
        minVisible: 0.5,
        jpegQuality: 90,
      });
      return (await decodeLetterboxed(jpeg, size)).pixels;
    }),
  );
  const pixels = new Int32Array(images.length * size * size * 3);
  images.forEach((p, i) => pixels.set(p, i * size * size * 3));
  const before = tf.memory().numTensors;
  const [logits, deltas] = tf.tidy(() => {
    const o = forward(teacher.detector, preprocessImages(tf.tensor4d(pixels, [images.length, size, size, 3], 'int32')));
    return [o.classLogits, o.boxDeltas];
  }) as [tf.Tensor3D, tf.Tensor3D];
  const t = topology.thresholds;
  const opts: PostprocessOptions = { scoreThreshold: t.candidate, topKPerLevel: t.topKPerLevel, nmsIou: t.nmsIou, maxDetections: t.maxDetections, imageSize: { height: size, width: size } };
  const old = await postprocess(logits, deltas, teacher.anchors.boxes, teacher.anchors.levels, { ...opts, nmsStrategy: 'per-class' });
  const got = await postprocess(logits, deltas, teacher.anchors.boxes, teacher.anchors.levels, opts);
  tf.dispose([logits, deltas]);
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  teacher.dispose();
  assert.equal(got.length, images.length);
  assert.ok(old.every((d) => d.length > 0), 'the teacher detects something in every image');
  assert.deepEqual(got, old);
});

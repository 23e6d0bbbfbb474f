// The native TensorFlow backend (tfjs-node, installed by scripts/tfjs-node/install.sh): every model step runs on it
// and agrees with the wasm backend. Its own file, so that its process is the only one that loads TensorFlow.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../../src/backend/backend.ts';
import { generateAnchors } from '../../src/boxes/anchors.ts';
import { generateCorpus } from '../../src/corpus/index.ts';
import { decodeLetterboxed } from '../../src/image/letterbox.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { buildDetector, disposeLayersModel, forward, preprocessImages } from '../../src/model/detector.ts';
import { detectorAnchorConfig, resolveDetectorConfig, type DetectorConfig } from '../../src/model/detector_config.ts';
import { postprocess, type Detection } from '../../src/postprocess/detections.ts';
import { runEmbedded } from '../../src/runner/embedded.ts';
import { inferTeacher, type TeacherOutputs } from '../../src/stages/teacher/infer.ts';
import { loadTeacher } from '../../src/stages/teacher/teacher_model.ts';
import { compileTopology } from '../../src/topology/index.ts';
import { DEFAULT_OBJECTIVE } from '../../src/train/objective.ts';
import { trainStep, type StepLosses } from '../../src/train/step.ts';
import { buildTargets, disposeTargets, type ImageBoxes } from '../../src/train/targets.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { goldenLossTests } from '../losses/golden_suite.ts';
import { tinyTopologyYaml } from '../runner/tiny_topology.ts';
import { saveTinyTeacher } from '../stages/teacher/fixtures.ts';

before(async () => {
  // wasm first: initialising tensorflow last leaves it the current backend, as in a real run.
  await initBackend('wasm');
  const info = await initBackend('tensorflow');
  assert.equal(tf.getBackend(), 'tensorflow');
  assert.match(info.package, /^@tensorflow\/tfjs-node(-gpu)?$/);
  assert.match(info.tensorflow?.version ?? '', /^2\.\d+\.\d+$/, 'the TensorFlow C library reports its version');
  assert.equal(info.tensorflow?.gpu, false, 'no GPU on a CI machine');
  assert.equal(info.threads, os.availableParallelism());
});

/** Runs `fn` with `backend` current, asserting that it leaves no tensor behind. */
async function on<T>(backend: BackendName, fn: () => Promise<T> | T): Promise<T> {
  assert.ok(await tf.setBackend(backend), `backend ${backend} failed to initialise`);
  const before = tf.memory().numTensors;
  const result = await fn();
  assert.equal(tf.memory().numTensors, before, `tensors leaked on ${backend}`);
  return result;
}

/** Asserts |a − b| ≤ atol + rtol·|b| elementwise and returns the largest absolute difference. */
function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    worst = Math.max(worst, diff);
    assert.ok(diff <= atol + rtol * Math.abs(expected[i]), `${what}[${i}]: ${actual[i]} vs ${expected[i]} (wasm)`);
  }
  return worst;
}

const SMALL: DetectorConfig = resolveDetectorConfig({ inputSize: 64, numClasses: 3 }, 'student');

/** Deterministic pixels in [0, 255]: a gradient with stripes, so every convolution sees structure. */
function syntheticImages(batch: number, size: number): tf.Tensor4D {
  const pixels = new Int32Array(batch * size * size * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + Math.floor(i / (size * 3)) * 13) % 256;
  return tf.tensor4d(pixels, [batch, size, size, 3], 'int32');
}

describe('detector forward', () => {
  for (const preset of ['teacher', 'student'] as const) {
    test(`${preset}: logits and deltas equal wasm's`, async () => {
      const config = resolveDetectorConfig({ inputSize: 64, numClasses: 3 }, preset);
      const run = (backend: BackendName): Promise<[Float32Array, Float32Array]> =>
        on(backend, async () => {
          const detector = buildDetector(config, { seed: 3 });
          const images = syntheticImages(2, 64);
          const [logits, deltas] = tf.tidy(() => {
            const out = forward(detector, preprocessImages(images));
            return [out.classLogits, out.boxDeltas];
          });
          const values = [(await logits.data()) as Float32Array, (await deltas.data()) as Float32Array] as [Float32Array, Float32Array];
          tf.dispose([logits, deltas, images]);
          disposeLayersModel(detector.model);
          return values;
        });
      const [wasmLogits, wasmDeltas] = await run('wasm');
      const [tfLogits, tfDeltas] = await run('tensorflow');
      assertAllClose(tfLogits, wasmLogits, 1e-4, 1e-4, 'class logits');
      assertAllClose(tfDeltas, wasmDeltas, 1e-4, 1e-4, 'box deltas');
    });
  }
});

describe('training step', () => {
  const anchors = generateAnchors(detectorAnchorConfig(SMALL), 64, 64);
  const gt: ImageBoxes[] = [
    { boxes: [[8, 8, 40, 40]], classIds: [0] },
    { boxes: [[20, 4, 36, 60], [40, 40, 62, 62]], classIds: [1, 2] },
  ];

  /** `steps` Adam steps from the same seeded weights; the losses and the first kernel afterwards. */
  const train = (backend: BackendName, steps: number): Promise<{ losses: StepLosses[]; kernel: Float32Array }> =>
    on(backend, async () => {
      const detector = buildDetector(SMALL, { seed: 11 });
      const optimizer = tf.train.adam(1e-3);
      const images = tf.tidy(() => preprocessImages(syntheticImages(2, 64)));
      const targets = buildTargets(anchors, gt, 3);
      const teacher = tf.tidy(() => targets.classTargets.mul(0.8).add(0.02) as tf.Tensor3D);
      const losses: StepLosses[] = [];
      for (let step = 0; step < steps; step++) {
        const count = tf.memory().numTensors;
        losses.push(await trainStep(detector, optimizer, images, targets, teacher, DEFAULT_OBJECTIVE));
        // Adam creates its slot variables on the first step.
        if (step > 0) assert.equal(tf.memory().numTensors, count, `${backend}: tensors leaked at step ${step}`);
      }
      const kernel = (await detector.model.trainableWeights[0].read().data()) as Float32Array;
      tf.dispose([images, teacher]);
      disposeTargets(targets);
      optimizer.dispose();
      disposeLayersModel(detector.model);
      return { losses, kernel };
    });

  test('one step: the loss terms and the updated weights equal wasm\'s', async () => {
    const wasm = await train('wasm', 1);
    const native = await train('tensorflow', 1);
    const [w, n] = [wasm.losses[0], native.losses[0]];
    assertAllClose([n.total, n.focal, n.distillation, n.localization], [w.total, w.focal, w.distillation, w.localization], 5e-4, 1e-6, 'losses');
    assertAllClose(native.kernel, wasm.kernel, 1e-3, 1e-5, 'first kernel after the step');
  });

  test('twenty steps lower the loss without leaking tensors', async () => {
    const { losses } = await train('tensorflow', 20);
    assert.ok(losses[19].total < 0.7 * losses[0].total, `loss went ${losses[0].total} → ${losses[19].total}`);
  });
});

describe('golden losses [tensorflow]', () => {
  before(async () => {
    assert.ok(await tf.setBackend('tensorflow'));
  });
  goldenLossTests();
});

describe('post-processing', () => {
  test('detections equal wasm\'s: same boxes, classes and order', async () => {
    const anchors = generateAnchors(detectorAnchorConfig(SMALL), 64, 64);
    const classes = 3;
    // Distinct scores (no ties) so that the order is defined by the values alone.
    const logits = Float32Array.from({ length: 2 * anchors.numAnchors * classes }, (_, i) => Math.sin(i * 12.9898) * 4 - 1);
    const deltas = Float32Array.from({ length: 2 * anchors.numAnchors * 4 }, (_, i) => Math.cos(i * 78.233) * 0.4);
    const run = (backend: BackendName): Promise<Detection[][]> =>
      on(backend, async () => {
        const l = tf.tensor3d(logits, [2, anchors.numAnchors, classes]);
        const d = tf.tensor3d(deltas, [2, anchors.numAnchors, 4]);
        const out = await postprocess(l, d, anchors.boxes, anchors.levels, { scoreThreshold: 0.3, imageSize: { height: 64, width: 64 } });
        tf.dispose([l, d]);
        return out;
      });
    const wasm = await run('wasm');
    const native = await run('tensorflow');
    assert.ok(wasm[0].length > 5, `the case has detections (${wasm[0].length})`);
    assert.equal(native.length, wasm.length);
    native.forEach((image, i) => {
      assert.deepEqual(image.map((det) => det.classId), wasm[i].map((det) => det.classId), `image ${i}: classes`);
      assertAllClose(image.flatMap((det) => [...det.box, det.score]), wasm[i].flatMap((det) => [...det.box, det.score]), 1e-5, 1e-4, `image ${i}: boxes and scores`);
    });
  });
});

describe('teacher and student on a generated corpus', () => {
  let root = '';
  let store: LocalStore;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'distillery-tensorflow-'));
    store = new LocalStore({ root });
    await generateCorpus(store, { prefix: 'corpus', images: { labeled: 4, test: 3, unlabeled: 8 }, imageSize: { min: 96, max: 160 }, workers: 0 });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('the bundled teacher labels real images as on wasm: soft labels and detections', async () => {
    const bundled = new LocalStore({ root: path.resolve('models') });
    const images: Uint8Array[] = [];
    for (const key of (await store.list('corpus/unlabeled/images/')).objects.slice(0, 4).map((o) => o.key)) {
      images.push((await decodeLetterboxed(await store.get(key), 128)).pixels);
    }
    const label = (backend: BackendName): Promise<TeacherOutputs> =>
      on(backend, async () => {
        const teacher = await loadTeacher(bundled, 'teacher', await bundledTeacherLayout(bundled));
        try {
          return await inferTeacher(teacher, images, { hardLabel: 0.5, candidate: 0.05, topKPerLevel: 1000, nmsIou: 0.5, maxDetections: 100, softEpsilon: 0 });
        } finally {
          teacher.dispose();
        }
      });
    const wasm = await label('wasm');
    const native = await label('tensorflow');
    assertAllClose(native.probs, wasm.probs, 1e-3, 1e-5, 'soft labels');
    assert.ok(wasm.detections.flat().length > 0, 'the teacher finds something');
    native.detections.forEach((image, i) => {
      // Scores within float32 noise of each other may swap; the confident detections may not.
      const confident = (dets: Detection[]): Detection[] => dets.filter((det) => det.score >= 0.3);
      const [n, w] = [confident(image), confident(wasm.detections[i])];
      assert.deepEqual(n.map((det) => det.classId), w.map((det) => det.classId), `image ${i}: classes`);
      assertAllClose(n.flatMap((det) => [...det.box, det.score]), w.flatMap((det) => [...det.box, det.score]), 1e-3, 1e-2, `image ${i}: boxes`);
    });
  });

  test('ingest → teacher → student runs on tensorflow: every image accounted for, a checkpoint lands', async () => {
    const yaml = tinyTopologyYaml({ name: 'tiny-tensorflow', storeRoot: root, steps: 0, checkpointPrefix: 'runs/tf/student', evalEvery: 4 }).replace(
      'backend: wasm',
      'backend: tensorflow',
    );
    const topology = compileTopology(yaml, 'tiny.yaml', { env: {} });
    assert.equal(topology.backend, 'tensorflow');
    assert.ok(await tf.setBackend(topology.backend));
    await saveTinyTeacher(store, 'models/tiny-teacher', { class0Bias: 4, config: topology.teacher });
    const stages = topology.stages.map((s) => (s.kind === 'teacher' ? { ...s, options: { ...s.options, checkpoint: 'models/tiny-teacher' } } : s));
    const before = tf.memory().numTensors;
    const result = await runEmbedded({ topology: { ...topology, stages }, logger: silentLogger(), store });
    assert.equal(result.stoppedBy, 'completed');
    assert.equal(tf.getBackend(), 'tensorflow');
    const ingested = result.counters['ingest-labeled'].published + result.counters['ingest-unlabeled'].published;
    assert.equal(ingested, 4 + 8);
    const t = result.counters.teacher;
    assert.equal(t.samples + t.rejected + t.dlq, ingested, 'every image ends as one sample or rejection');
    assert.ok(t.samples > 0, 'the confident tiny teacher lets images through');
    const steps = result.counters.student.steps;
    assert.ok(steps >= 1, `the student trained (${steps} steps)`);
    assert.ok(await store.head(`runs/tf/student/step-${steps}/model.json`), 'the checkpoint holds a loadable TF.js model');
    await result.transport.close();
    assert.ok(tf.memory().numTensors <= before + 16, `tensors left: ${tf.memory().numTensors - before}`);
  });
});

/** The anchor layout and teacher config the bundled checkpoint was saved with (its own metadata). */
async function bundledTeacherLayout(bundled: LocalStore): Promise<{ anchors: ReturnType<typeof detectorAnchorConfig>; teacher: DetectorConfig }> {
  const json = JSON.parse(new TextDecoder().decode(await bundled.get('teacher/model.json'))) as { userDefinedMetadata: { distillery: { detector: DetectorConfig } } };
  const teacher = json.userDefinedMetadata.distillery.detector;
  return { anchors: detectorAnchorConfig(teacher), teacher };
}

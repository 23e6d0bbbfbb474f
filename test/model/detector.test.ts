import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildDetector, forward, preprocessImages } from '../../src/model/detector.ts';
import { resolveDetectorConfig, totalAnchors, TEACHER_PRESET, STUDENT_PRESET, STUDENT_LARGE_PRESET } from '../../src/model/detector_config.ts';
import { modelCost } from '../../src/model/flops.ts';

test('forward returns [batch, anchors, classes] logits and [batch, anchors, 4] deltas without leaking', () => {
  const config = resolveDetectorConfig({ inputSize: 64, numClasses: 3 });
  const detector = buildDetector(config);
  const x = tf.randomUniform([2, 64, 64, 3], 0, 255).toInt() as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const { classLogits, boxDeltas } = forward(detector, preprocessImages(x));
    return [classLogits, boxDeltas];
  });
  assert.deepEqual(out[0].shape, [2, totalAnchors(config), 3]);
  assert.deepEqual(out[1].shape, [2, totalAnchors(config), 4]);
  // (8² + 4² + 2²) positions × 9 anchors at 64 px with P3–P5.
  assert.equal(totalAnchors(config), (64 + 16 + 4) * 9);
  tf.dispose(out);
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  detector.model.dispose();
});

test('class head starts at the prior probability π = 0.01', async () => {
  const config = resolveDetectorConfig({ inputSize: 64, numClasses: 2 });
  const detector = buildDetector(config);
  const probs = tf.tidy(() => tf.sigmoid(forward(detector, tf.zeros([1, 64, 64, 3])).classLogits).mean());
  const p = (await probs.data())[0];
  assert.ok(Math.abs(p - 0.01) < 0.005, `mean initial probability ${p}`);
  probs.dispose();
  detector.model.dispose();
});

test('extra pyramid levels P6/P7 and a single level both build', () => {
  for (const levels of [[3, 4, 5, 6, 7], [4]]) {
    const config = resolveDetectorConfig({ inputSize: 128, levels });
    const detector = buildDetector(config);
    assert.deepEqual(detector.model.outputs[0].shape, [null, totalAnchors(config), config.numClasses]);
    detector.model.dispose();
  }
});

test('config validation names the bad field', () => {
  assert.throws(() => resolveDetectorConfig({ numClasses: 0 }), /numClasses/);
  assert.throws(() => resolveDetectorConfig({ inputSize: 100 }), /multiple of the largest stride 32/);
  assert.throws(() => resolveDetectorConfig({ levels: [5, 3] }), /strictly increasing/);
  assert.throws(() => resolveDetectorConfig({ bogus: 1 } as never), /Unrecognized key/i);
});

test('default student costs at least 4× fewer FLOPs than the default teacher', () => {
  const teacher = buildDetector(TEACHER_PRESET);
  const student = buildDetector(STUDENT_PRESET);
  const t = modelCost(teacher.model);
  const s = modelCost(student.model);
  assert.ok(t.flopsPerImage / s.flopsPerImage >= 4, `ratio ${t.flopsPerImage / s.flopsPerImage}`);
  assert.equal(t.parameters, teacher.model.countParams());
  // Sum of the parts is the total.
  assert.equal(Object.values(s.byPart).reduce((a, b) => a + b, 0), s.flopsPerImage);
  teacher.model.dispose();
  student.model.dispose();
});

test('student-large costs ¼–½ of the teacher\'s FLOPs and shares its anchors', () => {
  const teacher = buildDetector(TEACHER_PRESET);
  const large = buildDetector(STUDENT_LARGE_PRESET);
  const ratio = modelCost(large.model).flopsPerImage / modelCost(teacher.model).flopsPerImage;
  assert.ok(ratio >= 0.25 && ratio <= 0.5, `ratio ${ratio}`);
  assert.equal(totalAnchors(STUDENT_LARGE_PRESET), totalAnchors(TEACHER_PRESET));
  assert.deepEqual(resolveDetectorConfig({}, 'student-large'), STUDENT_LARGE_PRESET);
  teacher.model.dispose();
  large.model.dispose();
});

test('FLOPs of a single conv match the hand count', () => {
  const input = tf.input({ shape: [8, 8, 3] });
  const out = tf.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', strides: 2 }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  // 4×4 outputs × 5 filters × (3·3·3 MACs × 2 + 1 bias)
  assert.equal(modelCost(model).flopsPerImage, 16 * 5 * (27 * 2 + 1));
  model.dispose();
});

test('a seeded build is reproducible, seed 0 included (tfjs reads 0 as no seed); different seeds differ', () => {
  const config = resolveDetectorConfig({ inputSize: 64 });
  const [z1, z2] = [0, 0].map((seed) => buildDetector(config, { seed }));
  const [a, b, c] = [1, 1, 2].map((seed) => buildDetector(config, { seed }));
  const maxDiff = (x: typeof a, y: typeof a): number =>
    tf.tidy(() => Math.max(...x.model.getWeights().map((w, i) => tf.abs(w.sub(y.model.getWeights()[i])).max().arraySync() as number)));
  assert.equal(maxDiff(z1, z2), 0);
  assert.equal(maxDiff(a, b), 0);
  assert.ok(maxDiff(a, c) > 0);
  [z1, z2, a, b, c].forEach((d) => d.model.dispose());
});

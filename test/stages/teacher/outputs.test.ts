// Tests for the teacher's output messages: Sample contents and round trip, lineage, rejection keys and detail headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRgb, letterboxTransform } from '../../../src/image/letterbox.ts';
import { decodeRejection } from '../../../src/messages/rejection.ts';
import { decodeSample } from '../../../src/messages/sample.ts';
import { dequantizeSoftLabels, QUANTIZATION_ERROR_BOUND } from '../../../src/messages/soft_labels.ts';
import { buildSample, REJECTION_DETAIL_HEADER, rejectionMessage, sampleMessage, teacherLineage } from '../../../src/stages/teacher/outputs.ts';
import type { TeacherModel } from '../../../src/stages/teacher/teacher_model.ts';
import { TEST_THRESHOLDS } from '../ingest/topology_fixture.ts';
import { imageRef } from './fixtures.ts';

const fakeTeacher = {
  modelId: 'tiny@models/t',
  modelHash: 'sha256:abc',
  anchorConfig: { levels: [3, 4, 5], sizeFactor: 4, ratios: [0.5, 1, 2], scalesPerOctave: 3 },
  inputSize: 64,
} as unknown as TeacherModel;

test('lineage names the model, its hash, the hard-label threshold and the anchor layout', () => {
  assert.deepEqual(teacherLineage(fakeTeacher, { ...TEST_THRESHOLDS, hardLabel: 0.6, nmsIou: 0.45 }), {
    modelId: 'tiny@models/t',
    modelHash: 'sha256:abc',
    scoreThreshold: 0.6,
    nmsIou: 0.45,
    anchorConfig: { levels: [3, 4, 5], sizeFactor: 4, ratios: [0.5, 1, 2], scalesPerOctave: 3, inputSize: 64 },
  });
});

test('a Sample carries the letterboxed JPEG, hard labels, quantized soft labels and round-trips through its codec', async () => {
  const transform = letterboxTransform(80, 60, 64);
  const pixels = new Uint8Array(64 * 64 * 3).fill(200);
  const anchors = 10;
  const classes = 3;
  const probs = Float32Array.from({ length: anchors * classes }, (_, i) => (i % 7) / 7);
  const hard = [{ box: [1, 2, 30, 40] as [number, number, number, number], classId: 2, score: 0.8 }];
  const sample = await buildSample({
    image: { kind: 'image', ref: imageRef('img/a.jpg', { imageId: 'a' }), pixels, transform },
    hard,
    probs,
    anchors,
    classes,
    lineage: teacherLineage(fakeTeacher, TEST_THRESHOLDS),
    softEpsilon: 0,
  });
  const message = sampleMessage(sample);
  assert.equal(message.key, 'a');
  const back = decodeSample(message.value);
  assert.deepEqual([back.ref.width, back.ref.height], [80, 60], 'the decoded size is recorded when the ref lacked it');
  assert.deepEqual([back.image.width, back.image.scale, back.image.padX, back.image.padY], [64, 0.8, 0, 8]);
  assert.deepEqual(back.hard, hard);
  const rgb = await decodeRgb(back.image.bytes, 64);
  assert.ok(Math.abs(rgb[0] - 200) <= 2, 'the JPEG holds the model-input pixels');
  const q = dequantizeSoftLabels(back.soft);
  for (let i = 0; i < probs.length; i++) assert.ok(Math.abs(q[i] - probs[i]) <= QUANTIZATION_ERROR_BOUND + 1e-7);
  assert.equal(back.teacher.modelHash, 'sha256:abc');

  const sparse = await buildSample({
    image: { kind: 'image', ref: imageRef('b'), pixels, transform },
    hard: [],
    probs,
    anchors,
    classes,
    lineage: teacherLineage(fakeTeacher, TEST_THRESHOLDS),
    softEpsilon: 0.5,
  });
  assert.equal(sparse.soft.layout, 'sparse');
});

test('rejections are keyed by image id and carry the cause in a header, cut to a readable length', () => {
  const ref = imageRef('img/x.jpg', { imageId: 'x' });
  const plain = rejectionMessage(ref, 'no-detections', 0.3, 'teacher');
  assert.equal(plain.key, 'x');
  assert.equal(plain.headers, undefined);
  assert.deepEqual(decodeRejection(plain.value), { v: 1, ref, reason: 'no-detections', maxScore: 0.3, stage: 'teacher' });
  const long = rejectionMessage(ref, 'corrupt-image', 0, 'teacher', 'x'.repeat(5000));
  assert.equal(long.headers?.[REJECTION_DETAIL_HEADER].length, 1000);
});

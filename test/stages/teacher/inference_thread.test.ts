// The teacher in a worker thread: same outputs as in process, every call answered once, errors surfaced, close drains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { detectorAnchorConfig } from '../../../src/model/detector_config.ts';
import { inferTeacher } from '../../../src/stages/teacher/infer.ts';
import { InferenceThread } from '../../../src/stages/teacher/inference_thread.ts';
import { openTeacherInference } from '../../../src/stages/teacher/teacher_inference.ts';
import { loadTeacher } from '../../../src/stages/teacher/teacher_model.ts';
import { TEST_THRESHOLDS, tempStore } from '../ingest/topology_fixture.ts';
import { CONFIDENT_BIAS, saveTinyTeacher, useCpuBackend } from './fixtures.ts';

await useCpuBackend();

function randomImage(seed: number): Uint8Array {
  const img = new Uint8Array(64 * 64 * 3);
  for (let i = 0; i < img.length; i++) img[i] = (i * 31 + seed * 97) % 256;
  return img;
}

test('the thread loads the checkpoint and returns what inferTeacher returns in process, leaving no tensors in either thread', async () => {
  const { store, cleanup } = await tempStore();
  try {
    const config = await saveTinyTeacher(store, 'm', { class0Bias: CONFIDENT_BIAS });
    const expected = { anchors: detectorAnchorConfig(config), teacher: config };
    const local = await loadTeacher(store, 'm', expected);
    const before = tf.memory().numTensors;
    const thread = await openTeacherInference(store, 'm', expected, { thread: true });
    assert.ok(thread instanceof InferenceThread);
    assert.equal(tf.memory().numTensors, before, 'the model lives in the worker, not here');
    assert.deepEqual(
      [thread.modelId, thread.modelHash, thread.inputSize, thread.numClasses, thread.anchorConfig],
      [local.modelId, local.modelHash, local.inputSize, local.numClasses, local.anchorConfig],
      'the same identity as the checkpoint loaded in process (lineage of the samples)',
    );
    const images = [randomImage(1), randomImage(2), randomImage(3)];
    const steps: string[] = [];
    const remote = await thread.infer(images, TEST_THRESHOLDS, (step) => steps.push(step));
    const inProcess = await inferTeacher(local, images, TEST_THRESHOLDS);
    assert.deepEqual(steps, ['infer', 'nms'], "the worker's timings reach the caller's metrics");
    assert.deepEqual(remote.probs, inProcess.probs);
    assert.deepEqual(remote.detections, inProcess.detections);
    assert.deepEqual([remote.anchors, remote.classes], [inProcess.anchors, inProcess.classes]);

    const afterFirst = thread.workerTensors;
    for (let i = 0; i < 3; i++) await thread.infer(images, TEST_THRESHOLDS);
    assert.equal(thread.workerTensors, afterFirst, 'tensor count in the worker stable across batches');
    const busy = thread.threadBusy();
    assert.ok(busy !== undefined && busy > 0 && busy <= 1, `worker busy share ${busy}`);
    await thread.close();
    assert.ok(thread.workerTensors < afterFirst, `closing frees the model in the worker (${afterFirst} → ${thread.workerTensors} tensors)`);
    local.dispose();
  } finally {
    await cleanup();
  }
});

test('many batches in flight: each call gets its own batch\'s outputs, once; close waits for the ones posted', async () => {
  const { store, cleanup } = await tempStore();
  try {
    const config = await saveTinyTeacher(store, 'm', { class0Bias: CONFIDENT_BIAS });
    const expected = { anchors: detectorAnchorConfig(config), teacher: config };
    const thread = await InferenceThread.open(store, 'm', expected);
    // Batches of 1…6 images posted at once: the batch size tells which answer came back where.
    const sizes = [1, 2, 3, 4, 5, 6];
    let settled = 0;
    const calls = sizes.map((n) =>
      thread.infer(Array.from({ length: n }, (_, i) => randomImage(n * 10 + i)), TEST_THRESHOLDS).finally(() => (settled += 1)),
    );
    const closing = thread.close();
    const outputs = await Promise.all(calls);
    await closing;
    assert.equal(settled, sizes.length, 'every call answered exactly once');
    assert.deepEqual(outputs.map((o) => o.detections.length), sizes);
    assert.deepEqual(outputs.map((o) => o.probs.length), sizes.map((n) => n * o0(outputs)));
    await assert.rejects(thread.infer([randomImage(1)], TEST_THRESHOLDS), /closed/, 'no work after close');
  } finally {
    await cleanup();
  }
});

function o0(outputs: Array<{ anchors: number; classes: number }>): number {
  return outputs[0].anchors * outputs[0].classes;
}

test("the worker's errors reach the caller with their message, and the thread keeps working", async () => {
  const { store, cleanup } = await tempStore();
  try {
    const config = await saveTinyTeacher(store, 'm', { class0Bias: CONFIDENT_BIAS });
    const expected = { anchors: detectorAnchorConfig(config), teacher: config };
    const thread = await InferenceThread.open(store, 'm', expected);
    try {
      await assert.rejects(thread.infer([new Uint8Array(10)], TEST_THRESHOLDS), (err: Error) => err.name === 'RangeError' && /image 0 has 10 bytes, expected 64×64×3/.test(err.message));
      const ok = await thread.infer([randomImage(1)], TEST_THRESHOLDS);
      assert.equal(ok.detections.length, 1);
    } finally {
      await thread.close();
    }
    // Load errors: a missing checkpoint and one whose anchors differ, worded as loadTeacher words them.
    await assert.rejects(InferenceThread.open(store, 'nowhere', expected), /teacher checkpoint .*nowhere: cannot read nowhere\/model\.json/);
    await assert.rejects(InferenceThread.open(store, 'm', { ...expected, anchors: { ...expected.anchors, sizeFactor: 8 } }), /anchor layout .* differs from the topology's anchors/);
  } finally {
    await cleanup();
  }
});

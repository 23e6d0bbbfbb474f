// End-to-end tests of the teacher stage on MemoryTransport: every input accounted for once, filter, commits, stop, outages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { resolveAnchorConfig } from '../../../src/boxes/anchor_config.ts';
import { letterboxTransform, toInputBox } from '../../../src/image/letterbox.ts';
import { listAll, type ObjectStore } from '../../../src/io/object_store.ts';
import { readDlqRecord } from '../../../src/messages/dlq.ts';
import type { ImageRef } from '../../../src/messages/image_ref.ts';
import { decodeRejection, type Rejection } from '../../../src/messages/rejection.ts';
import { decodeSample, type Sample } from '../../../src/messages/sample.ts';
import { REJECTION_DETAIL_HEADER } from '../../../src/stages/teacher/outputs.ts';
import { RetriesExhaustedError } from '../../../src/stages/teacher/retry.ts';
import { runTeacherStage } from '../../../src/stages/teacher/run_teacher.ts';
import { TransportError, type Consumer, type OutgoingMessage, type RunOptions, type Transport } from '../../../src/transport/transport.ts';
import { CONFIDENT_BIAS, encodedImage, imageRef, pngClaimingSize, useCpuBackend } from './fixtures.ts';
import { IMAGES, publishInputs, readOutputs, runToDrain, teacherContext, teacherHarness } from './stage_harness.ts';

await useCpuBackend();

test('every input ends as exactly one sample, rejection or DLQ record, with the right reasons, and offsets are committed', async () => {
  const h = await teacherHarness({ teacher: { batchSize: 2, maxImagePixels: 1_000_000 } }, CONFIDENT_BIAS);
  try {
    const jpeg = await encodedImage(80, 60, 'jpeg', 1);
    await h.store.put('img/u1.jpg', jpeg);
    await h.store.put('img/u2.png', await encodedImage(50, 70, 'png', 2));
    await h.store.put('img/l1.jpg', await encodedImage(80, 60, 'jpeg', 3));
    await h.store.put('img/t1.jpg', await encodedImage(80, 60, 'jpeg', 4));
    await h.store.put('img/cut.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    await h.store.put('img/empty.jpg', new Uint8Array(0));
    await h.store.put('img/notes.txt', 'these are not pixels');
    await h.store.put('img/huge.png', await pngClaimingSize(10000, 10000));
    await h.store.put('img/badclass.jpg', jpeg);
    const gt = [{ box: [10, 10, 30, 40] as [number, number, number, number], classId: 1 }];
    const garbage = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    const inputs: Array<ImageRef | OutgoingMessage> = [
      imageRef('img/u1.jpg'),
      imageRef('img/u2.png'),
      imageRef('img/l1.jpg', { imageId: '101', split: 'labeled', width: 80, height: 60, gt }),
      imageRef('img/t1.jpg', { imageId: '201', split: 'test', gt }),
      imageRef('img/cut.jpg'),
      imageRef('img/empty.jpg'),
      imageRef('img/notes.txt'),
      imageRef('img/huge.png'),
      imageRef('img/missing.jpg'),
      { key: 'garbage', value: garbage, headers: { origin: 'test' } },
      imageRef('img/badclass.jpg', { imageId: '102', split: 'labeled', gt: [{ box: [1, 1, 5, 5], classId: 5 }] }),
    ];
    await publishInputs(h, inputs);

    const tensorsBefore = tf.memory().numTensors;
    const perBatch: number[] = [];
    const counters = await runToDrain(h, teacherContext(h, { onProgress: () => perBatch.push(tf.memory().numTensors) }));
    assert.equal(tf.memory().numTensors, tensorsBefore, 'the stage frees its model and every batch tensor');
    assert.equal(perBatch.length, 6, '11 inputs in model batches of 2');
    assert.ok(perBatch.every((n) => n === perBatch[0]), `tensor count stable across batches: ${perBatch.join(', ')}`);

    assert.equal(counters.consumed, inputs.length);
    assert.equal(counters.samples + counters.rejected + counters.dlq, inputs.length);
    assert.deepEqual(
      Object.fromEntries(Object.entries(counters).filter(([k]) => k !== 'imagesPerSecond')),
      {
        consumed: 11,
        samples: 4,
        rejected: 5,
        dlq: 2,
        batches: 6,
        'rejected.corrupt-image': 1,
        'rejected.empty-object': 1,
        'rejected.not-an-image': 1,
        'rejected.too-large': 1,
        'rejected.missing-object': 1,
      },
    );
    assert.ok(counters.imagesPerSecond > 0);

    const samples = new Map<string, Sample>((await readOutputs(h, 'samples')).map((m) => [m.key, decodeSample(m.value)]));
    assert.deepEqual([...samples.keys()].sort(), ['101', '201', 'img/u1.jpg', 'img/u2.png']);
    const shard = await h.store.get('models/teacher/group1-shard1of1.bin');
    for (const s of samples.values()) {
      assert.equal(s.teacher.modelHash, `sha256:${createHash('sha256').update(shard).digest('hex')}`);
      assert.deepEqual([s.soft.anchors, s.soft.classes, s.image.width], [756, 3, 64]);
    }
    for (const key of ['img/u1.jpg', 'img/u2.png']) {
      const hard = samples.get(key)?.hard ?? [];
      assert.ok(hard.length > 0 && hard.every((l) => l.classId === 0 && l.score >= 0.5), `${key}: teacher hard labels`);
    }
    const inputGt = [{ box: toInputBox(gt[0].box, letterboxTransform(80, 60, 64)), classId: 1, score: 1 }];
    assert.deepEqual(samples.get('101')?.hard, inputGt, 'labeled images keep their ground truth as hard labels');
    assert.deepEqual(samples.get('201')?.hard, inputGt, 'test images that reach the teacher are treated like labeled');

    const rejected = (await readOutputs(h, 'rejected')).map((m) => ({ r: decodeRejection(m.value), detail: m.headers[REJECTION_DETAIL_HEADER] }));
    assert.deepEqual(Object.fromEntries(rejected.map(({ r }) => [r.ref.key, r.reason])), {
      'img/cut.jpg': 'corrupt-image',
      'img/empty.jpg': 'empty-object',
      'img/notes.txt': 'not-an-image',
      'img/huge.png': 'too-large',
      'img/missing.jpg': 'missing-object',
    });
    assert.ok(rejected.every(({ r, detail }) => r.stage === 'teacher' && r.maxScore === 0 && typeof detail === 'string' && detail.length > 0));
    assert.match(rejected.find(({ r }) => r.reason === 'too-large')?.detail ?? '', /10000×10000/);

    const dlq = (await readOutputs(h, 'dlq')).map((m) => readDlqRecord(m));
    assert.equal(dlq.length, 2);
    const bad = dlq.find((d) => d.key === 'garbage');
    assert.deepEqual([bad?.errorClass, bad?.stage, bad?.original.topic, bad?.original.offset, bad?.headers], ['MessageDecodeError', 'teacher', IMAGES, '9', { origin: 'test' }]);
    assert.deepEqual(bad?.value, garbage);
    const badClass = dlq.find((d) => d.key === 'img/badclass.jpg');
    assert.equal(badClass?.errorClass, 'RangeError');
    assert.match(badClass?.errorMessage ?? '', /class 5 is outside the teacher's 3 classes/);

    assert.deepEqual(await h.transport.groupOffsets('teacher', IMAGES), [{ partition: 0, offset: '11' }]);
  } finally {
    await h.cleanup();
  }
});

test('the filter rejects unlabeled images without a detection ≥ τ and keeps labeled ones', async () => {
  const h = await teacherHarness({ teacher: { batchSize: 4 } });
  try {
    for (const n of [1, 2, 3]) await h.store.put(`img/u${n}.jpg`, await encodedImage(64, 64, 'jpeg', n));
    await h.store.put('img/l.jpg', await encodedImage(64, 64, 'jpeg', 9));
    await publishInputs(h, [imageRef('img/u1.jpg'), imageRef('img/u2.jpg'), imageRef('img/l.jpg', { imageId: '7', split: 'labeled', gt: [] }), imageRef('img/u3.jpg')]);
    const counters = await runToDrain(h, teacherContext(h));
    assert.deepEqual([counters.samples, counters.rejected, counters['rejected.no-detections']], [1, 3, 3]);
    const rejections: Rejection[] = (await readOutputs(h, 'rejected')).map((m) => decodeRejection(m.value));
    for (const r of rejections) {
      assert.equal(r.reason, 'no-detections');
      // The untrained teacher sits at the prior π = 0.01 everywhere.
      assert.ok(r.maxScore > 0.005 && r.maxScore < 0.05, `maxScore ${r.maxScore}`);
    }
    const [sample] = await readOutputs(h, 'samples');
    assert.equal(sample.key, '7');
    assert.deepEqual(decodeSample(sample.value).hard, []);
  } finally {
    await h.cleanup();
  }
});

test('with filter: false, unlabeled images without a detection become samples with no hard labels', async () => {
  const h = await teacherHarness({ teacher: { batchSize: 4, filter: false } });
  try {
    for (const n of [1, 2]) await h.store.put(`img/u${n}.jpg`, await encodedImage(64, 64, 'jpeg', n));
    await publishInputs(h, [imageRef('img/u1.jpg'), imageRef('img/u2.jpg')]);
    const counters = await runToDrain(h, teacherContext(h));
    assert.deepEqual([counters.samples, counters.rejected], [2, 0]);
    const samples = (await readOutputs(h, 'samples')).map((m) => decodeSample(m.value));
    assert.deepEqual(samples.map((s) => [s.ref.split, s.hard.length]), [['unlabeled', 0], ['unlabeled', 0]]);
  } finally {
    await h.cleanup();
  }
});

test('a graceful stop commits the finished model batch; a restart picks up the rest without duplicates', async () => {
  const h = await teacherHarness({ teacher: { batchSize: 2 } }, CONFIDENT_BIAS);
  try {
    const refs: ImageRef[] = [];
    for (let n = 0; n < 8; n++) {
      await h.store.put(`img/${n}.jpg`, await encodedImage(48, 48, 'jpeg', n));
      refs.push(imageRef(`img/${n}.jpg`));
    }
    await publishInputs(h, refs);
    const controller = new AbortController();
    const first = runTeacherStage(teacherContext(h, { signal: controller.signal, onProgress: () => controller.abort() }));
    const counters = await first.done;
    assert.equal(counters.consumed, 2);
    assert.deepEqual(await h.transport.groupOffsets('teacher', IMAGES), [{ partition: 0, offset: '2' }]);

    const rest = await runToDrain(h, teacherContext(h));
    assert.equal(rest.consumed, 6);
    const keys = (await readOutputs(h, 'samples')).map((m) => m.key);
    assert.deepEqual([...keys].sort(), refs.map((r) => r.imageId).sort());
  } finally {
    await h.cleanup();
  }
});

test('a store outage fails the stage without committing or publishing anything', async () => {
  const h = await teacherHarness({ teacher: { batchSize: 2 } }, CONFIDENT_BIAS);
  try {
    await h.store.put('img/a.jpg', await encodedImage(32, 32, 'jpeg'));
    await publishInputs(h, [imageRef('img/a.jpg'), imageRef('img/b.jpg')]);
    const inner = h.store;
    const down: ObjectStore = Object.create(inner) as ObjectStore;
    down.get = async (key: string) => {
      if (key.startsWith('img/')) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return inner.get(key);
    };
    const tensorsBefore = tf.memory().numTensors;
    const stage = runTeacherStage({ ...teacherContext(h), store: down }, { retry: { retries: 2, initialDelayMs: 1 } });
    await assert.rejects(stage.done, (err) => err instanceof RetriesExhaustedError && /ECONNREFUSED/.test(err.message));
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.deepEqual(await h.transport.groupOffsets('teacher', IMAGES), [{ partition: 0, offset: '-1' }]);
    for (const role of ['samples', 'rejected', 'dlq'] as const) assert.equal(h.transport.watermarks(h.topology.topics[role].name)[0].high, 0, role);
  } finally {
    await h.cleanup();
  }
});

test('a partial model batch waits maxBatchWaitMs for more images before running', async () => {
  const h = await teacherHarness({ teacher: { batchSize: 4, maxBatchWaitMs: 300 } }, CONFIDENT_BIAS);
  try {
    for (let n = 0; n < 5; n++) await h.store.put(`img/${n}.jpg`, await encodedImage(32, 32, 'jpeg', n));
    const stage = runTeacherStage(teacherContext(h));
    const publishedAt = Date.now();
    await publishInputs(h, [0, 1, 2, 3, 4].map((n) => imageRef(`img/${n}.jpg`)));
    await h.transport.waitUntil(() => h.transport.isDrained('teacher', IMAGES), { timeoutMs: 30_000 });
    const elapsed = Date.now() - publishedAt;
    await stage.stop();
    const counters = await stage.done;
    assert.equal(counters.samples, 5);
    assert.equal(counters.batches, 2, 'a full batch of 4, then the one left over');
    assert.ok(elapsed >= 300, `the fifth image was processed after ${elapsed} ms, before its wait was over`);
  } finally {
    await h.cleanup();
  }
});

test('a checkpoint whose anchors differ from the topology fails the stage at start with a clear error', async () => {
  const h = await teacherHarness({});
  try {
    const topology = { ...h.topology, anchors: resolveAnchorConfig({ ...h.topology.anchors, sizeFactor: 8 }) };
    const stage = runTeacherStage({ ...teacherContext(h), topology });
    await assert.rejects(stage.done, /anchor layout .* differs from the topology's anchors/);
  } finally {
    await h.cleanup();
  }
});

test('outputs and offsets are one transaction: a failed one publishes and commits nothing', async () => {
  const h = await teacherHarness({ teacher: { batchSize: 2 } }, CONFIDENT_BIAS);
  try {
    await h.store.put('img/a.jpg', await encodedImage(32, 32, 'jpeg'));
    await publishInputs(h, [imageRef('img/a.jpg'), imageRef('img/gone.jpg')]);
    const inner = h.transport;
    const rejectedTopic = h.topology.topics.rejected.name;
    // The transaction fails as a whole when it would write a rejection (the broker went away mid-way, say).
    const failingRejects: Transport = {
      createTopics: (t) => inner.createTopics(t),
      topicOffsets: (t) => inner.topicOffsets(t),
      groupOffsets: (g, t) => inner.groupOffsets(g, t),
      setGroupOffsets: (g, t, o) => inner.setGroupOffsets(g, t, o),
      deleteGroups: (g) => inner.deleteGroups(g),
      producer: (c) => inner.producer(c),
      describe: () => 'failing',
      close: () => inner.close(),
      consumer: (c) => {
        const real = inner.consumer(c);
        const wrapped: Consumer = {
          groupId: real.groupId,
          connect: () => real.connect(),
          subscribe: (o) => real.subscribe(o),
          commit: (t, p, o) => real.commit(t, p, o),
          stop: () => real.stop(),
          disconnect: () => real.disconnect(),
          pause: (t) => real.pause(t),
          resume: (t) => real.resume(t),
          assignment: () => real.assignment(),
          run: (o: RunOptions) =>
            real.run({
              ...o,
              eachBatch: (p) =>
                o.eachBatch({
                  ...p,
                  produceAndCommit: async (outputs, next) => {
                    if (outputs.some((x) => x.topic === rejectedTopic)) throw new TransportError('broker unavailable');
                    return p.produceAndCommit(outputs, next);
                  },
                }),
            }),
        };
        return wrapped;
      },
    };
    const stage = runTeacherStage({ ...teacherContext(h), transport: failingRejects });
    await assert.rejects(stage.done, /broker unavailable/);
    assert.deepEqual(await h.transport.groupOffsets('teacher', IMAGES), [{ partition: 0, offset: '-1' }]);
    // The sample of a.jpg went into the failed transaction, not out on its own.
    const samples = await h.transport.topicOffsets(h.topology.topics.samples.name);
    assert.equal(samples.reduce((n, p) => n + Number(p.high), 0), 0);
  } finally {
    await h.cleanup();
  }
});

test('inferenceThread: the same outcomes as in process, each input once; a graceful stop commits the finished batch only', async () => {
  // Both runs use the first harness's teacher (a fresh tiny teacher is randomly initialised).
  const teacherFiles = new Map<string, Uint8Array>();
  const outcomes = async (inferenceThread: boolean): Promise<{ samples: Sample[]; rejected: string[]; dlq: string[] }> => {
    const h = await teacherHarness({ teacher: { batchSize: 2, inferenceThread } }, CONFIDENT_BIAS);
    try {
      if (teacherFiles.size === 0) for await (const o of listAll(h.store, 'models/teacher/')) teacherFiles.set(o.key, await h.store.get(o.key));
      else for (const [key, bytes] of teacherFiles) await h.store.put(key, bytes);
      const refs: Array<ImageRef | OutgoingMessage> = [];
      for (let n = 0; n < 7; n++) {
        await h.store.put(`img/${n}.jpg`, await encodedImage(48 + n, 40, 'jpeg', n));
        refs.push(imageRef(`img/${n}.jpg`));
      }
      refs.push(imageRef('img/missing.jpg'), { key: 'garbage', value: Uint8Array.from([1, 2, 3]) });
      await publishInputs(h, refs);
      // Stopped after the first model batch: it alone is committed; a second run does the rest, nothing twice.
      const controller = new AbortController();
      const first = await runTeacherStage(teacherContext(h, { signal: controller.signal, onProgress: () => controller.abort() })).done;
      assert.equal(first.consumed, 2);
      assert.deepEqual(await h.transport.groupOffsets('teacher', IMAGES), [{ partition: 0, offset: '2' }]);
      const tensorsBefore = tf.memory().numTensors;
      const rest = await runToDrain(h, teacherContext(h));
      assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors left on the stage thread');
      assert.equal(rest.consumed, refs.length - 2);
      if (inferenceThread) assert.ok(rest.inferenceThreadBusy > 0 && rest.inferenceThreadBusy <= 1, `inference thread busy share ${rest.inferenceThreadBusy}`);
      else assert.equal(rest.inferenceThreadBusy, undefined);
      return {
        samples: (await readOutputs(h, 'samples')).map((m) => decodeSample(m.value)),
        rejected: (await readOutputs(h, 'rejected')).map((m) => `${m.key}:${decodeRejection(m.value).reason}`),
        dlq: (await readOutputs(h, 'dlq')).map((m) => m.key),
      };
    } finally {
      await h.cleanup();
    }
  };
  const inProcess = await outcomes(false);
  const threaded = await outcomes(true);
  assert.equal(threaded.samples.length + threaded.rejected.length + threaded.dlq.length, 9, 'every input once');
  assert.deepEqual(new Set(threaded.samples.map((s) => s.ref.imageId)).size, threaded.samples.length, 'no sample twice');
  assert.deepEqual(threaded.rejected, inProcess.rejected);
  assert.deepEqual(threaded.dlq, inProcess.dlq);
  const view = (s: Sample): unknown => ({ id: s.ref.imageId, hard: s.hard, soft: s.soft, lineage: s.teacher });
  assert.deepEqual(threaded.samples.map(view), inProcess.samples.map(view), 'identical hard labels, soft labels and lineage');
});

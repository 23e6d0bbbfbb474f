// Hostile and odd inputs through the teacher stage (and on into the student's admission): each bad one ends as a
// rejection or DLQ record with its reason while the good images around it become samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { decodeRgb } from '../../../src/image/letterbox.ts';
import { listAll } from '../../../src/io/object_store.ts';
import { readDlqRecord } from '../../../src/messages/dlq.ts';
import { encodeEnvelope, MAGIC, MAX_MESSAGE_BYTES, MESSAGE_KINDS } from '../../../src/messages/envelope.ts';
import { encodeImageRef, type ImageRef } from '../../../src/messages/image_ref.ts';
import { decodeRejection } from '../../../src/messages/rejection.ts';
import { decodeSample, type Sample } from '../../../src/messages/sample.ts';
import { buildImageRef } from '../../../src/stages/ingest/image_ref_builder.ts';
import { admitSample } from '../../../src/stages/student/admit_sample.ts';
import { REJECTION_DETAIL_HEADER } from '../../../src/stages/teacher/outputs.ts';
import type { OutgoingMessage } from '../../../src/transport/transport.ts';
import { hostileImages, noisePixels, oddImages } from '../../helpers/odd_images.ts';
import { CONFIDENT_BIAS, encodedImage, useCpuBackend } from './fixtures.ts';
import { IMAGES, publishInputs, readOutputs, runToDrain, teacherContext, teacherHarness } from './stage_harness.ts';
import sharp from 'sharp';

await useCpuBackend();

const MAX_OBJECT_BYTES = 5_000_000;

test('hostile objects and messages are rejected or dead-lettered with their reason; good and odd images become samples', async () => {
  // A confident teacher: every decodable image gets detections, so a missing sample means the image was refused.
  const h = await teacherHarness({ teacher: { batchSize: 4, maxImagePixels: 40_000_000, maxObjectBytes: MAX_OBJECT_BYTES } }, CONFIDENT_BIAS);
  try {
    const expectedRejections = new Map<string, string>();
    const expectedSamples = new Set<string>();
    let good = 0;
    const putGood = async (): Promise<void> => {
      const key = `in/good-${good}.jpg`;
      await h.store.put(key, await encodedImage(64, 48, 'jpeg', 100 + good));
      expectedSamples.add(key);
      good += 1;
    };
    await putGood();
    for (const bad of await hostileImages()) {
      await h.store.put(`in/${bad.name}`, bad.bytes);
      expectedRejections.set(`in/${bad.name}`, bad.reason);
      await putGood();
    }
    for (const odd of await oddImages()) {
      await h.store.put(`in/odd/${odd.name}`, odd.bytes);
      expectedSamples.add(`in/odd/${odd.name}`);
    }
    // A valid PNG bigger than maxObjectBytes (1500×1200 of noise ≈ 5.4 MB).
    const big = await sharp(noisePixels(1500, 1200), { raw: { width: 1500, height: 1200, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    assert.ok(big.length > MAX_OBJECT_BYTES);
    await h.store.put('in/over-size-limit.png', new Uint8Array(big));
    expectedRejections.set('in/over-size-limit.png', 'object-too-large');
    await h.store.put('in/deleted-after-listing.jpg', await encodedImage(32, 32, 'jpeg', 7));
    expectedRejections.set('in/deleted-after-listing.jpg', 'missing-object');

    // ImageRefs as ingest builds them from the listing; then one object disappears before the teacher fetches it.
    const refs: ImageRef[] = [];
    for await (const object of listAll(h.store, 'in/')) {
      const built = buildImageRef(object, { bucket: 'corpus', split: 'unlabeled' });
      assert.ok(built.ok);
      refs.push(built.ref);
    }
    await h.store.delete('in/deleted-after-listing.jpg');

    // Messages no ImageRef decoder should read: over the size limit, and from a future schema and envelope.
    const ref0 = refs[0];
    const oversized = new Uint8Array(MAX_MESSAGE_BYTES + 1024);
    oversized.set(MAGIC);
    const futureSchema = encodeEnvelope(MESSAGE_KINDS.imageRef, { ...ref0, v: 2, newField: 'from the future' });
    const futureEnvelope = Uint8Array.from(encodeImageRef(ref0));
    futureEnvelope[4] = 2;
    const badMessages: OutgoingMessage[] = [
      { key: 'msg/oversized', value: oversized },
      { key: 'msg/future-schema', value: futureSchema },
      { key: 'msg/future-envelope', value: futureEnvelope },
    ];
    const expectedDlq = { 'msg/oversized': 'too-large', 'msg/future-schema': 'unsupported-version', 'msg/future-envelope': 'unsupported-version' };
    // Interleave the bad messages with the refs so they share model batches with good images.
    const inputs: Array<ImageRef | OutgoingMessage> = [...refs];
    inputs.splice(3, 0, badMessages[0]);
    inputs.splice(9, 0, badMessages[1]);
    inputs.splice(15, 0, badMessages[2]);
    await publishInputs(h, inputs);

    const tensorsBefore = tf.memory().numTensors;
    const counters = await runToDrain(h, teacherContext(h));
    assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor leaks across the batches');
    assert.equal(counters.consumed, inputs.length);
    assert.equal(counters.samples + counters.rejected + counters.dlq, inputs.length, 'every input ends as exactly one output');

    const rejections = (await readOutputs(h, 'rejected')).map((m) => ({ r: decodeRejection(m.value), detail: m.headers[REJECTION_DETAIL_HEADER] ?? '' }));
    assert.deepEqual(Object.fromEntries(rejections.map(({ r }) => [r.ref.key, r.reason])), Object.fromEntries(expectedRejections));
    for (const { r, detail } of rejections) assert.ok(detail.length > 10, `${r.ref.key}: a detail says why (${detail})`);
    const detailOf = (key: string): string => rejections.find(({ r }) => r.ref.key === key)?.detail ?? '';
    assert.match(detailOf('in/bomb-20000x20000.png'), /20000×20000 = 400000000 pixels, over the limit of 40000000/);
    assert.match(detailOf('in/over-size-limit.png'), /over the limit of 5000000/);
    assert.match(detailOf('in/huge-exif.png'), /bytes of metadata/);

    const dlq = (await readOutputs(h, 'dlq')).map((m) => readDlqRecord(m));
    assert.deepEqual(Object.fromEntries(dlq.map((d) => [d.key, d.errorReason])), expectedDlq);
    for (const d of dlq) assert.deepEqual([d.stage, d.errorClass, d.original.topic], ['teacher', 'MessageDecodeError', IMAGES]);
    assert.equal(dlq.find((d) => d.key === 'msg/oversized')?.value.length, oversized.length, 'the original bytes are kept');

    const samples = new Map<string, Sample>((await readOutputs(h, 'samples')).map((m) => [m.key, decodeSample(m.value)]));
    assert.deepEqual([...samples.keys()].sort(), [...expectedSamples].sort());
    for (const odd of await oddImages()) {
      const s = samples.get(`in/odd/${odd.name}`);
      assert.deepEqual([s?.ref.width, s?.ref.height], [odd.width, odd.height], `${odd.name}: labeled at its upright size`);
    }

    // The student decodes the Sample's image upright: red on top, blue below, as the teacher saw it.
    const rotated = samples.get('in/odd/exif-rotated.jpg');
    assert.ok(rotated !== undefined);
    const layout = { anchors: h.topology.anchors, inputSize: 64, numAnchors: rotated.soft.anchors, numClasses: rotated.soft.classes };
    const admitted = await admitSample((await readOutputs(h, 'samples')).find((m) => m.key === 'in/odd/exif-rotated.jpg')?.value ?? new Uint8Array(0), layout, () => true);
    assert.equal(admitted.kind, 'sample');
    const pixels = admitted.kind === 'sample' ? admitted.pixels : new Uint8Array(0);
    assert.deepEqual(pixels, await decodeRgb(rotated.image.bytes, 64));
    const at = (x: number, y: number): number[] => [...pixels.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3)];
    assert.ok(at(32, 8)[0] > 150 && at(32, 8)[2] < 90, `top is red: ${at(32, 8)}`);
    assert.ok(at(32, 56)[2] > 150 && at(32, 56)[0] < 90, `bottom is blue: ${at(32, 56)}`);
  } finally {
    await h.cleanup();
  }
});

test('peak RSS stays bounded while the teacher rejects decompression bombs', async () => {
  const h = await teacherHarness({ teacher: { batchSize: 2 } }, CONFIDENT_BIAS);
  try {
    const bomb = (await hostileImages())[0];
    const inputs: ImageRef[] = [];
    for (let i = 0; i < 4; i++) {
      await h.store.put(`b/bomb-${i}.png`, bomb.bytes);
      await h.store.put(`b/good-${i}.jpg`, await encodedImage(64, 64, 'jpeg', i));
      for (const key of [`b/bomb-${i}.png`, `b/good-${i}.jpg`]) {
        const object = await h.store.head(key);
        assert.ok(object !== undefined);
        const built = buildImageRef(object, { bucket: 'corpus', split: 'unlabeled' });
        assert.ok(built.ok);
        inputs.push(built.ref);
      }
    }
    await publishInputs(h, inputs);
    const before = process.resourceUsage().maxRSS;
    const counters = await runToDrain(h, teacherContext(h));
    const after = process.resourceUsage().maxRSS;
    console.log(`peak RSS ${(after / 1024).toFixed(0)} MB (grew ${((after - before) / 1024).toFixed(1)} MB) while rejecting 4 bombs of 20000×20000 (${bomb.bytes.length} bytes each)`);
    assert.deepEqual([counters.samples, counters['rejected.too-large']], [4, 4]);
    // Decoding one bomb would need 400 MB (grey) to 1.2 GB (sRGB); a generous bound well below that.
    assert.ok(after - before < 200 * 1024, `peak RSS grew by ${(after - before) / 1024} MB`);
  } finally {
    await h.cleanup();
  }
});

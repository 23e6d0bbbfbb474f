import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MESSAGE_KINDS, decodeEnvelope, encodeEnvelope } from '../../src/messages/envelope.ts';
import { MessageDecodeError, MessageValidationError } from '../../src/messages/errors.ts';
import { decodeSample, encodeSample, sampleCodec, type Sample } from '../../src/messages/sample.ts';
import { dequantizeSoftLabels, softLabelBytes } from '../../src/messages/soft_labels.ts';
import { ANCHORS_128, CLASSES, UNSURE_TEACHER, exampleSample, rng } from './fixtures.ts';

/** Kafka's default max.message.bytes / message.max.bytes is ~1 MB. */
const KAFKA_DEFAULT_MAX = 1_048_588;

function headerBytes(encoded: Uint8Array): number {
  return new DataView(encoded.buffer, encoded.byteOffset).getUint32(8, true);
}

test('round trip, dense and sparse soft labels', () => {
  for (const epsilon of [0, 0.01]) {
    const sample = exampleSample({ epsilon });
    const decoded = decodeSample(encodeSample(sample));
    assert.deepEqual(decoded, sample);
    assert.deepEqual(dequantizeSoftLabels(decoded.soft), dequantizeSoftLabels(sample.soft));
  }
  const viaCodec = sampleCodec.decode(sampleCodec.encode(exampleSample()));
  assert.equal(viaCodec.image.bytes.length, 8192);
});

test('decoded byte fields are views into the message (no copies of the heavy parts)', () => {
  const encoded = encodeSample(exampleSample({ epsilon: 0.01 }));
  const decoded = decodeSample(encoded);
  assert.equal(decoded.image.bytes.buffer, encoded.buffer);
  assert.equal(decoded.soft.values.buffer, encoded.buffer);
});

test('size per image at 128×128 with 3024 anchors × 4 classes stays far below Kafka’s 1 MB', (t) => {
  for (const [label, options] of [
    ['dense', {}],
    ['sparse ε=0.01', { epsilon: 0.01 }],
    ['sparse ε=0.01, unsure teacher', { epsilon: 0.01, dist: UNSURE_TEACHER }],
    ['sparse ε=0.05', { epsilon: 0.05 }],
  ] as const) {
    const sample = exampleSample(options);
    const encoded = encodeSample(sample);
    const sections = 4 * (sample.soft.mask === undefined ? 2 : 3);
    // Exactly: fixed header + JSON header + length-prefixed sections, nothing else (no base64 bloat).
    assert.equal(encoded.length, 12 + headerBytes(encoded) + sections + sample.image.bytes.length + softLabelBytes(sample.soft));
    assert.ok(headerBytes(encoded) < 1500, `JSON header ${headerBytes(encoded)} B`);
    assert.ok(encoded.length < KAFKA_DEFAULT_MAX / 30, `${label}: ${encoded.length} B`);
    t.diagnostic(
      `${label}: ${encoded.length} B total = ${sample.image.bytes.length} B image + ${softLabelBytes(sample.soft)} B soft labels + ${encoded.length - sample.image.bytes.length - softLabelBytes(sample.soft)} B header/framing`,
    );
  }
  const dense = encodeSample(exampleSample());
  assert.equal(softLabelBytes(exampleSample().soft), ANCHORS_128 * CLASSES);
  assert.ok(dense.length < 32 * 1024);
});

test('validation errors name the field', () => {
  const issuesOf = (sample: unknown): string => {
    try {
      encodeSample(sample as Sample);
    } catch (err) {
      assert.ok(err instanceof MessageValidationError, String(err));
      return err.issues.join('\n');
    }
    assert.fail('expected a MessageValidationError');
  };
  const good = exampleSample();
  assert.match(issuesOf({ ...good, hard: [{ box: [0, 0, 1, 1], classId: 4, score: 0.9 }] }), /^hard\[0\]\.classId: class 4 ≥ soft\.classes \(4\)$/m);
  assert.match(issuesOf({ ...good, hard: [{ box: [0, 0, 1, 1], classId: 0, score: 1.5 }] }), /^hard\[0\]\.score: /m);
  assert.match(issuesOf({ ...good, image: { ...good.image, bytes: new Uint8Array(0) } }), /^image\.bytes: image bytes are empty$/m);
  assert.match(issuesOf({ ...good, image: { ...good.image, format: 'png' } }), /^image\.format: /m);
  assert.match(issuesOf({ ...good, soft: { ...good.soft, values: good.soft.values.subarray(4) } }), /^soft\.values: expected 12096 bytes/m);
  assert.match(issuesOf({ ...good, teacher: { ...good.teacher, anchorConfig: { ...good.teacher.anchorConfig, inputSize: 0 } } }), /^teacher\.anchorConfig\.inputSize: /m);
  assert.match(issuesOf({ ...good, ref: { ...good.ref, split: 'x' } }), /^ref\.split: /m);
});

test('malformed input is refused with a typed reason', () => {
  const encoded = encodeSample(exampleSample({ epsilon: 0.02 }));
  const { header, sections } = decodeEnvelope(encoded, MESSAGE_KINDS.sample);
  const reason = (bytes: Uint8Array): string => {
    try {
      decodeSample(bytes);
    } catch (err) {
      assert.ok(err instanceof MessageDecodeError, String(err));
      return err.reason;
    }
    return 'decoded';
  };
  assert.equal(reason(encodeEnvelope(MESSAGE_KINDS.sample, header, sections.slice(0, 2))), 'bad-section');
  assert.equal(reason(encodeEnvelope(MESSAGE_KINDS.sample, header, [sections[0], sections[1].subarray(1), sections[2]])), 'schema');
  assert.equal(reason(encodeEnvelope(MESSAGE_KINDS.sample, { ...(header as object), v: 3 }, sections)), 'unsupported-version');
  assert.equal(reason(encodeEnvelope(MESSAGE_KINDS.sample, { v: 1 }, sections)), 'schema');
  assert.equal(reason(encodeEnvelope(MESSAGE_KINDS.sample, [1, 2], sections)), 'schema');
  assert.equal(reason(encoded.subarray(0, encoded.length - 1)), 'truncated');
  assert.equal(reason(encoded), 'decoded');
});

test('fuzz: truncations and byte flips only ever raise MessageDecodeError', () => {
  const encoded = encodeSample(exampleSample({ epsilon: 0.05, imageBytes: 256 }));
  const end = 12 + headerBytes(encoded);
  for (let n = 0; n < encoded.length; n++) assert.throws(() => decodeSample(encoded.subarray(0, n)), MessageDecodeError);
  const random = rng(2024);
  let refused = 0;
  for (let i = 0; i < 400; i++) {
    const corrupt = encoded.slice();
    // Mostly hit the framing and the JSON header, where a flip changes meaning rather than pixel values.
    const at = i % 4 === 0 ? Math.floor(random() * corrupt.length) : Math.floor(random() * end);
    corrupt[at] ^= 1 << Math.floor(random() * 8);
    try {
      decodeSample(corrupt);
    } catch (err) {
      assert.ok(err instanceof MessageDecodeError, `flip at ${at}: ${String(err)}`);
      refused += 1;
    }
  }
  assert.ok(refused > 100, `only ${refused} of 400 corruptions were noticed`);
});

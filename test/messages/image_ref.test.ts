import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MESSAGE_KINDS, encodeEnvelope } from '../../src/messages/envelope.ts';
import { MessageDecodeError, MessageValidationError } from '../../src/messages/errors.ts';
import { decodeImageRef, encodeImageRef, imageRefCodec, type ImageRef } from '../../src/messages/image_ref.ts';
import { encodeRejection } from '../../src/messages/rejection.ts';
import { exampleImageRef } from './fixtures.ts';

function validationIssues(ref: unknown): string[] {
  try {
    encodeImageRef(ref as ImageRef);
  } catch (err) {
    assert.ok(err instanceof MessageValidationError, String(err));
    return err.issues;
  }
  assert.fail('expected a MessageValidationError');
}

test('round trip, with and without the optional fields', () => {
  const full = exampleImageRef();
  assert.deepEqual(decodeImageRef(encodeImageRef(full)), full);
  const bare: ImageRef = { v: 1, imageId: 'u-1', bucket: '', key: 'unlabeled/1.jpg', etag: 'e', size: 0, split: 'unlabeled' };
  assert.deepEqual(imageRefCodec.decode(imageRefCodec.encode(bare)), bare);
  assert.equal(imageRefCodec.kind, MESSAGE_KINDS.imageRef);
});

test('an ImageRef is small', () => {
  assert.ok(encodeImageRef(exampleImageRef()).length < 400);
});

test('validation errors name the field and say what is wrong', () => {
  assert.deepEqual(validationIssues({ ...exampleImageRef(), split: 'train' }), ['split: Invalid option: expected one of "labeled"|"unlabeled"|"test"']);
  const issues = validationIssues({
    ...exampleImageRef(),
    imageId: '',
    size: -1,
    gt: [{ box: [50, 20, 10, 60], classId: 1 }, { box: [1, 2, 3], classId: 0.5 }],
  });
  assert.equal(issues.length, 5, issues.join('\n'));
  assert.match(issues.join('\n'), /^imageId: /m);
  assert.match(issues.join('\n'), /^size: /m);
  assert.match(issues.join('\n'), /^gt\[0\]\.box: box must be \[x1, y1, x2, y2\] with x2 ≥ x1 and y2 ≥ y1$/m);
  assert.match(issues.join('\n'), /^gt\[1\]\.box: /m);
  assert.match(issues.join('\n'), /^gt\[1\]\.classId: /m);
  assert.match(validationIssues({ ...exampleImageRef(), v: 2 }).join(), /^v: /);
  const err = (() => {
    try {
      encodeImageRef({ ...exampleImageRef(), split: 'train' } as unknown as ImageRef);
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  assert.match(String(err?.message), /^invalid ImageRef: split: /);
});

test('decode refuses a newer schema version with reason unsupported-version, a bad one with reason schema', () => {
  const v2 = encodeEnvelope(MESSAGE_KINDS.imageRef, { ...exampleImageRef(), v: 2 });
  assert.throws(
    () => decodeImageRef(v2),
    (err: unknown) => err instanceof MessageDecodeError && err.reason === 'unsupported-version' && /v=2, this build reads v1/.test(err.message),
  );
  const bad = encodeEnvelope(MESSAGE_KINDS.imageRef, { ...exampleImageRef(), size: 'big' });
  assert.throws(
    () => decodeImageRef(bad),
    (err: unknown) => err instanceof MessageDecodeError && err.reason === 'schema' && /size: /.test(err.detail),
  );
  const noVersion = encodeEnvelope(MESSAGE_KINDS.imageRef, { imageId: 'x' });
  assert.throws(() => decodeImageRef(noVersion), (err: unknown) => err instanceof MessageDecodeError && err.reason === 'schema');
  const withSection = encodeEnvelope(MESSAGE_KINDS.imageRef, exampleImageRef(), [Uint8Array.of(1)]);
  assert.throws(() => decodeImageRef(withSection), (err: unknown) => err instanceof MessageDecodeError && err.reason === 'bad-section');
});

test('decode refuses other kinds and non-envelope bytes', () => {
  const rejection = encodeRejection({ v: 1, ref: exampleImageRef(), reason: 'no-detections', maxScore: 0.2, stage: 'teacher' });
  assert.throws(() => decodeImageRef(rejection), (err: unknown) => err instanceof MessageDecodeError && err.reason === 'wrong-kind');
  const json = new TextEncoder().encode(JSON.stringify(exampleImageRef()));
  assert.throws(() => decodeImageRef(json), (err: unknown) => err instanceof MessageDecodeError && err.reason === 'bad-magic');
});

test('unknown fields from a newer producer are dropped, not refused (tolerant reader)', () => {
  const newer = encodeEnvelope(MESSAGE_KINDS.imageRef, { ...exampleImageRef(), capturedAt: '2024-01-01' });
  assert.deepEqual(decodeImageRef(newer), exampleImageRef());
});

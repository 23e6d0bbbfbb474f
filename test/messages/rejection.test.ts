import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MESSAGE_KINDS, encodeEnvelope } from '../../src/messages/envelope.ts';
import { MessageDecodeError, MessageValidationError } from '../../src/messages/errors.ts';
import { REJECTION_REASONS, decodeRejection, encodeRejection, rejectionCodec, type Rejection } from '../../src/messages/rejection.ts';
import { encodeSample } from '../../src/messages/sample.ts';
import { exampleImageRef, exampleSample } from './fixtures.ts';

const rejection = (overrides: Partial<Rejection> = {}): Rejection => ({
  v: 1,
  ref: exampleImageRef({ split: 'unlabeled', gt: undefined }),
  reason: REJECTION_REASONS.noDetections,
  maxScore: 0.31,
  stage: 'teacher',
  ...overrides,
});

test('round trip', () => {
  const r = rejection();
  delete (r.ref as { gt?: unknown }).gt;
  assert.deepEqual(decodeRejection(encodeRejection(r)), r);
  assert.deepEqual(rejectionCodec.decode(rejectionCodec.encode(r)), r);
});

test('validation names the field', () => {
  assert.throws(
    () => encodeRejection(rejection({ maxScore: 1.2 })),
    (err: unknown) => err instanceof MessageValidationError && /^maxScore: /.test(err.issues[0]),
  );
  assert.throws(
    () => encodeRejection(rejection({ reason: '', stage: '' })),
    (err: unknown) => err instanceof MessageValidationError && err.issues.length === 2,
  );
});

test('malformed and foreign input is refused with a reason', () => {
  const reasonOf = (bytes: Uint8Array): string => {
    try {
      decodeRejection(bytes);
      return 'decoded';
    } catch (err) {
      assert.ok(err instanceof MessageDecodeError);
      return err.reason;
    }
  };
  assert.equal(reasonOf(encodeSample(exampleSample())), 'wrong-kind');
  assert.equal(reasonOf(encodeEnvelope(MESSAGE_KINDS.rejection, { ...rejection(), v: 2 })), 'unsupported-version');
  assert.equal(reasonOf(encodeEnvelope(MESSAGE_KINDS.rejection, { ...rejection(), maxScore: null })), 'schema');
  assert.equal(reasonOf(encodeEnvelope(MESSAGE_KINDS.rejection, rejection(), [new Uint8Array(1)])), 'bad-section');
  assert.equal(reasonOf(encodeRejection(rejection()).subarray(0, 30)), 'truncated');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENVELOPE_VERSION, MAGIC, MAX_MESSAGE_BYTES, MESSAGE_KINDS, decodeEnvelope, encodeEnvelope } from '../../src/messages/envelope.ts';
import { MessageDecodeError, MessageTooLargeError, type DecodeFailureReason } from '../../src/messages/errors.ts';

function rejectsWith(fn: () => unknown, reason: DecodeFailureReason, detail?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MessageDecodeError, `expected MessageDecodeError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (detail !== undefined) assert.match(err.message, detail);
    assert.equal(err.retriable, false);
    return true;
  });
}

test('layout: magic, versions, kind, counts, header, length-prefixed sections', () => {
  const bytes = encodeEnvelope(MESSAGE_KINDS.sample, { a: 1 }, [Uint8Array.of(9, 8, 7), new Uint8Array(0)]);
  const header = new TextEncoder().encode('{"a":1}');
  const expected = [
    0x44, 0x53, 0x54, 0x4c, // "DSTL"
    ENVELOPE_VERSION,
    MESSAGE_KINDS.sample,
    2, 0, // two sections
    header.length, 0, 0, 0,
    ...header,
    3, 0, 0, 0, 9, 8, 7,
    0, 0, 0, 0,
  ];
  assert.deepEqual([...bytes], expected);
  const decoded = decodeEnvelope(bytes, MESSAGE_KINDS.sample);
  assert.deepEqual(decoded.header, { a: 1 });
  assert.deepEqual(decoded.sections.map((s) => [...s]), [[9, 8, 7], []]);
});

test('decodes from a view with a byte offset (e.g. a pooled Buffer), sections are views', () => {
  const bytes = encodeEnvelope(MESSAGE_KINDS.imageRef, { x: 'é' }, [Uint8Array.of(1, 2)]);
  const pool = new Uint8Array(bytes.length + 10);
  pool.set(bytes, 7);
  const decoded = decodeEnvelope(pool.subarray(7, 7 + bytes.length), MESSAGE_KINDS.imageRef);
  assert.deepEqual(decoded.header, { x: 'é' });
  assert.equal(decoded.sections[0].buffer, pool.buffer);
});

test('every truncation is refused as truncated', () => {
  const bytes = encodeEnvelope(MESSAGE_KINDS.sample, { hello: 'world' }, [new Uint8Array(20).fill(1), Uint8Array.of(5)]);
  for (let n = 0; n < bytes.length; n++) {
    rejectsWith(() => decodeEnvelope(bytes.subarray(0, n), MESSAGE_KINDS.sample), 'truncated');
  }
});

test('bad magic, other envelope version, wrong kind, trailing bytes, bad header', () => {
  const good = encodeEnvelope(MESSAGE_KINDS.rejection, { v: 1 });
  rejectsWith(() => decodeEnvelope(new TextEncoder().encode('{"v":1,"json":"not ours"}'), MESSAGE_KINDS.rejection), 'bad-magic');
  const v2 = good.slice();
  v2[4] = 2;
  rejectsWith(() => decodeEnvelope(v2, MESSAGE_KINDS.rejection), 'unsupported-version', /envelope version 2/);
  rejectsWith(() => decodeEnvelope(good, MESSAGE_KINDS.sample), 'wrong-kind', /got a Rejection, expected a Sample/);
  const trailing = new Uint8Array(good.length + 3);
  trailing.set(good);
  rejectsWith(() => decodeEnvelope(trailing, MESSAGE_KINDS.rejection), 'trailing-bytes', /3 bytes/);

  const notJson = encodeEnvelope(MESSAGE_KINDS.rejection, 'x');
  notJson.set(new TextEncoder().encode('{x'), 12); // header was `"x"`, 3 bytes
  rejectsWith(() => decodeEnvelope(notJson, MESSAGE_KINDS.rejection), 'bad-header');
  const notUtf8 = encodeEnvelope(MESSAGE_KINDS.rejection, 'abc');
  notUtf8[13] = 0xff;
  rejectsWith(() => decodeEnvelope(notUtf8, MESSAGE_KINDS.rejection), 'bad-header');
  rejectsWith(() => decodeEnvelope('DSTL' as unknown as Uint8Array, MESSAGE_KINDS.rejection), 'bad-magic');
});

test('a section length pointing past the end is truncation, not a crash', () => {
  const bytes = encodeEnvelope(MESSAGE_KINDS.sample, {}, [Uint8Array.of(1, 2, 3)]);
  const view = new DataView(bytes.buffer);
  view.setUint32(bytes.length - 7, 0xffffffff, true);
  rejectsWith(() => decodeEnvelope(bytes, MESSAGE_KINDS.sample), 'truncated', /section 0/);
  const count = encodeEnvelope(MESSAGE_KINDS.sample, {}, [Uint8Array.of(1, 2, 3)]);
  new DataView(count.buffer).setUint16(6, 500, true);
  rejectsWith(() => decodeEnvelope(count, MESSAGE_KINDS.sample), 'truncated', /section 1 length/);
});

test('messages over MAX_MESSAGE_BYTES are refused when encoding and before parsing', () => {
  const section = new Uint8Array(MAX_MESSAGE_BYTES);
  assert.throws(() => encodeEnvelope(MESSAGE_KINDS.sample, { v: 1 }, [section]), (err: unknown) => err instanceof MessageTooLargeError && err.reason === 'too-large' && /over the message size limit of 1048576/.test(err.message));
  const big = new Uint8Array(MAX_MESSAGE_BYTES + 1);
  big.set(MAGIC);
  assert.throws(() => decodeEnvelope(big, MESSAGE_KINDS.sample), (err: unknown) => err instanceof MessageDecodeError && err.reason === 'too-large');
});

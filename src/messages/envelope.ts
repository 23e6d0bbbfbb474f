// The binary envelope every distillery message travels in: magic + versions, a JSON header, raw byte sections.
//
// Layout (integers little-endian):
//
//   offset  size  field
//   0       4     magic "DSTL" (0x44 0x53 0x54 0x4c) — tells our bytes from anything else on a topic
//   4       1     envelope version (1) — the framing below; the message schema has its own `v` in the header
//   5       1     kind: 1 ImageRef, 2 Sample, 3 Rejection
//   6       2     section count n
//   8       4     header length h
//   12      h     header: UTF-8 JSON of the message without its byte fields
//   …       n ×   section: u32 length, then that many raw bytes (JPEG, quantized soft labels, …)
//
// and nothing after the last section. Why not JSON with base64: a Sample is mostly bytes (a JPEG and A×C soft
// labels) and base64 would add a third to it; why not protobuf/Avro: no extra dependency, no schema registry, and
// the header stays readable in a hex dump. Sections are returned as views into the input (no copy).
import { MessageDecodeError, MessageTooLargeError, MessageValidationError, formatIssues } from './errors.ts';
import type { z } from 'zod';

export const MAGIC = Uint8Array.of(0x44, 0x53, 0x54, 0x4c);
/**
 * Largest message we produce or parse: Kafka's default `message.max.bytes` (1 MiB; the broker refuses larger
 * batches). Checked before sending, so an oversized Sample goes to the DLQ instead of failing the batch forever,
 * and before parsing, so a huge record on a topic costs no JSON parse.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
export const ENVELOPE_VERSION = 1;
const FIXED_BYTES = 12;

export const MESSAGE_KINDS = { imageRef: 1, sample: 2, rejection: 3 } as const;
export type MessageKind = (typeof MESSAGE_KINDS)[keyof typeof MESSAGE_KINDS];

const KIND_NAMES: Record<MessageKind, string> = { 1: 'ImageRef', 2: 'Sample', 3: 'Rejection' };

export function kindName(kind: number): string {
  return KIND_NAMES[kind as MessageKind] ?? `kind ${kind}`;
}

export interface Envelope {
  kind: MessageKind;
  header: unknown;
  sections: Uint8Array[];
}

/** Serialises a message for the wire, validating and encoding one message kind; its inverse is `decode`. */
export interface Codec<T> {
  readonly kind: MessageKind;
  readonly name: string;
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEnvelope(kind: MessageKind, header: unknown, sections: Uint8Array[] = []): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  if (sections.length > 0xffff) throw new RangeError(`too many sections: ${sections.length}`);
  const total = FIXED_BYTES + json.length + sections.reduce((sum, s) => sum + 4 + s.length, 0);
  if (total > MAX_MESSAGE_BYTES) throw new MessageTooLargeError(kindName(kind), total, MAX_MESSAGE_BYTES);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint8(4, ENVELOPE_VERSION);
  view.setUint8(5, kind);
  view.setUint16(6, sections.length, true);
  view.setUint32(8, json.length, true);
  out.set(json, FIXED_BYTES);
  let at = FIXED_BYTES + json.length;
  for (const section of sections) {
    view.setUint32(at, section.length, true);
    out.set(section, at + 4);
    at += 4 + section.length;
  }
  return out;
}

/** Parses the framing; throws MessageDecodeError for anything malformed, truncated or of another kind/version. */
export function decodeEnvelope(bytes: Uint8Array, expected: MessageKind): Envelope {
  const name = kindName(expected);
  const fail = (reason: ConstructorParameters<typeof MessageDecodeError>[1], detail: string): never => {
    throw new MessageDecodeError(name, reason, detail);
  };
  if (!(bytes instanceof Uint8Array)) fail('bad-magic', 'input is not a byte array');
  if (bytes.length > MAX_MESSAGE_BYTES) fail('too-large', `${bytes.length} bytes, over the limit of ${MAX_MESSAGE_BYTES}`);
  if (bytes.length < MAGIC.length) fail('truncated', `${bytes.length} bytes, not even a magic number`);
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) fail('bad-magic', 'does not start with "DSTL"');
  if (bytes.length < FIXED_BYTES) fail('truncated', `${bytes.length} bytes, the fixed header needs ${FIXED_BYTES}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== ENVELOPE_VERSION) fail('unsupported-version', `envelope version ${version}, this build reads ${ENVELOPE_VERSION}`);
  const kind = view.getUint8(5);
  if (kind !== expected) fail('wrong-kind', `got a ${kindName(kind)}, expected a ${name}`);
  const count = view.getUint16(6, true);
  const headerLength = view.getUint32(8, true);
  if (FIXED_BYTES + headerLength > bytes.length) fail('truncated', `header of ${headerLength} bytes runs past the end (${bytes.length})`);
  let header: unknown;
  try {
    header = JSON.parse(strictDecoder.decode(bytes.subarray(FIXED_BYTES, FIXED_BYTES + headerLength)));
  } catch (err) {
    fail('bad-header', err instanceof Error ? err.message : String(err));
  }
  const sections: Uint8Array[] = [];
  let at = FIXED_BYTES + headerLength;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) fail('truncated', `section ${i} length field runs past the end`);
    const length = view.getUint32(at, true);
    if (at + 4 + length > bytes.length) fail('truncated', `section ${i} of ${length} bytes runs past the end`);
    sections.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (at !== bytes.length) fail('trailing-bytes', `${bytes.length - at} bytes after the last section`);
  return { kind: expected, header, sections };
}

/** Checks the schema version before the schema, so a newer message says "unsupported version", not "invalid". */
export function checkSchemaVersion(name: string, header: unknown, supported: number): void {
  const v = typeof header === 'object' && header !== null ? (header as { v?: unknown }).v : undefined;
  if (v === undefined) throw new MessageDecodeError(name, 'schema', 'v: missing schema version');
  if (v !== supported) throw new MessageDecodeError(name, 'unsupported-version', `schema v=${JSON.stringify(v)}, this build reads v${supported}`);
}

/** schema.parse that throws MessageValidationError (encode side). */
export function validateForEncode<S extends z.ZodType>(name: string, schema: S, message: unknown): z.output<S> {
  const parsed = schema.safeParse(message);
  if (!parsed.success) throw new MessageValidationError(name, formatIssues(parsed.error));
  return parsed.data;
}

/** schema.parse that throws MessageDecodeError with reason 'schema' (decode side). */
export function validateDecoded<S extends z.ZodType>(name: string, schema: S, message: unknown): z.output<S> {
  const parsed = schema.safeParse(message);
  if (!parsed.success) throw new MessageDecodeError(name, 'schema', formatIssues(parsed.error).join('; '));
  return parsed.data;
}


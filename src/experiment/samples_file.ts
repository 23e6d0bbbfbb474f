// The teacher's Samples saved once per experiment, so every (row, seed) cell process trains on identical bytes.
import { readFile, writeFile } from 'node:fs/promises';

/** One Sample message plus what the experiment selects on (decoded once, when labeling). */
export interface SampleRecord {
  /** Message key (image id). */
  key: string;
  /** The encoded Sample, exactly as the teacher stage published it. */
  value: Uint8Array;
  split: 'labeled' | 'unlabeled' | 'test';
  /** Number of hard labels: 0 for an unlabeled image the filter would have rejected. */
  hard: number;
  /** Store key of the source image. */
  objectKey: string;
}

const MAGIC = 'distillery-samples/1\n';

// Layout after the magic line: per record, u32 LE length + UTF-8 JSON of the metadata, u32 LE length + value bytes.
export function encodeSampleRecords(records: readonly SampleRecord[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [encoder.encode(MAGIC)];
  for (const r of records) {
    const meta = encoder.encode(JSON.stringify({ key: r.key, split: r.split, hard: r.hard, objectKey: r.objectKey }));
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, meta.length, true);
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, r.value.length, true);
    parts.push(head, meta, size, r.value);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function decodeSampleRecords(bytes: Uint8Array, source = 'samples file'): SampleRecord[] {
  const decoder = new TextDecoder();
  const magic = new TextEncoder().encode(MAGIC);
  if (bytes.length < magic.length || decoder.decode(bytes.subarray(0, magic.length)) !== MAGIC) throw new Error(`${source}: not a distillery samples file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: SampleRecord[] = [];
  let at = magic.length;
  const take = (what: string): Uint8Array => {
    if (at + 4 > bytes.length) throw new Error(`${source}: truncated at byte ${at} (${what} length)`);
    const n = view.getUint32(at, true);
    at += 4;
    if (at + n > bytes.length) throw new Error(`${source}: truncated at byte ${at} (${what} of ${n} bytes)`);
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  while (at < bytes.length) {
    const meta = JSON.parse(decoder.decode(take('metadata'))) as Omit<SampleRecord, 'value'>;
    records.push({ ...meta, value: take('value') });
  }
  return records;
}

export async function writeSampleRecords(file: string, records: readonly SampleRecord[]): Promise<void> {
  await writeFile(file, encodeSampleRecords(records));
}

export async function readSampleRecords(file: string): Promise<SampleRecord[]> {
  return decodeSampleRecords(new Uint8Array(await readFile(file)), file);
}

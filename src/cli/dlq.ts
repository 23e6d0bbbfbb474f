// `distillery dlq ls|show|replay`: read the dead-letter topic by reason, inspect one record, send records back after a fix.
import { Command, InvalidArgumentError } from 'commander';
import { readDlqRecord, DLQ_HEADERS, type DlqRecord } from '../messages/dlq.ts';
import { decodeImageRef } from '../messages/image_ref.ts';
import { loadTopology } from '../topology/index.ts';
import type { CompiledTopology } from '../topology/types.ts';
import { openTransport } from '../transport/open_transport.ts';
import { readTopic } from '../transport/read_topic.ts';
import type { OutgoingMessage, ReceivedMessage, Transport } from '../transport/transport.ts';
import { createLogger } from '../util/logger.ts';
import { DEFAULT_TOPOLOGY } from './run.ts';
import type { TrainCommandIo } from './train.ts';
import { nonNegativeInteger, positiveInteger } from './args.ts';

/** One record of the DLQ topic: its place there, and what it says (or why it cannot be read). */
export interface DlqEntry {
  partition: number;
  offset: string;
  key: string;
  record?: DlqRecord;
  /** Set when the record lacks our headers (written by something else). */
  unreadable?: string;
}

/** The reason a record is grouped under: the error's reason when it has one, else its class. */
export function reasonOf(entry: DlqEntry): string {
  if (entry.record === undefined) return 'unreadable';
  return entry.record.errorReason ?? entry.record.errorClass;
}

export function toEntry(m: ReceivedMessage): DlqEntry {
  const base = { partition: m.partition, offset: m.offset, key: m.key };
  try {
    return { ...base, record: readDlqRecord(m) };
  } catch (err) {
    return { ...base, unreadable: err instanceof Error ? err.message : String(err) };
  }
}

/** Every record of the DLQ topic as it is now (nothing committed). */
export async function readDlq(transport: Transport, topic: string, options: { idleMs?: number } = {}): Promise<DlqEntry[]> {
  return (await readTopic(transport, topic, options)).map(toEntry);
}

export interface ReasonCount {
  reason: string;
  stage: string;
  count: number;
}

/** Counts per (reason, stage), most frequent first. */
export function countByReason(entries: readonly DlqEntry[]): ReasonCount[] {
  const counts = new Map<string, ReasonCount>();
  for (const e of entries) {
    const reason = reasonOf(e);
    const stage = e.record?.stage ?? '-';
    const k = `${reason}\u0000${stage}`;
    const c = counts.get(k) ?? { reason, stage, count: 0 };
    c.count += 1;
    counts.set(k, c);
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

/** A DLQ position `partition:offset`, or a bare offset on `defaultPartition`. */
export function parsePosition(text: string, defaultPartition = 0): { partition: number; offset: string } {
  const m = /^(?:(\d+):)?(\d+)$/.exec(text.trim());
  if (m === null) throw new InvalidArgumentError(`expected an offset or partition:offset, got ${JSON.stringify(text)}`);
  return { partition: m[1] === undefined ? defaultPartition : Number(m[1]), offset: String(Number(m[2])) };
}

export interface Selection {
  /** DLQ positions (`partition:offset` or offsets on `partition`). */
  offsets?: string[];
  reason?: string;
  all?: boolean;
  partition?: number;
}

/** The entries a selection names; exactly one of offsets, reason and all must be given. Unreadable records are never selected. */
export function selectEntries(entries: readonly DlqEntry[], selection: Selection): DlqEntry[] {
  const given = [selection.offsets !== undefined, selection.reason !== undefined, selection.all === true].filter(Boolean).length;
  if (given !== 1) throw new Error('select records with exactly one of --offset, --reason or --all');
  const readable = entries.filter((e) => e.record !== undefined);
  if (selection.all) return readable;
  if (selection.reason !== undefined) return readable.filter((e) => reasonOf(e) === selection.reason);
  const wanted = (selection.offsets ?? []).map((o) => parsePosition(o, selection.partition));
  return wanted.map((w) => {
    const found = entries.find((e) => e.partition === w.partition && e.offset === w.offset);
    if (found === undefined) throw new Error(`no DLQ record at ${w.partition}:${w.offset}`);
    if (found.record === undefined) throw new Error(`the record at ${w.partition}:${w.offset} is not a distillery DLQ record: ${found.unreadable}`);
    return found;
  });
}

/** The message a replay sends: the original key, bytes and headers, plus how often it has failed so far. */
export function replayMessage(record: DlqRecord): OutgoingMessage {
  return { key: record.key, value: record.value, headers: { ...record.headers, [DLQ_HEADERS.attempts]: String(record.attempts) } };
}

/** Sends each selected record back to its original topic, in DLQ order; returns the count per topic. */
export async function replayEntries(transport: Transport, entries: readonly DlqEntry[]): Promise<Record<string, number>> {
  const byTopic = new Map<string, OutgoingMessage[]>();
  for (const e of entries) {
    if (e.record === undefined) continue;
    const list = byTopic.get(e.record.original.topic) ?? [];
    list.push(replayMessage(e.record));
    byTopic.set(e.record.original.topic, list);
  }
  const producer = transport.producer({ clientId: 'distillery-dlq-replay' });
  await producer.connect();
  try {
    for (const [topic, messages] of byTopic) await producer.send(topic, messages);
  } finally {
    await producer.disconnect();
  }
  return Object.fromEntries([...byTopic].map(([topic, list]) => [topic, list.length]));
}

export function formatCounts(counts: readonly ReasonCount[], total: number): string {
  const rows = [['reason', 'stage', 'records'], ...counts.map((c) => [c.reason, c.stage, String(c.count)]), ['total', '', String(total)]];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === 2 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

export function formatEntryLine(e: DlqEntry): string {
  const at = `${e.partition}:${e.offset}`;
  if (e.record === undefined) return `${at}  unreadable  key=${e.key}  ${e.unreadable}`;
  const r = e.record;
  return `${at}  ${reasonOf(e)}  stage=${r.stage}  from=${r.original.topic}[${r.original.partition}]@${r.original.offset}  attempts=${r.attempts}  key=${e.key}  ${r.errorMessage}`;
}

/** Everything about one record: where it came from, why it failed, its headers, and what its bytes look like. */
export function formatEntry(e: DlqEntry, raw: { headers: Record<string, string> }): string {
  const lines = [`DLQ record ${e.partition}:${e.offset}  key=${e.key}`];
  if (e.record === undefined) {
    lines.push(`  not a distillery DLQ record: ${e.unreadable}`);
  } else {
    const r = e.record;
    lines.push(
      `  original:  ${r.original.topic} partition ${r.original.partition} offset ${r.original.offset}`,
      `  stage:     ${r.stage}`,
      `  error:     ${r.errorClass}${r.errorReason === undefined ? '' : ` (${r.errorReason})`}: ${r.errorMessage}`,
      `  attempts:  ${r.attempts}`,
      `  failed at: ${r.failedAt}`,
      `  value:     ${describeValue(r.value)}`,
    );
  }
  lines.push('  headers:');
  for (const [name, value] of Object.entries(raw.headers).sort(([a], [b]) => a.localeCompare(b))) lines.push(`    ${name}: ${value}`);
  return lines.join('\n');
}

function describeValue(value: Uint8Array): string {
  const size = `${value.length} bytes`;
  try {
    const ref = decodeImageRef(value);
    return `${size}, an ImageRef: ${ref.split} ${ref.bucket}/${ref.key} (id ${ref.imageId}, ${ref.size} bytes)`;
  } catch {
    // not an ImageRef (or a broken one): show the bytes
  }
  const head = value.subarray(0, 48);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head);
  const printable = /^[\x20-\x7e\t\n\r]*$/.test(text);
  return printable ? `${size}: ${JSON.stringify(text)}${value.length > head.length ? '…' : ''}` : `${size}: ${Buffer.from(head).toString('hex')}${value.length > head.length ? '…' : ''}`;
}

interface DlqFlags {
  topology: string;
  set?: string[];
  topic?: string;
  idle: number;
}

async function withDlq<T>(flags: DlqFlags, body: (transport: Transport, topic: string, topology: CompiledTopology) => Promise<T>): Promise<T> {
  const topology = await loadTopology(flags.topology, { overrides: flags.set });
  if (topology.transport.kind === 'memory') {
    throw new Error(`${topology.source}: the memory transport lives inside one \`distillery run all\` process; dlq reads a shared transport (kafka)`);
  }
  const transport = openTransport(topology.transport, { logger: createLogger({ level: process.env.DISTILLERY_LOG_LEVEL ?? 'error' }) });
  try {
    return await body(transport, flags.topic ?? topology.topics.dlq.name, topology);
  } finally {
    await transport.close();
  }
}

function common(command: Command): Command {
  return command
    .option('--topology <file>', 'topology YAML (its transport and dlq topic)', DEFAULT_TOPOLOGY)
    .option('--topic <name>', "the dead-letter topic (default: the topology's topics.dlq)")
    .option('--idle <ms>', 'stop reading a partition after this long without a new record', positiveInteger, 3000)
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v]);
}

export function dlqCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const dlq = new Command('dlq').description('inspect and replay the dead-letter topic (records a stage could not handle, with why)');
  dlq.addCommand(
    common(new Command('ls'))
      .description('count dead-lettered records by reason and stage; --records lists them')
      .option('--reason <reason>', 'only records of this reason')
      .option('--records', 'list the records, one line each', false)
      .option('--json', 'print JSON', false)
      .action(async (flags: DlqFlags & { reason?: string; records: boolean; json: boolean }) => {
        await withDlq(flags, async (transport, topic) => {
          const all = await readDlq(transport, topic, { idleMs: flags.idle });
          const entries = flags.reason === undefined ? all : all.filter((e) => reasonOf(e) === flags.reason);
          const counts = countByReason(entries);
          if (flags.json) {
            const records = entries.map((e) => ({ partition: e.partition, offset: e.offset, key: e.key, reason: reasonOf(e), ...(e.record ? { stage: e.record.stage, original: e.record.original, errorClass: e.record.errorClass, errorMessage: e.record.errorMessage, attempts: e.record.attempts, failedAt: e.record.failedAt } : { unreadable: e.unreadable }) }));
            io.stdout.write(`${JSON.stringify({ topic, total: entries.length, counts, ...(flags.records ? { records } : {}) })}\n`);
            return;
          }
          io.stdout.write(`${topic}: ${entries.length} record${entries.length === 1 ? '' : 's'}\n${formatCounts(counts, entries.length)}\n`);
          if (flags.records) io.stdout.write(`\n${entries.map(formatEntryLine).join('\n')}\n`);
        });
      }),
  );
  dlq.addCommand(
    common(new Command('show'))
      .description('one record with all its headers: original topic/partition/offset, stage, error, attempts')
      .argument('<position>', 'the record: offset, or partition:offset')
      .option('--partition <n>', 'partition of a bare offset', nonNegativeInteger, 0)
      .action(async (position: string, flags: DlqFlags & { partition: number }) => {
        const at = parsePosition(position, flags.partition);
        await withDlq(flags, async (transport, topic) => {
          const messages = await readTopic(transport, topic, { idleMs: flags.idle });
          const m = messages.find((x) => x.partition === at.partition && x.offset === at.offset);
          if (m === undefined) throw new Error(`no record at ${at.partition}:${at.offset} in ${topic}`);
          io.stdout.write(`${formatEntry(toEntry(m), m)}\n`);
        });
      }),
  );
  dlq.addCommand(
    common(new Command('replay'))
      .description('send selected records back to their original topic (after fixing what made them fail)')
      .option('--offset <positions>', 'records by offset or partition:offset, comma separated', (v: string, prev: string[] = []) => [...prev, ...v.split(',')])
      .option('--partition <n>', 'partition of bare offsets', nonNegativeInteger, 0)
      .option('--reason <reason>', 'every record of this reason')
      .option('--all', 'every record', false)
      .option('--dry-run', 'list what would be replayed, send nothing', false)
      .action(async (flags: DlqFlags & { offset?: string[]; partition: number; reason?: string; all: boolean; dryRun: boolean }) => {
        await withDlq(flags, async (transport, topic) => {
          const entries = await readDlq(transport, topic, { idleMs: flags.idle });
          const selected = selectEntries(entries, { offsets: flags.offset, reason: flags.reason, all: flags.all || undefined, partition: flags.partition });
          if (flags.dryRun) {
            io.stdout.write(`would replay ${selected.length} record${selected.length === 1 ? '' : 's'}:\n${selected.map(formatEntryLine).join('\n')}\n`);
            return;
          }
          const sent = await replayEntries(transport, selected);
          const summary = Object.entries(sent).map(([t, n]) => `${n} to ${t}`).join(', ');
          io.stdout.write(`replayed ${selected.length} record${selected.length === 1 ? '' : 's'}${summary ? `: ${summary}` : ''}\n`);
        });
      }),
  );
  return dlq;
}


// `distillery status`: per-topic/partition log-end offsets, each consuming stage's committed offsets and lag, and throughput.
import { Command } from 'commander';
import { loadTopology } from '../topology/index.ts';
import { consumerGroupOf } from '../topology/consumer_group.ts';
import type { CompiledTopology } from '../topology/types.ts';
import { openTransport } from '../transport/open_transport.ts';
import { parseOffset, partitionLag, UnknownTopicError, type Admin } from '../transport/transport.ts';
import { createLogger } from '../util/logger.ts';
import { DEFAULT_TOPOLOGY } from './run.ts';
import type { TrainCommandIo } from './train.ts';
import { secondsArg } from './args.ts';

export interface PartitionStatus {
  partition: number;
  /** Log-end offset (messages ever appended). */
  high: number;
  /** Per consuming group: committed next offset (undefined = never committed) and lag. */
  groups: Record<string, { committed: number | undefined; lag: number }>;
}

export interface TopicStatus {
  role: string;
  topic: string;
  partitions: PartitionStatus[];
  /** Consuming stages (= consumer groups) of this topic. */
  consumers: string[];
  /** Messages appended per second over the sampling interval (undefined with a single sample). */
  producedPerSecond?: number;
  /** Per group: offsets committed per second over the interval (stages commit in batches or at checkpoints). */
  committedPerSecond: Record<string, number>;
  /** The topic does not exist yet (no stage has started). */
  missing?: boolean;
}

/** One snapshot of every topic of the topology, from the admin API. */
export async function snapshotStatus(admin: Admin, topology: CompiledTopology): Promise<TopicStatus[]> {
  const out: TopicStatus[] = [];
  for (const [role, config] of Object.entries(topology.topics)) {
    const consumers = topology.stages.filter((s) => s.kind !== 'ingest' && s.input === role).map((s) => s.name);
    let watermarks;
    try {
      watermarks = await admin.topicOffsets(config.name);
    } catch (err) {
      if (!(err instanceof UnknownTopicError)) throw err;
      out.push({ role, topic: config.name, partitions: [], consumers, committedPerSecond: {}, missing: true });
      continue;
    }
    const committed = await Promise.all(consumers.map(async (g) => [g, await admin.groupOffsets(consumerGroupOf(topology, g), config.name)] as const));
    const partitions = watermarks
      .map((w): PartitionStatus => {
        const groups: PartitionStatus['groups'] = {};
        for (const [group, offsets] of committed) {
          const { committed: c, lag } = partitionLag(w, offsets);
          groups[group] = { committed: c, lag };
        }
        return { partition: w.partition, high: parseOffset(w.high), groups };
      })
      .sort((a, b) => a.partition - b.partition);
    out.push({ role, topic: config.name, partitions, consumers, committedPerSecond: {} });
  }
  return out;
}

/** Two snapshots `intervalMs` apart; rates come from their difference. */
export async function sampleStatus(admin: Admin, topology: CompiledTopology, intervalMs: number, signal?: AbortSignal): Promise<TopicStatus[]> {
  const first = await snapshotStatus(admin, topology);
  if (intervalMs <= 0) return first;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, intervalMs);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
  const second = await snapshotStatus(admin, topology);
  const seconds = (performance.now() - t0) / 1000;
  return second.map((topic, i) => {
    const before = first[i];
    if (topic.missing || before.missing) return topic;
    const sum = (t: TopicStatus, f: (p: PartitionStatus) => number): number => t.partitions.reduce((s, p) => s + f(p), 0);
    const committedPerSecond: Record<string, number> = {};
    for (const g of topic.consumers) {
      committedPerSecond[g] = (sum(topic, (p) => p.groups[g]?.committed ?? 0) - sum(before, (p) => p.groups[g]?.committed ?? 0)) / seconds;
    }
    return { ...topic, producedPerSecond: (sum(topic, (p) => p.high) - sum(before, (p) => p.high)) / seconds, committedPerSecond };
  });
}

export function formatStatus(topics: readonly TopicStatus[]): string {
  const lines: string[] = [];
  for (const t of topics) {
    if (t.missing) {
      lines.push(`${t.role} → ${t.topic}: not created yet (no stage has started)`, '');
      continue;
    }
    const rate = t.producedPerSecond === undefined ? '' : `, in ${t.producedPerSecond.toFixed(1)} msg/s`;
    lines.push(`${t.role} → ${t.topic} (${t.partitions.length} partition${t.partitions.length === 1 ? '' : 's'}${rate})`);
    const header = ['partition', 'log-end', ...t.consumers.flatMap((g) => [`${g} committed`, `${g} lag`])];
    const rows = t.partitions.map((p) => [String(p.partition), String(p.high), ...t.consumers.flatMap((g) => [String(p.groups[g]?.committed ?? '-'), String(p.groups[g]?.lag ?? '-')])]);
    const total = ['total', String(t.partitions.reduce((s, p) => s + p.high, 0)), ...t.consumers.flatMap((g) => ['', String(t.partitions.reduce((s, p) => s + (p.groups[g]?.lag ?? 0), 0))])];
    const table = [header, ...rows, total];
    const widths = header.map((_, c) => Math.max(...table.map((r) => r[c].length)));
    for (const r of table) lines.push(`  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')}`);
    for (const g of t.consumers) {
      const r = t.committedPerSecond[g];
      if (r !== undefined) lines.push(`  ${g}: committing ${r.toFixed(1)} msg/s`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

interface StatusFlags {
  topology: string;
  interval: number;
  watch: boolean;
  json: boolean;
  set?: string[];
}

export function statusCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return new Command('status')
    .description("per topic and partition: log-end offsets, each consuming stage's committed offset and lag, and throughput over an interval")
    .option('--topology <file>', 'topology YAML (its transport, topics and stages)', DEFAULT_TOPOLOGY)
    .option('--interval <seconds>', 'measure throughput over this many seconds (0 = offsets only)', secondsArg, 5)
    .option('--watch', 'repeat until Ctrl-C', false)
    .option('--json', 'print JSON instead of tables', false)
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (flags: StatusFlags) => {
      const topology = await loadTopology(flags.topology, { overrides: flags.set });
      if (topology.transport.kind === 'memory') {
        throw new Error(`${topology.source}: the memory transport lives inside one \`distillery run all\` process; status reads a shared transport (kafka)`);
      }
      const transport = openTransport(topology.transport, { logger: createLogger({ level: process.env.DISTILLERY_LOG_LEVEL ?? 'error' }) });
      const controller = new AbortController();
      const onSignal = (): void => controller.abort();
      process.once('SIGINT', onSignal);
      try {
        do {
          const topics = await sampleStatus(transport, topology, flags.interval * 1000, controller.signal);
          io.stdout.write(flags.json ? `${JSON.stringify({ at: new Date().toISOString(), topics })}\n` : `${new Date().toISOString()} ${transport.describe()}\n${formatStatus(topics)}\n`);
        } while (flags.watch && !controller.signal.aborted);
      } finally {
        process.off('SIGINT', onSignal);
        await transport.close();
      }
    });
}


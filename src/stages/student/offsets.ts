// Consumed offsets of the student: what may be committed at a checkpoint, how they are stored, and seeking on resume.
import type { Admin, PartitionOffset } from '../../transport/transport.ts';
import { parseOffset } from '../../transport/transport.ts';
import type { Logger } from '../../util/logger.ts';
import type { SampleSource } from './sample_buffer.ts';

/** Checkpoint key of a partition's offset: `<topic>:<partition>` (Kafka topic names cannot contain ':'). */
export function offsetKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

export function parseOffsetKey(key: string): { topic: string; partition: number } | undefined {
  const at = key.lastIndexOf(':');
  if (at <= 0) return undefined;
  const partition = Number(key.slice(at + 1));
  if (!Number.isInteger(partition) || partition < 0 || key.slice(at + 1) === '') return undefined;
  return { topic: key.slice(0, at), partition };
}

/**
 * Per partition, the next offset after every message the stage has finished with (buffered, ignored or
 * dead-lettered). Positions to commit hold back to the oldest sample not yet trained on, so that a restart
 * redelivers every sample that has not contributed to the saved weights (the buffer itself is not saved).
 */
export class ConsumedOffsets {
  private readonly next = new Map<string, number>();
  /** Where consumption of a partition began in this run (its first handled offset, or the restored position). */
  private readonly start = new Map<string, number>();

  /** Starts from positions restored from a checkpoint, so partitions not read again keep their offsets. */
  constructor(initial: Record<string, string> = {}) {
    for (const [key, offset] of Object.entries(initial)) {
      if (parseOffsetKey(key) === undefined) throw new Error(`invalid offset key '${key}' (expected <topic>:<partition>)`);
      this.next.set(key, parseOffset(offset));
      this.start.set(key, parseOffset(offset));
    }
  }

  /** Records that `offset` of a partition is handled. Offsets of a partition arrive in order. */
  done(topic: string, partition: number, offset: number): void {
    const key = offsetKey(topic, partition);
    if (!this.start.has(key)) this.start.set(key, offset);
    this.next.set(key, Math.max(this.next.get(key) ?? 0, offset + 1));
  }

  /** True when `offset` of a partition was handled before in this run (or lies below the restored position). */
  handled(topic: string, partition: number, offset: number): boolean {
    const next = this.next.get(offsetKey(topic, partition));
    return next !== undefined && offset < next;
  }

  /** True when `positions` would only repeat where this run started (nothing worth committing happened). */
  unchangedSinceStart(positions: Record<string, string>): boolean {
    return Object.entries(positions).every(([key, offset]) => this.start.get(key) === parseOffset(offset));
  }

  /** Messages handled per partition key (next offset), as numbers. */
  consumed(): Map<string, number> {
    return new Map(this.next);
  }

  /** Offsets to commit and checkpoint: per partition, min(next consumed, oldest fresh sample). */
  positions(fresh: Iterable<SampleSource>): Record<string, string> {
    const out = new Map(this.next);
    for (const s of fresh) {
      const key = offsetKey(s.topic, s.partition);
      const current = out.get(key);
      if (current === undefined || s.offset < current) out.set(key, s.offset);
    }
    return Object.fromEntries([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, String(v)]));
  }
}

/** The entries of `offsets` that belong to `topic`, as partition offsets. */
export function offsetsForTopic(offsets: Record<string, string>, topic: string): PartitionOffset[] {
  const out: PartitionOffset[] = [];
  for (const [key, offset] of Object.entries(offsets)) {
    const parsed = parseOffsetKey(key);
    if (parsed?.topic === topic) out.push({ partition: parsed.partition, offset });
  }
  return out.sort((a, b) => a.partition - b.partition);
}

/**
 * Points the group at a checkpoint's offsets before its consumer joins, so consumption resumes exactly where the
 * saved weights stopped, whatever was committed since (a crash between saving and committing leaves an older
 * commit). A saved offset past a partition's end means the topic was recreated (e.g. an embedded run restarted
 * with a fresh in-memory topic): that partition is read from its start. Returns the offsets set.
 */
export async function seekGroup(admin: Admin, groupId: string, topic: string, offsets: Record<string, string>, logger: Logger): Promise<PartitionOffset[]> {
  const saved = offsetsForTopic(offsets, topic);
  const foreign = Object.keys(offsets).filter((k) => parseOffsetKey(k)?.topic !== topic);
  if (foreign.length > 0) logger.warn({ keys: foreign, topic }, 'checkpoint has offsets of other topics (the input topic changed?); ignoring them');
  if (saved.length === 0) return [];
  const marks = new Map((await admin.topicOffsets(topic)).map((w) => [w.partition, w]));
  const target: PartitionOffset[] = [];
  for (const { partition, offset } of saved) {
    const w = marks.get(partition);
    if (w === undefined) {
      logger.warn({ topic, partition }, 'checkpoint has an offset for a partition the topic no longer has; ignoring it');
      continue;
    }
    if (parseOffset(offset) > parseOffset(w.high)) {
      logger.warn({ topic, partition, saved: offset, high: w.high }, 'checkpoint offset is past the end of the partition (topic recreated?); reading it from the start');
      target.push({ partition, offset: w.low });
    } else {
      target.push({ partition, offset });
    }
  }
  if (target.length > 0) await admin.setGroupOffsets(groupId, topic, target);
  return target;
}

/**
 * A student without a checkpoint starts from the log start even if its group committed before: offsets belong to
 * the weights they were saved with, and those are gone. Returns true when the group was rewound.
 */
export async function rewindGroup(admin: Admin, groupId: string, topic: string, logger: Logger): Promise<boolean> {
  const committed = await admin.groupOffsets(groupId, topic);
  if (committed.every((c) => c.offset === '-1')) return false;
  const marks = await admin.topicOffsets(topic);
  logger.warn({ groupId, topic, committed }, 'no checkpoint, but the group has committed offsets: reading the topic from its start');
  await admin.setGroupOffsets(groupId, topic, marks.map((w) => ({ partition: w.partition, offset: w.low })));
  return true;
}

/** Partition offsets of a topic as checkpoint entries. */
export function offsetsRecord(topic: string, offsets: readonly PartitionOffset[]): Record<string, string> {
  return Object.fromEntries(offsets.map((p) => [offsetKey(topic, p.partition), p.offset]));
}

// Reads a whole topic as it is now (every partition up to its log end at the start), without committing anything.
import { randomBytes } from 'node:crypto';
import { parseOffset, TransportTimeoutError, type ReceivedMessage, type Transport } from './transport.ts';

export interface ReadTopicOptions {
  /**
   * Give up on a partition's last offsets after this long without a new message. Offsets Kafka spends on
   * transaction markers or aborted records are never delivered, so "reached the log end" cannot always be seen.
   * Default 3000 ms.
   */
  idleMs?: number;
  /** Longest wait for the first message (joining a Kafka group takes a few seconds). Default 30 000 ms. */
  firstMessageTimeoutMs?: number;
}

/**
 * Every message of `topic` from each partition's log start to its log end at call time, ordered by partition
 * then offset. A throwaway consumer group reads them and is deleted afterwards; nothing is committed, so it
 * never disturbs a stage's group.
 */
export async function readTopic(transport: Transport, topic: string, options: ReadTopicOptions = {}): Promise<ReceivedMessage[]> {
  const idleMs = options.idleMs ?? 3000;
  const firstMessageTimeoutMs = options.firstMessageTimeoutMs ?? 30_000;
  const ends = new Map<number, number>();
  for (const w of await transport.topicOffsets(topic)) {
    const high = parseOffset(w.high);
    if (high > parseOffset(w.low)) ends.set(w.partition, high);
  }
  if (ends.size === 0) return [];
  const groupId = `distillery-read-${process.pid}-${randomBytes(4).toString('hex')}`;
  const consumer = transport.consumer({ groupId, clientId: 'distillery-read' });
  const received: ReceivedMessage[] = [];
  const reached = new Map<number, number>();
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= consumer.stop());
  const arm = (ms: number): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void stop(), ms);
  };
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    arm(firstMessageTimeoutMs);
    await consumer.run({
      maxBatchSize: 500,
      eachBatch: async ({ batch }) => {
        const end = ends.get(batch.partition) ?? 0;
        for (const m of batch.messages) {
          if (parseOffset(m.offset) < end) received.push({ ...m, topic: batch.topic, partition: batch.partition });
        }
        reached.set(batch.partition, parseOffset(batch.lastOffset()) + 1);
        if ([...ends].every(([p, high]) => (reached.get(p) ?? 0) >= high)) void stop();
        else arm(idleMs);
      },
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
    await transport.deleteGroups([groupId]).catch(() => undefined);
  }
  // Silence from a topic that has records is a failure to read it, not an empty answer.
  if (reached.size === 0) throw new TransportTimeoutError(`readTopic(${topic}): no record arrived within ${firstMessageTimeoutMs} ms though the topic holds some`);
  return received.sort((a, b) => a.partition - b.partition || parseOffset(a.offset) - parseOffset(b.offset));
}

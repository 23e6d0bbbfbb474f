// Dead-letter records (topic `distillery.dlq`, key = original key): the original bytes untouched, the failure in headers.
//
// Header names follow Kafka Connect's DLQ habit of a common prefix; the original message's own headers are kept
// as they were (ours all start with `dlq.`, and a record dead-lettered twice keeps the latest failure).
import type { Headers, OutgoingMessage } from '../transport/transport.ts';
import { MessageDecodeError } from './errors.ts';

export const DLQ_HEADERS = {
  stage: 'dlq.stage',
  errorClass: 'dlq.error.class',
  errorMessage: 'dlq.error.message',
  /** `reason` of a MessageDecodeError (or of any error carrying a string `reason`). */
  errorReason: 'dlq.error.reason',
  originalTopic: 'dlq.original.topic',
  originalPartition: 'dlq.original.partition',
  originalOffset: 'dlq.original.offset',
  /** ISO-8601 time the record was dead-lettered. */
  failedAt: 'dlq.failed.at',
  /**
   * How many times this message has been dead-lettered: 1 on its first failure. `distillery dlq replay` sends the
   * message back carrying its count, so a replay that fails again is recorded with one more.
   */
  attempts: 'dlq.attempts',
} as const;

/** Error messages can embed whole payloads; the header keeps the start. */
export const MAX_ERROR_MESSAGE_LENGTH = 1000;

export interface DlqSource {
  topic: string;
  partition: number;
  /** Decimal string, as consumed. */
  offset: string;
  key: string;
  value: Uint8Array;
  headers?: Headers;
}

export interface DlqInput {
  stage: string;
  error: unknown;
  source: DlqSource;
  now?: Date;
}

/** Builds the record to send to the DLQ topic for a message a stage could not handle. */
export function buildDlqRecord({ stage, error, source, now = new Date() }: DlqInput): OutgoingMessage {
  const { errorClass, message, reason } = describeError(error);
  const attempts = previousAttempts(source.headers) + 1;
  const headers: Headers = {
    ...(source.headers ?? {}),
    [DLQ_HEADERS.stage]: stage,
    [DLQ_HEADERS.errorClass]: errorClass,
    [DLQ_HEADERS.errorMessage]: truncate(message, MAX_ERROR_MESSAGE_LENGTH),
    [DLQ_HEADERS.originalTopic]: source.topic,
    [DLQ_HEADERS.originalPartition]: String(source.partition),
    [DLQ_HEADERS.originalOffset]: source.offset,
    [DLQ_HEADERS.failedAt]: now.toISOString(),
    [DLQ_HEADERS.attempts]: String(attempts),
  };
  if (reason !== undefined) headers[DLQ_HEADERS.errorReason] = reason;
  else delete headers[DLQ_HEADERS.errorReason];
  return { key: source.key, value: source.value, headers };
}

export interface DlqRecord {
  stage: string;
  errorClass: string;
  errorMessage: string;
  errorReason?: string;
  original: { topic: string; partition: number; offset: string };
  failedAt: string;
  /** Times dead-lettered (1 for records written before the header existed). */
  attempts: number;
  key: string;
  value: Uint8Array;
  /** The original message's headers (without ours). */
  headers: Headers;
}

/** Reads a DLQ record back (tooling, replays, tests); throws MessageDecodeError when our headers are missing. */
export function readDlqRecord(message: { key: string; value: Uint8Array; headers: Headers }): DlqRecord {
  const get = (name: string): string => {
    const value = message.headers[name];
    if (value === undefined) throw new MessageDecodeError('DLQ record', 'bad-header', `missing header ${name}`);
    return value;
  };
  const stage = get(DLQ_HEADERS.stage);
  const errorClass = get(DLQ_HEADERS.errorClass);
  const errorMessage = get(DLQ_HEADERS.errorMessage);
  const topic = get(DLQ_HEADERS.originalTopic);
  const partition = Number(get(DLQ_HEADERS.originalPartition));
  if (!Number.isInteger(partition) || partition < 0) {
    throw new MessageDecodeError('DLQ record', 'bad-header', `${DLQ_HEADERS.originalPartition} is not a partition number`);
  }
  const offset = get(DLQ_HEADERS.originalOffset);
  const failedAt = get(DLQ_HEADERS.failedAt);
  const reason = message.headers[DLQ_HEADERS.errorReason];
  const attempts = Math.max(1, previousAttempts(message.headers));
  const headers = Object.fromEntries(Object.entries(message.headers).filter(([name]) => !name.startsWith('dlq.')));
  return {
    stage,
    errorClass,
    errorMessage,
    ...(reason === undefined ? {} : { errorReason: reason }),
    original: { topic, partition, offset },
    failedAt,
    attempts,
    key: message.key,
    value: message.value,
    headers,
  };
}

/** The attempts header a message carries (a replayed one), 0 when it has none or it is not a count. */
function previousAttempts(headers: Headers | undefined): number {
  const n = Number(headers?.[DLQ_HEADERS.attempts]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

function describeError(error: unknown): { errorClass: string; message: string; reason: string | undefined } {
  if (error instanceof Error) {
    const reason = (error as { reason?: unknown }).reason;
    return { errorClass: error.name || error.constructor.name, message: error.message, reason: typeof reason === 'string' ? reason : undefined };
  }
  return { errorClass: typeof error, message: String(error), reason: undefined };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

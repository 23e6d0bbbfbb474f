// Typed errors for message validation (producing side) and decoding (consuming side → DLQ).
import type { z } from 'zod';

/** Why bytes could not be turned into a message; stages copy it into the DLQ record's headers. */
export type DecodeFailureReason =
  | 'truncated' // shorter than its own length fields say
  | 'too-large' // over MAX_MESSAGE_BYTES: refused before parsing
  | 'bad-magic' // not a distillery envelope at all
  | 'unsupported-version' // envelope or schema version this build cannot read
  | 'wrong-kind' // e.g. a Rejection on the samples topic
  | 'bad-header' // header is not UTF-8 JSON
  | 'bad-section' // raw byte sections do not match what the header promises
  | 'trailing-bytes' // bytes left after the last section
  | 'schema'; // header parsed but fails the message schema

/** Bad input, not a bug: never retriable, the stage should send the original bytes to the DLQ. */
export class MessageDecodeError extends Error {
  readonly retriable = false;
  constructor(
    readonly kind: string,
    readonly reason: DecodeFailureReason,
    readonly detail: string,
  ) {
    super(`cannot decode ${kind}: ${reason}: ${detail}`);
    this.name = 'MessageDecodeError';
  }
}

/** An encoded message over MAX_MESSAGE_BYTES: Kafka would refuse it, so it is refused before sending. */
export class MessageTooLargeError extends Error {
  readonly retriable = false;
  readonly reason = 'too-large';
  constructor(
    readonly kind: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`${kind} of ${bytes} bytes is over the message size limit of ${limit}`);
    this.name = 'MessageTooLargeError';
  }
}

/** A message object that does not satisfy its schema, refused before it is encoded and sent. */
export class MessageValidationError extends Error {
  readonly retriable = false;
  constructor(
    readonly kind: string,
    readonly issues: string[],
  ) {
    super(`invalid ${kind}: ${issues.join('; ')}`);
    this.name = 'MessageValidationError';
  }
}

/** One line per issue, `path: message` (`gt[0].box: ...`), so an error names the field without a stack dive. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatPath(issue.path) || '(root)'}: ${issue.message}`);
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((out, part) => {
    if (typeof part === 'number') return `${out}[${part}]`;
    return out.length === 0 ? String(part) : `${out}.${String(part)}`;
  }, '');
}

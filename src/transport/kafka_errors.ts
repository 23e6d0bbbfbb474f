// kafkajs errors, as the Kafka adapter reads them: wrapped by kafkajs's retrier (`cause`), classified by `type` (protocol errors) and `retriable`.
import { TransportError } from './transport.ts';

interface ErrorFields {
  name?: unknown;
  message?: unknown;
  type?: unknown;
  retriable?: unknown;
  cause?: unknown;
  groups?: unknown;
}

export function fields(e: unknown): ErrorFields {
  return typeof e === 'object' && e !== null ? (e as ErrorFields) : {};
}

/** The error and its causes, outermost first. */
export function causeChain(e: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = e; current !== undefined && current !== null && chain.length < 10; current = fields(current).cause) {
    if (chain.includes(current)) break;
    chain.push(current);
  }
  return chain;
}

/** The first protocol error in the chain whose type is in `types`. */
export function findTyped(e: unknown, types: Set<string>): unknown {
  return causeChain(e).find((c) => {
    const type = fields(c).type;
    return typeof type === 'string' && types.has(type);
  });
}

export function hasType(e: unknown, type: string): boolean {
  return findTyped(e, new Set([type])) !== undefined;
}

export function messageOf(e: unknown): string {
  const message = fields(e).message;
  return typeof message === 'string' ? message : String(e);
}

/** Retriable as kafkajs judges it: the innermost cause says so, or the retries ran out on a retriable error. */
export function isRetriable(e: unknown): boolean {
  const chain = causeChain(e);
  const root = chain[chain.length - 1];
  return fields(root).retriable === true || fields(e).name === 'KafkaJSNumberOfRetriesExceeded';
}

export function toTransportError(what: string, e: unknown): TransportError {
  if (e instanceof TransportError) return e;
  return new TransportError(`${what}: ${messageOf(e)}`, { retriable: isRetriable(e), cause: e });
}

// Small helpers shared by the transport tests (memory and Kafka): message builders, a gate, what a consumer saw.
import type { OutgoingMessage } from '../../src/transport/transport.ts';

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** n messages `<prefix><i % keys>` → `<prefix><i % keys>:<i>`. */
export const msgs = (n: number, prefix = 'k', keys = n): OutgoingMessage[] =>
  Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i % keys}`, value: utf8(`${prefix}${i % keys}:${i}`) }));

/** A promise the test opens when it wants: holds a batch handler in flight. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

/** One message as a recording consumer saw it. */
export interface Seen {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  value: string;
}

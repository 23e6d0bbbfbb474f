// kafkajs, loaded with a correct read_committed filter: the only module that loads kafkajs's code (types may be imported anywhere).
//
// kafkajs 2.2.4 drops the messages of aborted transactions (consumer/filterAbortedMessages.js) assuming the broker lists
// a fetch's aborted transactions by their first offset, and it opens at most one of them per message. The broker lists
// them by where they *ended* (the transaction index is appended at each abort marker). So when a transaction that began
// earlier is aborted later than another one on the same partition — two producers' transactions interleaved, the
// earlier one aborted after a kill or a fencing — the first messages of the earlier one reach a read_committed reader.
// Seen in the fault verifier as "duplicate" outcomes: the aborted attempt's samples next to the redo's. This module puts
// a filter with the Java client's semantics in kafkajs's module cache before kafkajs loads its consumer:
//   * aborted transactions are taken in order of first offset, every one starting at or before a message is open;
//   * an open transaction hides its producer's transactional messages until that producer's abort marker.
// test/transport/kafkajs_read_committed.test.ts checks this against a broker, so a kafkajs upgrade that changes the
// module cannot silently undo it.
import { createRequire } from 'node:module';

type Kafkajs = typeof import('kafkajs');

/** A message as kafkajs's batch decoder hands it to the filter (the fields it reads). */
export interface FetchedRecord {
  offset: string;
  key?: Buffer | Uint8Array | null;
  isControlRecord?: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
}

/** One entry of a fetch response's aborted-transaction list. */
export interface AbortedTransaction {
  producerId: string;
  firstOffset: string;
}

/** Control record key of an abort marker: version 0, type 0 (a commit marker is type 1). */
function isAbortMarker(record: FetchedRecord): boolean {
  const key = record.key;
  return record.isControlRecord === true && key != null && key.length >= 4 && key[0] === 0 && key[1] === 0 && key[2] === 0 && key[3] === 0;
}

/**
 * The records a read_committed reader may see, control records kept (kafkajs drops those itself afterwards).
 * `records` are in offset order, as fetched.
 */
export function filterAborted<T extends FetchedRecord>({ messages, abortedTransactions }: { messages: T[]; abortedTransactions?: AbortedTransaction[] }): T[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const pending = [...abortedTransactions].sort((a, b) => (BigInt(a.firstOffset) < BigInt(b.firstOffset) ? -1 : BigInt(a.firstOffset) > BigInt(b.firstOffset) ? 1 : 0));
  const open = new Set<string>();
  let next = 0;
  return messages.filter((record) => {
    const offset = BigInt(record.offset);
    while (next < pending.length && BigInt(pending[next].firstOffset) <= offset) open.add(pending[next++].producerId);
    const producer = record.batchContext.producerId;
    if (isAbortMarker(record)) {
      open.delete(producer);
      return true;
    }
    return !(record.batchContext.inTransaction && open.has(producer));
  });
}

function load(): Kafkajs {
  const require = createRequire(import.meta.url);
  const filterPath = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
  const batchPath = require.resolve('kafkajs/src/consumer/batch.js');
  if (require.cache[batchPath] !== undefined && require.cache[filterPath]?.exports !== filterAborted) {
    throw new Error('kafkajs was loaded before src/transport/kafkajs.ts: import kafkajs through that module, or read_committed readers may see aborted messages');
  }
  const original: unknown = require(filterPath);
  if (typeof original !== 'function') throw new Error(`kafkajs changed: ${filterPath} no longer exports the aborted-message filter this module replaces`);
  const cached = require.cache[filterPath];
  if (cached === undefined) throw new Error(`kafkajs's ${filterPath} is not in the module cache`);
  cached.exports = filterAborted;
  return require('kafkajs') as Kafkajs;
}

const kafkajs: Kafkajs = load();
export default kafkajs;

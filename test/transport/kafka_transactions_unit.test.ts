// PartitionProducer's failure handling against a scripted kafkajs client: fenced, unknown outcome taken, not taken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { PartitionProducer } from '../../src/transport/kafka_transactions.ts';
import { NotAssignedError } from '../../src/transport/transport.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { utf8 } from '../helpers/transport_fixtures.ts';

type Step = 'sendBatch' | 'sendOffsets' | 'commit';

/** A kafkajs client whose producers log every call and fail where `fail` says (once per entry). */
function scriptedKafka(fail: Array<{ at: Step; error: Error }>): { kafka: Kafka; log: string[]; producers: number } {
  const state = { log: [] as string[], producers: 0 };
  const failing = [...fail];
  const maybeFail = async (n: number, step: Step): Promise<void> => {
    state.log.push(`p${n}.${step}`);
    if (failing[0]?.at === step) throw (failing.shift() as { error: Error }).error;
  };
  const kafka = {
    producer: (config: { transactionalId: string; idempotent: boolean; maxInFlightRequests: number }) => {
      state.producers += 1;
      const n = state.producers;
      assert.equal(config.idempotent, true);
      assert.equal(config.maxInFlightRequests, 1);
      return {
        connect: async () => state.log.push(`p${n}.register ${config.transactionalId}`),
        disconnect: async () => state.log.push(`p${n}.disconnect`),
        transaction: async () => ({
          sendBatch: () => maybeFail(n, 'sendBatch'),
          sendOffsets: () => maybeFail(n, 'sendOffsets'),
          commit: () => maybeFail(n, 'commit'),
          abort: async () => state.log.push(`p${n}.abort`),
        }),
      };
    },
  };
  return {
    kafka: kafka as unknown as Kafka,
    log: state.log,
    get producers() {
      return state.producers;
    },
  };
}

const timeout = (): Error => Object.assign(new Error('Request commit timed out'), { name: 'KafkaJSRequestTimeoutError', retriable: true });
const fenced = (): Error => Object.assign(new Error('old epoch'), { name: 'KafkaJSProtocolError', type: 'INVALID_PRODUCER_EPOCH', retriable: false });

function producer(kafka: Kafka, committed: () => number | undefined): PartitionProducer {
  return new PartitionProducer({
    kafka,
    groupId: 'g',
    topic: 'in',
    partition: 2,
    transactionTimeoutMs: 1000,
    retry: { retries: 3, initialRetryTime: 1, maxRetryTime: 5 },
    committedOffset: async () => committed(),
    logger: silentLogger(),
  });
}

const outputs = [{ topic: 'out', messages: [{ key: 'k', value: utf8('v') }] }];
const sends = (log: string[]): number => log.filter((l) => l.endsWith('.sendBatch')).length;

test('a commit that timed out but took is not sent again: a new producer registers and the offset says it committed', async () => {
  const s = scriptedKafka([{ at: 'commit', error: timeout() }]);
  const p = producer(s.kafka, () => 11);
  await p.transact(outputs, 11);
  assert.equal(s.producers, 2, 'the producer was replaced, not reused');
  assert.equal(sends(s.log), 1);
  assert.ok(s.log.includes('p2.register g-in-2'));
  await p.close();
});

test('a commit that timed out and did not take is redone on the new producer', async () => {
  const s = scriptedKafka([{ at: 'commit', error: timeout() }]);
  const p = producer(s.kafka, () => 7);
  await p.transact(outputs, 11);
  assert.equal(sends(s.log), 2);
  assert.ok(s.log.indexOf('p1.disconnect') < s.log.lastIndexOf('p2.sendBatch'), 'never retried on the first producer');
  assert.ok(s.log.includes('p2.commit'));
  await p.close();
});

test('a fenced producer is a lost partition: NotAssignedError, aborted, nothing retried', async () => {
  const s = scriptedKafka([{ at: 'sendOffsets', error: fenced() }]);
  const p = producer(s.kafka, () => undefined);
  await assert.rejects(p.transact(outputs, 11), NotAssignedError);
  assert.equal(sends(s.log), 1);
  assert.ok(s.log.includes('p1.abort'));
  await assert.rejects(p.close().then(() => p.start()), NotAssignedError, 'closed for good');
});

test('retries are bounded: a broker that keeps timing out fails the batch with a retriable error', async () => {
  const s = scriptedKafka(Array.from({ length: 10 }, () => ({ at: 'sendBatch' as const, error: timeout() })));
  const p = producer(s.kafka, () => undefined);
  await assert.rejects(p.transact(outputs, 11), (e: unknown) => (e as { retriable?: boolean }).retriable === true);
  assert.equal(sends(s.log), 4, 'the first attempt and 3 retries');
  await p.close();
});

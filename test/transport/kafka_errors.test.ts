import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causeChain, findTyped, hasType, isRetriable, toTransportError } from '../../src/transport/kafka_errors.ts';
import { TransportError } from '../../src/transport/transport.ts';

const protocol = (type: string, retriable: boolean): Error => Object.assign(new Error(type), { type, retriable });

test('errors are read through their causes: protocol types, retriability, wrapping', () => {
  const root = protocol('INVALID_PRODUCER_EPOCH', false);
  const wrapped = Object.assign(new Error('outer', { cause: root }), { name: 'KafkaJSNonRetriableError' });
  assert.deepEqual(causeChain(wrapped), [wrapped, root]);
  assert.equal(findTyped(wrapped, new Set(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH'])), root);
  assert.equal(hasType(wrapped, 'REBALANCE_IN_PROGRESS'), false);
  assert.equal(isRetriable(wrapped), false);
  const exhausted = Object.assign(new Error('gave up', { cause: protocol('REQUEST_TIMED_OUT', false) }), { name: 'KafkaJSNumberOfRetriesExceeded' });
  assert.equal(isRetriable(exhausted), true, 'retries ran out on a retriable error');
  const error = toTransportError('sending', protocol('NOT_LEADER_FOR_PARTITION', true));
  assert.ok(error instanceof TransportError);
  assert.equal(error.message, 'sending: NOT_LEADER_FOR_PARTITION');
  assert.equal(error.retriable, true);
  const own = new TransportError('mine');
  assert.equal(toTransportError('x', own), own);
});

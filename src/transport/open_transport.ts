// Opens the Transport a topology names: the in-memory one (bounded topics) or Kafka through kafkajs.
import type { TransportConfig } from '../topology/types.ts';
import type { Logger } from '../util/logger.ts';
import { KafkaTransport, type KafkaTransportOptions } from './kafka.ts';
import { kafkaConnectionSecurity } from './kafka_security.ts';
import { MemoryTransport } from './memory.ts';
import type { Transport } from './transport.ts';

export interface OpenTransportOptions {
  /** Kafka: receives kafkajs's logs (at warn and above unless `kafka.logLevel` says otherwise). */
  logger?: Logger;
  /** Kafka: timings, retries and the like that the topology does not set. */
  kafka?: Omit<KafkaTransportOptions, 'brokers' | 'clientId' | 'logger'>;
}

/**
 * A memory transport gets the topology's capacity as every topic's default bound, as the embedded runner does (so
 * topics a stage creates itself are bounded too); Kafka gets the topology's brokers and client id.
 */
export function openTransport(config: TransportConfig, options: OpenTransportOptions = {}): Transport {
  switch (config.kind) {
    case 'memory':
      return new MemoryTransport({ topicDefaults: { capacity: config.capacity } });
    case 'kafka': {
      const security = kafkaConnectionSecurity(config);
      // The mechanism and user help an operator; the password stays out by construction (and is redacted anyway).
      options.logger?.debug(
        { brokers: config.brokers, clientId: config.clientId, ssl: security.ssl !== undefined && security.ssl !== false, sasl: security.sasl === undefined ? undefined : { mechanism: security.sasl.mechanism, username: 'username' in security.sasl ? security.sasl.username : undefined } },
        'kafka connection',
      );
      return new KafkaTransport({
        // At debug level kafkajs's own debug lines come along (connections, SASL handshakes, requests).
        ...(options.logger?.isLevelEnabled('debug') ? { logLevel: 'debug' as const } : {}),
        ...options.kafka,
        brokers: config.brokers,
        clientId: config.clientId,
        logger: options.logger,
        security,
        consumer: {
          ...options.kafka?.consumer,
          ...(config.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: config.sessionTimeoutMs }),
          ...(config.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: config.heartbeatIntervalMs }),
        },
      });
    }
  }
}

// TLS and SASL settings of a Kafka connection: what the topology asks for, with secrets only from the environment.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';

export const SASL_MECHANISMS = ['scram-sha-512', 'scram-sha-256', 'plain'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** What a topology says about a Kafka connection's security; never a secret. */
export interface KafkaSecurityConfig {
  /** Connect over TLS. Default false. */
  ssl?: boolean;
  /** Authenticate with SASL using this mechanism (with TLS, SASL_SSL). */
  saslMechanism?: SaslMechanism;
}

/** The kafkajs client fields that carry it out. */
export interface KafkaConnectionSecurity {
  ssl?: boolean | ConnectionOptions;
  sasl?: SASLOptions;
}

/**
 * Reads what the config names from the environment: KAFKA_SSL_CA_FILE (a PEM CA to trust besides Node's roots; or
 * set NODE_EXTRA_CA_CERTS), KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD. Errors name variables, never values.
 */
export function kafkaConnectionSecurity(config: KafkaSecurityConfig, env: NodeJS.ProcessEnv = process.env): KafkaConnectionSecurity {
  const out: KafkaConnectionSecurity = {};
  if (config.ssl === true) {
    const caFile = env.KAFKA_SSL_CA_FILE;
    if (caFile === undefined || caFile === '') {
      out.ssl = true;
    } else {
      let ca: string;
      try {
        ca = readFileSync(caFile, 'utf8');
      } catch (err) {
        throw new Error(`KAFKA_SSL_CA_FILE=${caFile}: cannot read the CA certificate: ${(err as Error).message}`, { cause: err });
      }
      out.ssl = { ca: [ca] };
    }
  }
  if (config.saslMechanism !== undefined) {
    const username = env.KAFKA_SASL_USERNAME;
    const password = env.KAFKA_SASL_PASSWORD;
    const missing = [username ? undefined : 'KAFKA_SASL_USERNAME', password ? undefined : 'KAFKA_SASL_PASSWORD'].filter((n) => n !== undefined);
    if (missing.length > 0) throw new Error(`kafka: saslMechanism ${config.saslMechanism} needs ${missing.join(' and ')} in the environment`);
    out.sasl = { mechanism: config.saslMechanism, username: username as string, password: password as string } as SASLOptions;
  }
  return out;
}

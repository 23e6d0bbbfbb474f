// The secured Kafka (SASL_SSL, SCRAM-SHA-512) + S3 (HTTPS) pair of scripts/services, started for a test file if needed.
import { after } from 'node:test';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const SERVICES = path.resolve(import.meta.dirname, '../../scripts/services/services.sh');

function services(command: string, stdio: 'pipe' | 'inherit' = 'pipe'): string {
  const out = execFileSync('bash', [SERVICES, command], { env: { ...process.env, DISTILLERY_SERVICES_SECURE: '1' }, encoding: 'utf8', stdio: ['ignore', stdio === 'pipe' ? 'pipe' : 'inherit', 'inherit'] });
  return out ?? '';
}

/** Its `env` lines as a record: KAFKA_BROKERS, KAFKA_SSL*, KAFKA_SASL_*, S3_ENDPOINT, S3_CA_FILE, AWS_* . */
export type SecureEnv = Record<string, string>;

/**
 * Makes sure the secured pair runs (never the shared default one: its own ports and state dir) and returns its
 * settings without touching process.env. A pair this call started is stopped after the file unless
 * DISTILLERY_KEEP_SERVICES=1.
 */
export function useSecureServices(): SecureEnv {
  let running = true;
  try {
    services('status');
  } catch {
    running = false;
  }
  if (!running) {
    services('start', 'inherit');
    if (process.env.DISTILLERY_KEEP_SERVICES !== '1') after(() => void services('stop', 'inherit'));
  }
  const env: SecureEnv = {};
  for (const line of services('env').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m !== null) env[m[1]] = m[2];
  }
  return env;
}

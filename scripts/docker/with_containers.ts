// Runs a command with Kafka and/or the S3 server started as containers (scripts/docker/containers.ts), then removes them.
// Used by scripts/services/with_services.sh where Docker runs and the dev images are built. Variables already in the
// environment win: KAFKA_BROKERS set → no Kafka container; S3_ENDPOINT set → no S3 container.
//
// Usage: node --import tsx scripts/docker/with_containers.ts <command> [args…]
// When DISTILLERY_CONTAINERS_STARTED names a file, "started" is written there once the containers answer, so the
// caller can tell "the containers never came up" (fall back to scripts/services) from "the command failed".
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { startServiceContainers } from './containers.ts';

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) throw new Error('usage: with_containers.ts <command> [args…]');
  const startedAt = Date.now();
  const services = await startServiceContainers({ kafka: !process.env.KAFKA_BROKERS, s3: !process.env.S3_ENDPOINT });
  process.stderr.write(`services: containers ${services.description} ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
  if (process.env.DISTILLERY_CONTAINERS_STARTED) writeFileSync(process.env.DISTILLERY_CONTAINERS_STARTED, 'started\n');
  let code = 1;
  try {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env: { ...process.env, ...services.env } });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    code = await new Promise<number>((resolve) => {
      child.on('error', (err) => {
        process.stderr.write(`services: could not run ${argv[0]}: ${err.message}\n`);
        resolve(127);
      });
      child.on('exit', (exitCode, signal) => resolve(exitCode ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  } finally {
    await services.stop();
  }
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`services: containers did not start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

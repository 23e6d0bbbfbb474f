// Runs `distillery <args>` in-process through main() and captures what it prints (CLI tests).
import assert from 'node:assert/strict';
import { main } from '../../src/cli/program.ts';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs `distillery <args>` in this process, capturing the text it writes to stdout and stderr. Buffers pass through:
 * the test runner reports results from this process over stdout as (v8-serialized) Buffers, and swallowing the
 * report of the previous test would drop it from the run.
 */
export async function cli(...args: string[]): Promise<CliResult> {
  const captured = { out: '', err: '' };
  const streams = [
    [process.stdout, 'out'],
    [process.stderr, 'err'],
  ] as const;
  const originals = streams.map(([stream]) => stream.write);
  for (const [stream, name] of streams) {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      if (typeof chunk !== 'string') return original(chunk, ...rest);
      captured[name] += chunk;
      return true;
    }) as typeof stream.write;
  }
  let code: number;
  try {
    code = await main(['node', 'distillery', ...args]);
  } finally {
    streams.forEach(([stream], i) => (stream.write = originals[i]));
  }
  return { code, ...captured };
}

export function ok(result: CliResult): CliResult {
  assert.equal(result.code, 0, `exit ${result.code}\nstdout: ${result.out}\nstderr: ${result.err}`);
  return result;
}


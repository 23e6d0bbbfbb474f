// Benchmarks that measure in a fresh process: run this script again with child arguments, read its last stdout line as JSON.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Runs `script` (an import.meta.url) under this Node with `args`; stderr passes through, the last stdout line is the result. */
export function runSelf<T>(script: string, args: string[], what: string): Promise<T> {
  const argv = [...process.execArgv, fileURLToPath(script), ...args];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as T) : reject(new Error(`${what} exited with ${code}`))));
  });
}

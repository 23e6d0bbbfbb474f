// Test helper: `distillery run <stage>` as a child process, with its stderr kept and its exit awaited.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/distillery.js', import.meta.url));

export interface StageChild {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves when the process exits (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the exit; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `distillery run <stage> --topology <file>`; `env` adds to (and overrides) the test's environment. */
export function spawnStage(stage: string, topologyFile: string, env: Record<string, string> = {}, args: string[] = []): StageChild {
  const child = spawn(process.execPath, [BIN, 'run', stage, '--topology', topologyFile, '--status-every', '1', ...args], {
    // No metrics server unless a test asks for one: processes of parallel tests would all want port 9464.
    env: { ...process.env, DISTILLERY_WASM_THREADS: '1', DISTILLERY_LOG_LEVEL: process.env.DISTILLERY_LOG_LEVEL ?? 'warn', DISTILLERY_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    name: stage,
    child,
    stderr: () => stderr,
    exited,
    async stop(graceMs = 30_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The counters of the last status line a stage process printed (`<name>: … — consumed 3, samples 2`). */
export function lastCounters(stderr: string, stage: string): Record<string, number> {
  const lines = stderr.split('\n').filter((l) => l.startsWith(`${stage}: `));
  const last = lines.at(-1) ?? '';
  const body = last.includes(' — ') ? last.slice(last.indexOf(' — ') + 3) : last.slice(stage.length + 2);
  const out: Record<string, number> = {};
  for (const part of body.split(', ')) {
    const m = /^(\S+) (-?[\d.]+)$/.exec(part.trim());
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

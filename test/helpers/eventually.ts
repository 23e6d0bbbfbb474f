// Polling until a condition holds, for tests that wait on other processes (brokers, pods); a hang fails with `what`.
import { setTimeout as sleep } from 'node:timers/promises';

export async function eventually(what: string, predicate: () => boolean | Promise<boolean>, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(options.intervalMs ?? 20);
  }
}

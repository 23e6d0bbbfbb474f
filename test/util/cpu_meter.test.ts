// The CPU meter counts the CPU of every thread of the process, not only the calling one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { startCpuMeter } from '../../src/util/cpu_meter.ts';

/** A fixed amount of arithmetic in a worker thread (a fixed CPU cost, however loaded the machine is). */
function spinInWorker(iterations: number): Promise<void> {
  const worker = new Worker(`let x = 0; for (let i = 0; i < ${iterations}; i++) x = Math.sqrt(x + i); if (x < 0) console.log(x);`, { eval: true });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
}

test('CPU burnt in a worker thread counts; cores = CPU ÷ wall', async () => {
  const read = startCpuMeter();
  const idle = read();
  assert.ok(idle.cpuSeconds >= 0 && idle.wallSeconds >= 0);
  // The main thread only waits, so most of the CPU measured below is the worker's.
  await spinInWorker(30_000_000);
  const use = read();
  assert.ok(use.cpuSeconds > 0.05, `the worker's CPU is counted: ${use.cpuSeconds} s`);
  assert.ok(use.wallSeconds >= idle.wallSeconds);
  assert.equal(use.cores, use.cpuSeconds / use.wallSeconds);
  assert.ok(use.threadBusy >= 0 && use.threadBusy <= 1, `this thread's event-loop busy share: ${use.threadBusy}`);
});

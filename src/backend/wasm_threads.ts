// Lets tfjs-backend-wasm run its multi-threaded (pthreads) build under Node, which it refuses to do by default.
//
// Out of the box the wasm backend reports WASM_HAS_MULTITHREAD_SUPPORT = false in Node (tfjs issue
// #3830) and runs single-threaded. Its threaded-SIMD build does work on Node's worker_threads once
// three browser-only assumptions are bridged, all of them only for the duration of the init:
//  1. the pthread worker script is handed to `new Worker()` as a blob: URL, which Node rejects —
//     we write it to a temporary .cjs file and answer URL.createObjectURL with that path;
//  2. each worker loads the main emscripten script from a Blob the same way — the worker script
//     gets a one-line prelude pointing URL.createObjectURL at a second temporary file;
//  3. the C++ side caps the pool at os.cpus().length / 2 (it assumes hyper-threading), i.e. one
//     thread on a 2-vCPU machine — os.cpus() reports enough entries for the requested count.
// Afterwards the workers are unref'd so that they do not keep the process alive. Set
// DISTILLERY_WASM_THREADS=1 (or pass threads: 1) to skip all of this.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

interface Unrefable {
  unref(): void;
}

/** The part of the emscripten module that we touch after init. */
interface ThreadedWasmModule {
  PThread?: { unusedWorkers: Unrefable[]; runningWorkers: Unrefable[] };
}

const require = createRequire(import.meta.url);
const WASM_OUT = '@tensorflow/tfjs-backend-wasm/wasm-out';

/**
 * Code the bridging relies on, checked before trying: a worker that fails to start is fatal to
 * the process (emscripten rethrows its error event), so a tfjs release that changes these must
 * fall back to one thread instead.
 */
const EXPECTED = {
  worker: ['URL.createObjectURL(e.data.urlOrBlob)', 'importScripts(objectUrl)'],
  factory: ['require("os").cpus().length', 'locateFile("tfjs-backend-wasm-threaded-simd.worker.js")', 'new Worker(pthreadMainJs)'],
};

function loadThreadedBuild(): { workerSource: string; factorySource: string } {
  const { wasmWorkerContents } = require(`${WASM_OUT}/tfjs-backend-wasm-threaded-simd.worker.js`) as { wasmWorkerContents: string };
  const factory = require(`${WASM_OUT}/tfjs-backend-wasm-threaded-simd.js`) as { toString(): string };
  return { workerSource: wasmWorkerContents, factorySource: factory.toString() };
}

/** Why the installed tfjs-backend-wasm cannot be run multi-threaded here, or null if it can. */
export function threadedBuildProblem(): string | null {
  let build;
  try {
    build = loadThreadedBuild();
  } catch (err) {
    return `its threaded build could not be loaded (${(err as Error).message})`;
  }
  const missing = [
    ...EXPECTED.worker.filter((m) => !build.workerSource.includes(m)),
    ...EXPECTED.factory.filter((m) => !build.factorySource.includes(m)),
  ];
  return missing.length === 0 ? null : `its threaded build changed (missing ${missing.map((m) => `'${m}'`).join(', ')})`;
}

/**
 * Runs `init` (which must initialise the wasm backend) with multi-threading enabled for `threads`
 * threads, then restores the patched globals and deletes the temporary files.
 */
export async function withWasmThreads<T>(threads: number, init: () => Promise<T>): Promise<T> {
  const { workerSource, factorySource } = loadThreadedBuild();
  // A private (0700) fresh directory: these scripts are executed, so no predictable shared path.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'distillery-wasm-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  // Also on an exit in the middle of the init (e.g. a worker failing to start).
  process.once('exit', removeDir);
  const mainScript = path.join(dir, 'main.cjs');
  const workerScript = path.join(dir, 'worker.cjs');
  writeFileSync(mainScript, `var WasmBackendModuleThreadedSimd = ${factorySource}`);
  // tfjs itself escapes newlines this way before turning the worker source into a Blob.
  const prelude = `URL.createObjectURL = () => ${JSON.stringify(mainScript)}; URL.revokeObjectURL = () => {};\n`;
  writeFileSync(workerScript, prelude + workerSource.replace(/\n/g, '\\n'));

  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  URL.createObjectURL = () => workerScript;
  os.cpus = () => {
    const real = cpus();
    return Array.from({ length: Math.max(real.length, 2 * threads) }, (_, i) => real[i % real.length]);
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  try {
    const result = await init();
    unrefWorkers();
    return result;
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    // Every pool worker has loaded both scripts before the backend's init resolves.
    process.removeListener('exit', removeDir);
    removeDir();
  }
}

function unrefWorkers(): void {
  const backend = tf.engine().registry['wasm'] as unknown as { wasm?: ThreadedWasmModule } | undefined;
  const pthread = backend?.wasm?.PThread;
  if (pthread == null) return;
  for (const w of [...pthread.unusedWorkers, ...pthread.runningWorkers]) w.unref();
}

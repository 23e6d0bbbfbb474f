import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { threadedBuildProblem, withWasmThreads } from '../../src/backend/wasm_threads.ts';

test('the installed tfjs-backend-wasm has the threaded build we know how to bridge', () => {
  assert.equal(threadedBuildProblem(), null);
});

test('withWasmThreads patches only during init and cleans up after a failed init', async () => {
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  const realCpus = os.cpus().length;
  let workerScript = '';
  await assert.rejects(
    withWasmThreads(
      3,
      async () => {
        workerScript = URL.createObjectURL(new Blob(['ignored']));
        assert.ok(os.cpus().length >= 6, 'the C++ side halves os.cpus() and must still see 3 threads');
        assert.equal(path.extname(workerScript), '.cjs');
        const source = readFileSync(workerScript, 'utf8');
        const mainScript = JSON.parse(/^URL\.createObjectURL = \(\) => ("[^"]+");/.exec(source)?.[1] ?? '""') as string;
        assert.ok(existsSync(mainScript), 'the worker prelude points at the main script');
        assert.match(readFileSync(mainScript, 'utf8'), /^var WasmBackendModuleThreadedSimd = /);
        throw new Error('init failed on purpose');
      },
    ),
    /init failed on purpose/,
  );
  assert.equal(URL.createObjectURL, createObjectURL);
  assert.equal(os.cpus, cpus);
  assert.equal(os.cpus().length, realCpus);
  assert.equal(existsSync(path.dirname(workerScript)), false, 'temporary scripts are removed');
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
});

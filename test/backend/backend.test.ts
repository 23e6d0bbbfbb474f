import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  BACKEND_ENV,
  type BackendName,
  defaultBackend,
  importOptional,
  initBackend,
  initTensorflowForTest,
  resolveBackendName,
  WASM_THREADS_ENV,
} from '../../src/backend/backend.ts';
import { installedTensorflowPackage } from '../../src/backend/tfjs_node_install.ts';

test('resolveBackendName: argument, then DISTILLERY_BACKEND, then the default', () => {
  assert.deepEqual(resolveBackendName(undefined, {}), { ...defaultBackend(), source: 'default' });
  assert.deepEqual(resolveBackendName(undefined, { [BACKEND_ENV]: '' }), { ...defaultBackend(), source: 'default' });
  assert.deepEqual(resolveBackendName(undefined, { [BACKEND_ENV]: 'cpu' }), { name: 'cpu', source: 'env', reason: 'DISTILLERY_BACKEND=cpu' });
  assert.deepEqual(resolveBackendName('wasm', { [BACKEND_ENV]: 'cpu' }), { name: 'wasm', source: 'argument', reason: 'chosen by the caller' });
});

test('the default is tensorflow exactly where a tfjs-node package is installed with its addon built', () => {
  const installed = installedTensorflowPackage();
  assert.equal(defaultBackend().name, installed === undefined ? 'wasm' : 'tensorflow');
  assert.match(defaultBackend().reason, installed === undefined ? /^default: @tensorflow\/tfjs-node is not installed/ : /^default: @tensorflow\/tfjs-node(-gpu)? is installed/);
});

test('an unknown backend name fails with the list of valid ones', async () => {
  assert.throws(() => resolveBackendName('gpu', {}), /Unknown compute backend 'gpu'; valid backends are: tensorflow, wasm, cpu/);
  assert.throws(() => resolveBackendName(undefined, { [BACKEND_ENV]: 'WASM' }), /Unknown compute backend 'WASM' \(from DISTILLERY_BACKEND\)/);
  await assert.rejects(initBackend('webgl' as BackendName), /valid backends are: tensorflow, wasm, cpu/);
});

test('DISTILLERY_BACKEND selects the backend, and cpu prints no tfjs-node banner', async () => {
  const saved = process.env[BACKEND_ENV];
  const warn = console.warn;
  const warnings: string[] = [];
  console.warn = (...args: unknown[]) => void warnings.push(args.join(' '));
  try {
    process.env[BACKEND_ENV] = 'cpu';
    const info = await initBackend();
    assert.equal(info.name, 'cpu');
    assert.equal(info.source, 'env');
    assert.equal(tf.getBackend(), 'cpu');
    const before = tf.memory().numTensors;
    const t = tf.tensor([1, 2, 3]); // the banner would print on the cpu backend's first write
    t.dispose();
    assert.equal(tf.memory().numTensors, before);
  } finally {
    console.warn = warn;
    if (saved === undefined) delete process.env[BACKEND_ENV];
    else process.env[BACKEND_ENV] = saved;
  }
  assert.deepEqual(warnings.filter((w) => w.includes('tfjs-node')), []);
});

test("'tensorflow' without tfjs-node installed says what to install", async () => {
  await assert.rejects(
    initTensorflowForTest(async () => undefined),
    (err: Error) =>
      err.message.includes('@tensorflow/tfjs-node-gpu') &&
      err.message.includes('bash scripts/tfjs-node/install.sh') &&
      err.message.includes(`npm install @tensorflow/tfjs-node@${tf.version.tfjs}`),
  );
});

// initBackend('tensorflow') with the real package: test/backend/tensorflow_backend.test.ts (its own process).

test("'tensorflow' with a broken install says how to rebuild it, not `npm rebuild` (which downloads)", async () => {
  await assert.rejects(
    initTensorflowForTest(async (pkg) => {
      if (pkg === '@tensorflow/tfjs-node-gpu') throw new Error('The Node.js native addon module (tfjs_binding.node) can not be found at path: x\nPlease run npm rebuild');
      return undefined;
    }),
    /^Error: @tensorflow\/tfjs-node-gpu is installed but failed to load: The Node.js native addon module \(tfjs_binding.node\) can not be found at path: x — rebuild it with `bash scripts\/tfjs-node\/install.sh \[cpu\|gpu\]`$/,
  );
});

test("'tensorflow' fails clearly when the package registers no backend with our tfjs", async () => {
  await assert.rejects(
    initTensorflowForTest(async (pkg) => (pkg === '@tensorflow/tfjs-node' ? {} : undefined)),
    /@tensorflow\/tfjs-node loaded but registered no 'tensorflow' backend/,
  );
});

test('importOptional: undefined for a missing package, the module otherwise, other errors rethrown', async () => {
  assert.equal(await importOptional('@tensorflow/tfjs-node-not-a-real-package'), undefined);
  const os = (await importOptional('node:os')) as { platform(): string };
  assert.equal(typeof os.platform(), 'string');
  await assert.rejects(importOptional('data:text/javascript,throw new Error("boom")'), /boom/);
});

test('wasm: SIMD, two threads, our training kernels, and re-initialising is harmless', async () => {
  const crashHandlers = process.listeners('uncaughtException').length + process.listeners('unhandledRejection').length;
  const info = await initBackend('wasm', { threads: 2 });
  // emscripten's rethrowing crash handlers (which dump its minified source) are removed again.
  assert.equal(process.listeners('uncaughtException').length + process.listeners('unhandledRejection').length, crashHandlers);
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(info.package, '@tensorflow/tfjs-backend-wasm');
  assert.equal(info.simd, true);
  assert.equal(info.threads, 2, `warnings: ${info.warnings.join('; ')}`);
  assert.deepEqual(info.warnings, []);
  assert.ok(info.customKernels.includes(tf.Conv2DBackpropFilter));
  assert.ok(info.customKernels.includes(tf.Conv2DBackpropInput));
  const again = await initBackend('wasm', { threads: 1 });
  assert.equal(again.threads, 2, 'the first initialisation fixes the thread count');
  const before = tf.memory().numTensors;
  const y = tf.tidy(() => tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 1]) as tf.Tensor4D, 1, 'same'));
  assert.deepEqual(Array.from(await y.data()), [8, 12, 12, 8, 12, 18, 18, 12, 12, 18, 18, 12, 8, 12, 12, 8]);
  y.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('wasm rejects a bad thread count, from the options or from DISTILLERY_WASM_THREADS', async () => {
  await assert.rejects(initBackend('wasm', { threads: 0 }), /threads must be a positive integer, got 0/);
  const saved = process.env[WASM_THREADS_ENV];
  process.env[WASM_THREADS_ENV] = 'two';
  try {
    await assert.rejects(initBackend('wasm'), /threads must be a positive integer, got two \(from DISTILLERY_WASM_THREADS\)/);
  } finally {
    if (saved === undefined) delete process.env[WASM_THREADS_ENV];
    else process.env[WASM_THREADS_ENV] = saved;
  }
});

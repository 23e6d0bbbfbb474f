// What TensorFlow says about CUDA and GPUs, parsed from its log; and a real probe of the installed tfjs-node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseTensorflowLog, probeTensorflow } from '../../src/backend/tensorflow_probe.ts';
import { installedTensorflowPackage } from '../../src/backend/tfjs_node_install.ts';

const log = (name: string): string => readFileSync(new URL(`../fixtures/tensorflow_logs/${name}`, import.meta.url), 'utf8');

test('the GPU build on a machine without a GPU (recorded here): missing CUDA libraries and the driver problem', () => {
  assert.deepEqual(parseTensorflowLog(log('gpu_build_without_gpu.log')), {
    loadedLibraries: [],
    missingLibraries: [
      { library: 'libcudart.so.11.0', error: 'libcudart.so.11.0: cannot open shared object file: No such file or directory' },
      { library: 'libcuda.so.1', error: 'libcuda.so.1: cannot open shared object file: No such file or directory' },
    ],
    gpus: [],
    gpuProblems: [
      'failed call to cuInit: UNKNOWN ERROR (303)',
      'kernel driver does not appear to be running on this host (vm): /proc/driver/nvidia/version does not exist',
    ],
  });
});

test('a GPU machine (TensorFlow 2.9 log format): the libraries opened and the device created', () => {
  assert.deepEqual(parseTensorflowLog(log('gpu_found.log')), {
    loadedLibraries: ['libcudart.so.11.0', 'libcuda.so.1', 'libcudnn.so.8'],
    missingLibraries: [],
    gpus: [{ device: '/job:localhost/replica:0/task:0/device:GPU:0', name: 'Tesla T4', memoryMiB: 13598, computeCapability: '7.5' }],
    gpuProblems: [],
  });
});

test('probing the installed tfjs-node in a child process reports TensorFlow 2.9.1 on the CPU', async () => {
  const pkg = installedTensorflowPackage();
  assert.ok(pkg !== undefined, 'tfjs-node is installed by scripts/test.sh (scripts/tfjs-node/install.sh)');
  const probe = await probeTensorflow(pkg);
  assert.equal(probe.error, undefined);
  assert.equal(probe.version, '2.9.1');
  assert.equal(probe.usingGpu, false);
  assert.deepEqual(probe.gpus, []);
});

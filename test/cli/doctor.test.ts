// `distillery doctor`: the backend and its reason, the device and why it is the CPU, as text and JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeDevice, formatDoctor, runDoctor, type DoctorReport } from '../../src/cli/doctor.ts';
import type { TensorflowProbe } from '../../src/backend/tensorflow_probe.ts';
import type { TfjsNodeInstall } from '../../src/backend/tfjs_node_install.ts';

const BIN = fileURLToPath(new URL('../../bin/distillery.js', import.meta.url));

function doctor(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'doctor', ...argv], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

const GPU_PKG: TfjsNodeInstall = { package: '@tensorflow/tfjs-node-gpu', version: '4.22.0', addonBuilt: true };
const NOT_INSTALLED: TfjsNodeInstall[] = [
  { package: '@tensorflow/tfjs-node-gpu', addonBuilt: false },
  { package: '@tensorflow/tfjs-node', addonBuilt: false },
];
const probe = (over: Partial<TensorflowProbe>): TensorflowProbe => ({
  package: '@tensorflow/tfjs-node-gpu',
  version: '2.9.1',
  usingGpu: false,
  loadedLibraries: [],
  missingLibraries: [],
  gpus: [],
  gpuProblems: [],
  ...over,
});

test('describeDevice: the GPU, or in one line why the process computes on the CPU', () => {
  const t4 = { device: '/device:GPU:0', name: 'Tesla T4', memoryMiB: 13598, computeCapability: '7.5' };
  assert.equal(describeDevice([GPU_PKG], probe({ usingGpu: true, gpus: [t4] })), 'GPU: Tesla T4 (compute capability 7.5, 13598 MiB)');
  assert.equal(
    describeDevice([GPU_PKG], probe({ missingLibraries: [{ library: 'libcudnn.so.8', error: 'not found' }], gpuProblems: ['failed call to cuInit: CUDA_ERROR_NO_DEVICE'] })),
    'CPU (fallback): libcudnn.so.8 not found; failed call to cuInit: CUDA_ERROR_NO_DEVICE',
  );
  assert.match(describeDevice([GPU_PKG], probe({ package: '@tensorflow/tfjs-node' })), /^CPU: @tensorflow\/tfjs-node is the CPU-only build/);
  assert.equal(describeDevice([GPU_PKG], probe({ version: undefined, error: 'loading x failed: boom' })), 'none: loading x failed: boom');
  assert.match(describeDevice(NOT_INSTALLED, undefined), /^none: neither @tensorflow\/tfjs-node nor -gpu is installed \(`bash scripts\/tfjs-node\/install.sh/);
  const noAddon: TfjsNodeInstall[] = [NOT_INSTALLED[0], { package: '@tensorflow/tfjs-node', version: '4.22.0', addonBuilt: false }];
  assert.match(describeDevice(noAddon, undefined), /@tensorflow\/tfjs-node 4\.22\.0 is installed without its native addon/);
});

test('runDoctor takes the backend from the topology, DISTILLERY_BACKEND winning over the default', async () => {
  const saved = process.env.DISTILLERY_BACKEND;
  process.env.DISTILLERY_BACKEND = 'cpu';
  let report: DoctorReport;
  try {
    report = await runDoctor({ topology: 'topologies/embedded.yaml', probe: async (i) => probe({ package: i.package }) });
  } finally {
    if (saved === undefined) delete process.env.DISTILLERY_BACKEND;
    else process.env.DISTILLERY_BACKEND = saved;
  }
  assert.deepEqual(report.backend, { name: 'cpu', reason: 'DISTILLERY_BACKEND=cpu', from: 'topologies/embedded.yaml' });
  const text = formatDoctor(report);
  assert.match(text, /^backend {6}cpu — DISTILLERY_BACKEND=cpu \(topologies\/embedded\.yaml\)$/m);
  assert.match(text, /^wasm {9}threads \d+/m);
});

test('distillery doctor --json on this machine: tensorflow by default, TensorFlow 2.9.1 on the CPU-only build', async () => {
  const { code, out, err } = await doctor(['--json'], { DISTILLERY_BACKEND: '' });
  assert.equal(code, 0, err);
  const report = JSON.parse(out) as DoctorReport;
  assert.equal(report.backend.name, 'tensorflow');
  assert.match(report.backend.reason, /^default: @tensorflow\/tfjs-node is installed/);
  assert.equal(report.tensorflow?.version, '2.9.1');
  assert.equal(report.tensorflow?.usingGpu, false);
  assert.match(report.device, /^CPU: @tensorflow\/tfjs-node is the CPU-only build/);
  assert.ok(report.tfjsNode.some((i) => i.package === '@tensorflow/tfjs-node' && i.addonBuilt));
});

test('distillery doctor prints one line per fact; a missing topology still reports the backend', async () => {
  const { code, out, err } = await doctor(['--topology', 'no-such-topology.yaml'], { DISTILLERY_BACKEND: 'wasm' });
  assert.equal(code, 0, err);
  assert.match(out, /^backend {6}wasm — DISTILLERY_BACKEND=wasm \(DISTILLERY_BACKEND and the default \(no-such-topology\.yaml did not load: /m);
  assert.match(out, /^tensorflow {3}2\.9\.1 \(@tensorflow\/tfjs-node\)$/m);
  assert.match(out, /^device {7}CPU: /m);
});

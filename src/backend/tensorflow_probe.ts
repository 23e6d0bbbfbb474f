// Loads a tfjs-node package in a child process and reads what TensorFlow says about itself: version, CUDA, GPUs.
//
// TensorFlow reports CUDA library loading and GPU discovery only as C++ log lines on the process's stderr, which
// a Node process cannot read about itself; so a child loads the package with logging turned up, runs one op (GPU
// devices are created on first use) and the parent parses the child's stderr.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import type { TfjsNodePackage } from './tfjs_node_install.ts';

export interface GpuDevice {
  /** TensorFlow's device name, e.g. /device:GPU:0. */
  device: string;
  name: string;
  memoryMiB: number;
  computeCapability: string;
}

/** What TensorFlow said while loading and running one op. */
export interface TensorflowLogFacts {
  /** CUDA/cuDNN/TensorRT libraries TensorFlow opened. */
  loadedLibraries: string[];
  /** Libraries it tried and failed to open, with the loader's error. */
  missingLibraries: { library: string; error: string }[];
  gpus: GpuDevice[];
  /** TensorFlow's own explanations of why GPUs were not used (cuInit failures, "Cannot dlopen some GPU libraries"). */
  gpuProblems: string[];
}

export interface TensorflowProbe extends TensorflowLogFacts {
  package: TfjsNodePackage;
  /** TF_Version() of the loaded C library, or undefined when loading failed. */
  version?: string;
  /** Whether tfjs-node placed its ops on a GPU. */
  usingGpu: boolean;
  /** Why loading or running failed, when it did. */
  error?: string;
}

const require = createRequire(import.meta.url);

// TensorFlow 2.x log formats (stream_executor dso_loader.cc, cuda_driver.cc, cuda_diagnostics.cc; gpu_device.cc).
const LOADED = /Successfully opened dynamic library (\S+)/;
const MISSING = /Could not load dynamic library '([^']+)'; dlerror: (.*)$/;
const CREATED_GPU = /Created device (\S*device:GPU:\d+) with (\d+) MB memory:\s*-> device: \d+, name: (.*?), pci bus id: [^,]*, compute capability: ([\d.]+)/;
const GPU_PROBLEMS = [/(failed call to cuInit: .*)$/, /(Cannot dlopen some GPU libraries\..*)$/, /(could not retrieve CUDA device count: .*)$/, /(kernel driver does not appear to be running on this host.*)$/];

/** Extracts the CUDA and GPU facts from TensorFlow's stderr log lines. */
export function parseTensorflowLog(stderr: string): TensorflowLogFacts {
  const facts: TensorflowLogFacts = { loadedLibraries: [], missingLibraries: [], gpus: [], gpuProblems: [] };
  for (const line of stderr.split('\n')) {
    let m = LOADED.exec(line);
    if (m) facts.loadedLibraries.push(m[1]);
    m = MISSING.exec(line);
    if (m) facts.missingLibraries.push({ library: m[1], error: m[2].trim() });
    m = CREATED_GPU.exec(line);
    if (m) facts.gpus.push({ device: m[1], memoryMiB: Number(m[2]), name: m[3], computeCapability: m[4] });
    for (const re of GPU_PROBLEMS) {
      m = re.exec(line);
      if (m) facts.gpuProblems.push(m[1].trim());
    }
  }
  return facts;
}

// Loads the package, runs a matmul (devices are created on first use) and a convolution (cuDNN is opened on the
// first one), prints what the binding reports.
const CHILD = `
const tf = require(process.argv[1]);
const backend = tf.backend();
tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync();
tf.conv2d(tf.ones([1, 4, 4, 1]), tf.ones([3, 3, 1, 1]), 1, 'same').dataSync();
process.stdout.write(JSON.stringify({ version: backend.binding.TF_Version, usingGpu: backend.isUsingGpuDevice === true }));
`;

/** Loads `pkg` in a child process (never in this one: it would switch this process's backend) and reports. */
export function probeTensorflow(pkg: TfjsNodePackage, timeoutMs = 120_000): Promise<TensorflowProbe> {
  const entry = require.resolve(pkg);
  // Level 0 keeps TensorFlow's INFO lines (GPU devices); vmodule adds the dso loader's "Successfully opened".
  const env = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0', TF_CPP_VMODULE: 'dso_loader=1' };
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', CHILD, entry], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const facts = parseTensorflowLog(stderr);
      if (err !== null) {
        const reason = err.killed ? `timed out after ${timeoutMs / 1000} s` : lastErrorLine(stderr) ?? err.message;
        resolve({ package: pkg, usingGpu: false, ...facts, error: `loading ${pkg} failed: ${reason}` });
        return;
      }
      const out = JSON.parse(stdout) as { version: string; usingGpu: boolean };
      resolve({ package: pkg, version: out.version, usingGpu: out.usingGpu, ...facts });
    });
  });
}

/** The thrown error's message in a child's stderr (Node prints `Error: …` after the source excerpt). */
function lastErrorLine(stderr: string): string | undefined {
  return stderr
    .split('\n')
    .filter((l) => /^\w*Error\b/.test(l))
    .at(-1);
}

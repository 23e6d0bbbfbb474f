// `distillery doctor`: which compute backend a run would use and why, and what TensorFlow sees (CUDA, cuDNN, GPUs).
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { BACKEND_ENV, resolveBackendName, WASM_THREADS_ENV, type BackendName } from '../backend/backend.ts';
import { probeTensorflow, type TensorflowProbe } from '../backend/tensorflow_probe.ts';
import { TFJS_NODE_INSTALL_HINT, tfjsNodeInstalls, type TfjsNodeInstall } from '../backend/tfjs_node_install.ts';
import { loadTopology } from '../topology/index.ts';
import { DEFAULT_TOPOLOGY } from './run.ts';

export interface DoctorReport {
  /** The backend a run would use, why, and which settings were consulted. */
  backend: { name: BackendName; reason: string; from: string };
  node: string;
  platform: string;
  cores: number;
  tfjsVersion: string;
  tfjsNode: TfjsNodeInstall[];
  /** The preferred installed tfjs-node package, loaded in a child process; absent when none is installed. */
  tensorflow?: TensorflowProbe;
  /** In words: the device TensorFlow computes on and, when it is the CPU, why. */
  device: string;
  wasm: { threads: string; threadedBuild: string };
}

export interface DoctorOptions {
  topology: string;
  /** Loads TensorFlow and reports on it; replaceable in tests. */
  probe?: (install: TfjsNodeInstall) => Promise<TensorflowProbe>;
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const backend = await chosenBackend(opts.topology);
  const tfjsNode = tfjsNodeInstalls();
  const usable = tfjsNode.find((i) => i.addonBuilt);
  const tensorflow = usable === undefined ? undefined : await (opts.probe ?? ((i) => probeTensorflow(i.package)))(usable);
  const { threadedBuildProblem } = await import('../backend/wasm_threads.ts');
  const fromEnv = process.env[WASM_THREADS_ENV];
  return {
    backend,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cores: os.availableParallelism(),
    tfjsVersion: tf.version.tfjs,
    tfjsNode,
    tensorflow,
    device: describeDevice(tfjsNode, tensorflow),
    wasm: {
      threads: fromEnv !== undefined && fromEnv !== '' ? `${fromEnv} (${WASM_THREADS_ENV})` : `${Math.min(os.availableParallelism(), 8)} (one per core, at most 8)`,
      threadedBuild: threadedBuildProblem() ?? 'usable',
    },
  };
}

/** What `distillery run` with this topology would choose: the topology's backend, else the environment's, else the default. */
async function chosenBackend(topologyFile: string): Promise<DoctorReport['backend']> {
  try {
    const t = await loadTopology(topologyFile);
    return { name: t.backend, reason: t.backendReason ?? 'the topology', from: topologyFile };
  } catch (err) {
    // The backend does not depend on the rest of the topology being valid (e.g. S3 variables not set here).
    const { name, reason } = resolveBackendName();
    return { name, reason, from: `${BACKEND_ENV} and the default (${topologyFile} did not load: ${(err as Error).message.split('\n')[0]})` };
  }
}

/** The device TensorFlow computes on, and why not a GPU when it is not. */
export function describeDevice(installs: readonly TfjsNodeInstall[], probe: TensorflowProbe | undefined): string {
  if (probe === undefined) {
    const partial = installs.find((i) => i.version !== undefined);
    return partial !== undefined
      ? `none: ${partial.package} ${partial.version} is installed without its native addon; build it with \`${TFJS_NODE_INSTALL_HINT}\``
      : `none: neither @tensorflow/tfjs-node nor -gpu is installed (\`${TFJS_NODE_INSTALL_HINT}\`)`;
  }
  if (probe.error !== undefined) return `none: ${probe.error}`;
  if (probe.usingGpu) {
    const gpu = probe.gpus[0];
    return gpu !== undefined ? `GPU: ${gpu.name} (compute capability ${gpu.computeCapability}, ${gpu.memoryMiB} MiB)` : 'GPU';
  }
  if (probe.package === '@tensorflow/tfjs-node') return 'CPU: @tensorflow/tfjs-node is the CPU-only build (the GPU build is @tensorflow/tfjs-node-gpu)';
  const why = [
    ...probe.missingLibraries.map((m) => `${m.library} not found`),
    ...probe.gpuProblems,
  ];
  return `CPU (fallback): ${why.length > 0 ? why.join('; ') : 'TensorFlow created no GPU device'}`;
}

export function formatDoctor(r: DoctorReport): string {
  const tf = r.tensorflow;
  const installs = r.tfjsNode.map((i) =>
    i.version === undefined ? `${i.package} not installed` : `${i.package} ${i.version}${i.addonBuilt ? '' : ' (addon not built)'}`,
  );
  const lines = [
    `backend      ${r.backend.name} — ${r.backend.reason} (${r.backend.from})`,
    `node         ${r.node}, ${r.platform}, ${r.cores} cores`,
    `tfjs         ${r.tfjsVersion}`,
    `tfjs-node    ${installs.join('; ')}`,
    `tensorflow   ${tf === undefined ? 'not loaded' : tf.version !== undefined ? `${tf.version} (${tf.package})` : 'failed to load'}`,
    `device       ${r.device}`,
  ];
  if (tf !== undefined && tf.package === '@tensorflow/tfjs-node-gpu') {
    lines.push(`cuda libs    ${tf.loadedLibraries.length > 0 ? `loaded ${tf.loadedLibraries.join(', ')}` : 'none loaded'}`);
    if (tf.missingLibraries.length > 0) lines.push(`             missing ${tf.missingLibraries.map((m) => m.library).join(', ')}`);
    for (const g of tf.gpus) lines.push(`gpu          ${g.device}: ${g.name}, compute capability ${g.computeCapability}, ${g.memoryMiB} MiB`);
  }
  lines.push(`wasm         threads ${r.wasm.threads}; multi-threaded build ${r.wasm.threadedBuild}`);
  return lines.join('\n');
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('print the compute backend a run would use and why, the tfjs and TensorFlow versions, and whether CUDA/cuDNN loaded and which GPU')
    .option('--topology <file>', 'topology whose backend to report', DEFAULT_TOPOLOGY)
    .option('--json', 'print JSON')
    .action(async (flags: { topology: string; json?: boolean }) => {
      const report = await runDoctor({ topology: flags.topology });
      process.stdout.write(`${flags.json ? JSON.stringify(report, null, 2) : formatDoctor(report)}\n`);
    });
}

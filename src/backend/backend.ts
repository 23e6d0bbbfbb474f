// Chooses and initialises the tfjs compute backend (tensorflow / wasm / cpu) once at start-up.
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { installedTensorflowPackage, TFJS_NODE_INSTALL_HINT, TFJS_NODE_PACKAGES } from './tfjs_node_install.ts';

export const BACKEND_NAMES = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Environment variable consulted when no backend name is passed. */
export const BACKEND_ENV = 'DISTILLERY_BACKEND';
/** The default where tfjs-node is not installed; where it is, the default is 'tensorflow' (see defaultBackend). */
export const DEFAULT_BACKEND: BackendName = 'wasm';
/** Environment variable giving the wasm thread count when `opts.threads` is not passed. */
export const WASM_THREADS_ENV = 'DISTILLERY_WASM_THREADS';

export interface BackendOptions {
  /**
   * wasm only: worker threads for XNNPACK (default: `DISTILLERY_WASM_THREADS`, else all available
   * cores, at most 8; 1 selects the plain single-threaded SIMD build). Fixed by the first wasm
   * initialisation in a process.
   */
  threads?: number;
  /** Why the caller chose `name` (e.g. the topology's reason), reported in BackendInfo.reason. */
  reason?: string;
}

/** What was initialised, for logging. */
export interface BackendInfo {
  name: BackendName;
  /** Where the name came from. */
  source: 'argument' | 'env' | 'default';
  /** Why this backend, in words: the setting it came from, or why the default is what it is. */
  reason: string;
  /** The package providing the backend, e.g. '@tensorflow/tfjs-node-gpu'. */
  package: string;
  tfjsVersion: string;
  /** wasm: whether the SIMD build runs. */
  simd: boolean;
  /** wasm: XNNPACK threads actually in use (1 for cpu; 0 when unknown, i.e. tensorflow). */
  threads: number;
  /** Kernels this project registered on the backend. */
  customKernels: string[];
  /** Non-fatal problems worth logging (e.g. a fallback to single-threaded wasm). */
  warnings: string[];
  /** tensorflow only: the TensorFlow C library's version and whether it computes on a GPU. */
  tensorflow?: { version: string; gpu: boolean };
}

/** A backend choice and why it was made. */
export interface BackendChoice {
  name: BackendName;
  source: BackendInfo['source'];
  reason: string;
}

/**
 * Resolves the backend name from the argument, else `DISTILLERY_BACKEND`, else the default (defaultBackend);
 * validates it. An explicit choice always wins over the default.
 */
export function resolveBackendName(name?: string, env: NodeJS.ProcessEnv = process.env): BackendChoice {
  const fromEnv = env[BACKEND_ENV];
  let choice: BackendChoice;
  if (name != null) choice = { name: name as BackendName, source: 'argument', reason: 'chosen by the caller' };
  else if (fromEnv != null && fromEnv !== '') choice = { name: fromEnv as BackendName, source: 'env', reason: `${BACKEND_ENV}=${fromEnv}` };
  else return { ...defaultBackend(), source: 'default' };
  if (!(BACKEND_NAMES as readonly string[]).includes(choice.name)) {
    const where = choice.source === 'env' ? ` (from ${BACKEND_ENV})` : '';
    throw new Error(`Unknown compute backend '${choice.name}'${where}; valid backends are: ${BACKEND_NAMES.join(', ')}`);
  }
  return choice;
}

/**
 * The backend used when nothing chooses one: 'tensorflow' where tfjs-node (or -gpu) is installed with its native
 * addon — it trains several times faster than wasm (docs/benchmarks.md) — else 'wasm'.
 */
export function defaultBackend(): { name: BackendName; reason: string } {
  const pkg = installedTensorflowPackage();
  return pkg !== undefined
    ? { name: 'tensorflow', reason: `default: ${pkg} is installed (faster than wasm; ${BACKEND_ENV}=wasm to override)` }
    : { name: DEFAULT_BACKEND, reason: 'default: @tensorflow/tfjs-node is not installed (scripts/tfjs-node/install.sh installs it)' };
}

/**
 * Initialises and selects a tfjs backend. Call once at start-up (calling again with the same name
 * is cheap and harmless).
 */
export async function initBackend(name?: BackendName, opts: BackendOptions = {}): Promise<BackendInfo> {
  const resolved = resolveBackendName(name);
  const reason = resolved.source === 'argument' && opts.reason !== undefined ? opts.reason : resolved.reason;
  const base = { name: resolved.name, source: resolved.source, reason, tfjsVersion: tf.version.tfjs, customKernels: [], warnings: [] };
  switch (resolved.name) {
    case 'tensorflow':
      return { ...base, ...(await initTensorflow()) };
    case 'wasm':
      return { ...base, ...(await initWasm(opts)) };
    case 'cpu':
      return { ...base, ...(await initCpu()) };
  }
}

/** The backend-specific part of a BackendInfo. */
type BackendDetails = Pick<BackendInfo, 'package' | 'simd' | 'threads'> & Partial<Pick<BackendInfo, 'customKernels' | 'warnings' | 'tensorflow'>>;

/** What the tfjs-node backend object exposes beyond tfjs' KernelBackend (its N-API binding). */
interface NodeKernelBackend {
  binding?: { TF_Version?: string };
  isUsingGpuDevice?: boolean;
}

/**
 * Imports a package by a computed specifier (so TypeScript does not try to resolve it); undefined
 * when that package is not installed.
 */
export async function importOptional(specifier: string): Promise<unknown | undefined> {
  try {
    return await import(specifier);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    // A missing transitive dependency of an installed package is a real error, not "not installed".
    if (missing && String((err as Error).message).includes(`'${specifier}'`)) return undefined;
    throw err;
  }
}

async function initTensorflow(loader: (s: string) => Promise<unknown | undefined> = importOptional): Promise<BackendDetails> {
  // TensorFlow's C++ INFO lines (oneDNN, CPU features) would go to stderr on every start; warnings stay.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  for (const pkg of TFJS_NODE_PACKAGES) {
    let module: unknown;
    try {
      module = await loader(pkg);
    } catch (err) {
      // Its own message advises `npm rebuild`, which downloads from a host that may be unreachable.
      throw new Error(`${pkg} is installed but failed to load: ${(err as Error).message.split('\n')[0]} — rebuild it with \`${TFJS_NODE_INSTALL_HINT}\``, { cause: err });
    }
    if (module === undefined) continue;
    if (tf.findBackendFactory('tensorflow') == null) {
      throw new Error(
        `${pkg} loaded but registered no 'tensorflow' backend with this copy of @tensorflow/tfjs ` +
          `(${tf.version.tfjs}); install a version of ${pkg} matching @tensorflow/tfjs`,
      );
    }
    if (!(await tf.setBackend('tensorflow'))) {
      throw new Error(`${pkg} is installed but its 'tensorflow' backend failed to initialise (see the warning above)`);
    }
    const backend = tf.backend() as unknown as NodeKernelBackend;
    const tensorflow = { version: backend.binding?.TF_Version ?? 'unknown', gpu: backend.isUsingGpuDevice === true };
    // TensorFlow's intra-op thread pool spans every core the process may use.
    return { package: pkg, simd: false, threads: os.availableParallelism(), tensorflow };
  }
  throw new Error(
    `Compute backend 'tensorflow' needs @tensorflow/tfjs-node-gpu (CUDA) or @tensorflow/tfjs-node (CPU), ` +
      `and neither is installed. Install one next to distillery: \`${TFJS_NODE_INSTALL_HINT}\` builds it from PyPI's TensorFlow, ` +
      `or \`npm install @tensorflow/tfjs-node@${tf.version.tfjs}\` where TensorFlow's downloads are reachable; ` +
      `or choose another backend (${BACKEND_NAMES.filter((n) => n !== 'tensorflow').join(', ')}).`,
  );
}

/** Whether the active backend is tensorflow placing its ops on a GPU (tfjs-node-gpu with a usable device). */
export function activeBackendOnGpu(): boolean {
  return tf.getBackend() === 'tensorflow' && (tf.backend() as unknown as NodeKernelBackend).isUsingGpuDevice === true;
}

/**
 * The backend of the student's training threads for a `trainingBackend` setting: 'auto' is wasm where the stage runs
 * tensorflow on CPU (wasm, one thread per replica, steps the small student faster: docs/benchmarks.md) and the
 * stage's own backend otherwise (a GPU trains faster than either); undefined = the stage's.
 */
export function resolveTrainingBackend(setting: BackendName | 'auto' | undefined, stage: string = tf.getBackend(), onGpu: boolean = activeBackendOnGpu()): BackendName | undefined {
  if (setting !== 'auto') return setting;
  return stage === 'tensorflow' && !onGpu ? 'wasm' : undefined;
}

/** Exposed for tests: the tensorflow initialiser with a custom module loader. */
export const initTensorflowForTest = initTensorflow;

async function initWasm(opts: BackendOptions): Promise<BackendDetails> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const { registerWasmTrainingKernels } = await import('./wasm/register.ts');
  const customKernels = registerWasmTrainingKernels();
  const warnings: string[] = [];
  const fromEnv = process.env[WASM_THREADS_ENV];
  const threads = opts.threads ?? (fromEnv != null && fromEnv !== '' ? Number(fromEnv) : Math.min(os.availableParallelism(), 8));
  if (!Number.isInteger(threads) || threads < 1) {
    const where = opts.threads == null && fromEnv != null ? ` (from ${WASM_THREADS_ENV})` : '';
    throw new Error(`wasm threads must be a positive integer, got ${opts.threads ?? fromEnv}${where}`);
  }
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  // Not tf.findBackend: it would initialise the backend as a side effect.
  const alreadyUp = tf.engine().registry['wasm'] != null;
  const listeners = processErrorListeners();
  if (!alreadyUp && threads > 1 && !simd) warnings.push('this runtime has no WebAssembly SIMD; using 1 thread');
  if (!alreadyUp && threads > 1 && simd) {
    const { threadedBuildProblem, withWasmThreads } = await import('./wasm_threads.ts');
    const problem = threadedBuildProblem();
    let threaded = false;
    if (problem != null) {
      warnings.push(`multi-threaded wasm unavailable: ${problem}; using 1 thread`);
    } else {
      try {
        threaded = await withWasmThreads(threads, () => tf.setBackend('wasm'));
      } catch (err) {
        warnings.push(`multi-threaded wasm failed (${(err as Error).message}); using 1 thread`);
      }
    }
    if (!threaded) {
      if (warnings.length === 0) warnings.push('multi-threaded wasm failed to initialise; using 1 thread');
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      wasm.setThreadsCount(1);
    }
  }
  const ok = await tf.setBackend('wasm');
  removeListenersAddedSince(listeners);
  if (!ok) {
    throw new Error("the 'wasm' backend failed to initialise (see the warning above)");
  }
  return { package: '@tensorflow/tfjs-backend-wasm', simd, threads: wasm.getThreadsCount(), customKernels, warnings };
}

interface ErrorListeners {
  uncaughtException: unknown[];
  unhandledRejection: unknown[];
}

function processErrorListeners(): ErrorListeners {
  return { uncaughtException: process.listeners('uncaughtException'), unhandledRejection: process.listeners('unhandledRejection') };
}

/**
 * The emscripten runtime of the wasm backend installs process-wide 'uncaughtException' and
 * 'unhandledRejection' handlers that rethrow, so every later crash of the process is reported
 * from inside its minified source, printing a ~60 kB line. They serve only emscripten's exit()
 * which tfjs never calls; removing them restores Node's own reporting.
 */
function removeListenersAddedSince(before: ErrorListeners): void {
  for (const listener of process.listeners('uncaughtException')) {
    if (!before.uncaughtException.includes(listener)) process.removeListener('uncaughtException', listener);
  }
  for (const listener of process.listeners('unhandledRejection')) {
    if (!before.unhandledRejection.includes(listener)) process.removeListener('unhandledRejection', listener);
  }
}

async function initCpu(): Promise<BackendDetails> {
  if (!(await tf.setBackend('cpu'))) {
    throw new Error("the 'cpu' backend failed to initialise");
  }
  muteCpuBanner();
  return { package: '@tensorflow/tfjs-backend-cpu', simd: false, threads: 1 };
}

/**
 * The cpu backend prints a multi-line "install tfjs-node to speed things up" banner on its first
 * tensor write. Our users chose cpu deliberately (and cannot install tfjs-node on every machine),
 * so we mark the banner as shown instead of muting tfjs warnings globally (PROD mode would hide
 * every other warning too).
 */
export function muteCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu != null && 'firstUse' in cpu) cpu.firstUse = false;
}

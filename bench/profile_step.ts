// Profiler: per-kernel time of one detector training step (or forward) via tf.profile, over several repeats.
//
// Usage: node --import tsx bench/profile_step.ts [options]
//   --model student|teacher   detector preset (default student)
//   --backend wasm|cpu        compute backend (default wasm)
//   --threads N               wasm threads (default: as initBackend picks)
//   --batch N --size N        input batch and side (default 8, 128, as bench/train.ts)
//   --mode train|forward      forward+backward of focal + smooth-L1 loss (as bench/train.ts), or inference forward
//   --repeats N               profiled steps after 2 warm-ups (default 5)
//   --stat median|min         how each kernel call's time is taken over the repeats (default median); on a
//                             busy machine `min` filters out the calls that were preempted
//   --top N                   kernels listed (default 30)
//   --calls REGEX             also list every call of the kernels whose name matches, with input shapes
//   --json                    machine-readable output
//
// Kernel times are wall-clock around each kernel (wasm kernels are synchronous). Entries that are not
// registered kernels (e.g. `fusedConv2d__op`, a customGrad wrapper) include the kernels nested in them;
// they are listed as wrappers and left out of the kernel total. The unprofiled step time is measured
// separately (tf.profile adds per-kernel bookkeeping).
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, initBackend } from '../src/backend/backend.ts';
import { buildDetector, disposeLayersModel, forward } from '../src/model/detector.ts';
import { PRESETS, type PresetName, totalAnchors } from '../src/model/detector_config.ts';
import { focalLoss, smoothL1Loss } from '../src/losses/index.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'student' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string' },
    batch: { type: 'string', default: '8' },
    size: { type: 'string', default: '128' },
    mode: { type: 'string', default: 'train' },
    repeats: { type: 'string', default: '5' },
    top: { type: 'string', default: '30' },
    calls: { type: 'string' },
    stat: { type: 'string', default: 'median' },
    json: { type: 'boolean', default: false },
  },
});

if (!(values.model in PRESETS)) throw new Error(`--model must be one of ${Object.keys(PRESETS).join(', ')}`);
if (values.mode !== 'train' && values.mode !== 'forward') throw new Error('--mode must be train or forward');
if (values.stat !== 'median' && values.stat !== 'min') throw new Error('--stat must be median or min');
const batch = Number(values.batch);
const size = Number(values.size);
const repeats = Number(values.repeats);
const info = await initBackend(values.backend as BackendName, values.threads != null ? { threads: Number(values.threads) } : {});

const detector = buildDetector({ ...PRESETS[values.model as PresetName], inputSize: size }, { seed: 1 });
const anchors = totalAnchors(detector.config);
const images = tf.randomUniform([batch, size, size, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
// Random but realistic targets, as in bench/train.ts: a few positives per image.
const hard = tf.tidy(() => tf.cast(tf.randomUniform([batch, anchors, detector.config.numClasses], 0, 1, 'float32', 2).greater(0.995), 'float32'));
const positive = tf.tidy(() => tf.cast(tf.randomUniform([batch, anchors], 0, 1, 'float32', 3).greater(0.98), 'float32'));
const boxTargets = tf.randomNormal([batch, anchors, 4], 0, 0.5, 'float32', 4);
const vars = detector.model.trainableWeights.map((w) => w.read() as tf.Variable);

async function trainStep(): Promise<void> {
  const { value, grads } = tf.variableGrads(() => {
    const out = forward(detector, images, true);
    return focalLoss(out.classLogits, hard).add(smoothL1Loss(out.boxDeltas, boxTargets, positive)) as tf.Scalar;
  }, vars);
  await Promise.all(Object.values(grads).map((g) => g.data()));
  value.dispose();
  tf.dispose(grads);
}

async function forwardStep(): Promise<void> {
  const out = tf.tidy(() => forward(detector, images).classLogits);
  await out.data();
  out.dispose();
}

const step = values.mode === 'train' ? trainStep : forwardStep;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)];
}

async function wallMs(run: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

await step();
await step();
await forwardStep();

interface Call {
  name: string;
  ms: number;
  shapes: number[][];
}
const profiles: Call[][] = [];
const stepMs: number[] = [];
const forwardMs: number[] = [];
for (let r = 0; r < repeats; r++) {
  const prof = await tf.profile(step);
  profiles.push(prof.kernels.map((k) => ({ name: k.name, ms: Number(k.kernelTimeMs) || 0, shapes: k.inputShapes })));
  stepMs.push(await wallMs(step));
  if (values.mode === 'train') forwardMs.push(await wallMs(forwardStep));
}
tf.dispose([images, hard, positive, boxTargets]);
disposeLayersModel(detector.model);

const isKernel = (name: string): boolean => tf.getKernel(name, info.name) != null;

// The graph is fixed, so the i-th call of every repeat is the same op: each call's time is the
// chosen statistic over the repeats, and kernel totals are sums of those.
const stat = values.stat === 'min' ? (xs: number[]): number => Math.min(...xs) : median;
const calls: Call[] = profiles[0].map((c, i) => ({ name: c.name, shapes: c.shapes, ms: stat(profiles.map((p) => p[i]?.ms ?? 0)) }));

interface KernelRow {
  name: string;
  calls: number;
  ms: number;
  wrapper: boolean;
}
const byName = new Map<string, KernelRow>();
for (const c of calls) {
  const row = byName.get(c.name) ?? { name: c.name, calls: 0, ms: 0, wrapper: !isKernel(c.name) };
  row.calls++;
  row.ms += c.ms;
  byName.set(c.name, row);
}
const rows = [...byName.values()].sort((a, b) => b.ms - a.ms);
const kernelTotal = rows.filter((r) => !r.wrapper).reduce((a, r) => a + r.ms, 0);
const callPattern = values.calls != null ? new RegExp(values.calls) : null;
const callRows = callPattern == null ? [] : calls.filter((c) => callPattern.test(c.name));

const summary = {
  backend: info.name,
  threads: info.threads,
  model: values.model,
  mode: values.mode,
  batch,
  size,
  repeats,
  stat: values.stat,
  stepMs: median(stepMs),
  forwardMs: values.mode === 'train' ? median(forwardMs) : median(stepMs),
  stepMinMs: Math.min(...stepMs),
  forwardMinMs: values.mode === 'train' ? Math.min(...forwardMs) : Math.min(...stepMs),
  kernelTotalMs: kernelTotal,
};

if (values.json) {
  process.stdout.write(`${JSON.stringify({ ...summary, kernels: rows, calls: callRows }, null, 2)}\n`);
} else {
  const lines = [`kernel                        total ms   calls   ms/call`];
  for (const r of rows.slice(0, Number(values.top))) {
    const tag = r.wrapper ? '  (wrapper, includes nested kernels)' : '';
    lines.push(`${r.name.padEnd(28)} ${r.ms.toFixed(2).padStart(9)} ${String(r.calls).padStart(7)} ${(r.ms / Math.max(1, r.calls)).toFixed(3).padStart(9)}${tag}`);
  }
  lines.push(`kernel total ${kernelTotal.toFixed(1)} ms (profiled; per-call ${values.stat} over ${repeats} steps)`);
  for (const c of callRows) lines.push(`${c.name.padEnd(24)} ${c.ms.toFixed(3).padStart(8)}  ${JSON.stringify(c.shapes)}`);
  const ratio =
    values.mode === 'train'
      ? `; forward ${summary.forwardMs.toFixed(1)} (min ${summary.forwardMinMs.toFixed(1)}) ms; ratio of medians ${(summary.stepMs / summary.forwardMs).toFixed(2)}`
      : '';
  lines.push(
    `${values.model} ${values.mode} on ${info.name} (${info.threads} thread${info.threads === 1 ? '' : 's'}), batch ${batch} @ ${size}px: ` +
      `step ${summary.stepMs.toFixed(1)} (min ${summary.stepMinMs.toFixed(1)}) ms unprofiled${ratio}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

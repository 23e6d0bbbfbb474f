// Benchmark: forward and forward+backward time of the default teacher and student, and teacher inference images/s, per backend (npm run bench:train).
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initBackend, WASM_THREADS_ENV, type BackendName } from '../src/backend/backend.ts';
import { installedTensorflowPackage } from '../src/backend/tfjs_node_install.ts';
import { LocalStore } from '../src/io/local_store.ts';
import { detectorAnchorConfig } from '../src/model/detector_config.ts';
import { inferTeacher } from '../src/stages/teacher/infer.ts';
import { loadTeacher } from '../src/stages/teacher/teacher_model.ts';
import { DEFAULT_THRESHOLDS } from '../src/topology/defaults.ts';
import { buildDetector, forward, type Detector } from '../src/model/detector.ts';
import { PRESETS, totalAnchors, type PresetName } from '../src/model/detector_config.ts';
import { modelCost } from '../src/model/flops.ts';
import { focalLoss, smoothL1Loss } from '../src/losses/index.ts';

const { values } = parseArgs({
  options: {
    // tensorflow (tfjs-node) where it is installed; cpu takes minutes per teacher step.
    backends: { type: 'string', default: installedTensorflowPackage() !== undefined ? 'tensorflow,wasm,cpu' : 'wasm,cpu' },
    models: { type: 'string', default: 'teacher,student' },
    batch: { type: 'string', default: '8' },
    size: { type: 'string', default: '128' },
    iterations: { type: 'string', default: '5' },
    'cpu-iterations': { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    // wasm thread counts to compare; each runs in a child process (threads are fixed once wasm starts).
    'wasm-threads': { type: 'string', default: '2,1' },
  },
});

const batch = Number(values.batch);
const size = Number(values.size);

interface Row {
  backend: string;
  model: string;
  forwardMs: number;
  trainStepMs: number;
  ratio: number;
  forwardGflops: number;
  trainGflops: number;
  /** Teacher rows: the bundled teacher labelling batches as the teacher stage does (inferTeacher), images/s. */
  labelImagesPerSecond?: number;
}

/** Median of a few timed runs after one warm-up (the first call allocates); no warm-up for single runs (cpu). */
async function time(iterations: number, run: () => Promise<void>): Promise<number> {
  if (iterations > 1) await run();
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function benchModel(detector: Detector, iterations: number): Promise<{ forwardMs: number; trainStepMs: number }> {
  const anchors = totalAnchors(detector.config);
  const images = tf.randomUniform([batch, size, size, 3], -1, 1) as tf.Tensor4D;
  // Random but realistic targets: a few positives per image, the rest background.
  const hard = tf.tidy(() => tf.cast(tf.randomUniform([batch, anchors, detector.config.numClasses]).greater(0.995), 'float32'));
  const positive = tf.tidy(() => tf.cast(tf.randomUniform([batch, anchors]).greater(0.98), 'float32'));
  const boxTargets = tf.randomNormal([batch, anchors, 4], 0, 0.5);
  const vars = detector.model.trainableWeights.map((w) => w.read() as tf.Variable);

  const forwardMs = await time(iterations, async () => {
    const out = tf.tidy(() => forward(detector, images).classLogits);
    await out.data();
    out.dispose();
  });
  const trainStepMs = await time(iterations, async () => {
    const { value, grads } = tf.variableGrads(() => {
      const out = forward(detector, images, true);
      return focalLoss(out.classLogits, hard).add(smoothL1Loss(out.boxDeltas, boxTargets, positive)) as tf.Scalar;
    }, vars);
    // Reading every gradient forces the whole backward pass to finish.
    await Promise.all(Object.values(grads).map((g) => g.data()));
    value.dispose();
    tf.dispose(grads);
  });
  tf.dispose([images, hard, positive, boxTargets]);
  return { forwardMs, trainStepMs };
}

/**
 * The bundled teacher (models/teacher) labelling random images in batches exactly as the teacher stage does:
 * forward, sigmoid soft labels read back, box decoding and class-wise NMS (inferTeacher). Images/s.
 */
async function benchLabelling(iterations: number): Promise<number> {
  const store = new LocalStore({ root: fileURLToPath(new URL('../models', import.meta.url)) });
  const json = JSON.parse(new TextDecoder().decode(await store.get('teacher/model.json'))) as { userDefinedMetadata: { distillery: { detector: Detector['config'] } } };
  const config = json.userDefinedMetadata.distillery.detector;
  const teacher = await loadTeacher(store, 'teacher', { anchors: detectorAnchorConfig(config), teacher: config });
  const pixels = teacher.inputSize * teacher.inputSize * 3;
  const images = Array.from({ length: batch }, (_, i) => Uint8Array.from({ length: pixels }, (_, j) => (j * 31 + i * 97) % 251));
  const ms = await time(iterations, async () => void (await inferTeacher(teacher, images, DEFAULT_THRESHOLDS)));
  teacher.dispose();
  return (batch / ms) * 1000;
}

/** Runs this benchmark for wasm alone in a child process with the given thread count; returns its rows. */
function wasmInChild(threads: string): Row[] {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), '--backends', 'wasm', '--json', '--wasm-threads', threads];
  for (const key of ['models', 'batch', 'size', 'iterations'] as const) args.push(`--${key}`, String(values[key]));
  const out = execFileSync(process.execPath, args, { env: { ...process.env, [WASM_THREADS_ENV]: threads }, stdio: ['ignore', 'pipe', 'inherit'] });
  return (JSON.parse(out.toString()) as Row[]).map((r) => ({ ...r, backend: `wasm, ${threads} thread${threads === '1' ? '' : 's'}` }));
}

const threadCounts = values['wasm-threads'].split(',');
const rows: Row[] = [];
for (const backend of values.backends.split(',') as BackendName[]) {
  if (backend === 'wasm' && threadCounts.length > 1) {
    for (const threads of threadCounts) rows.push(...wasmInChild(threads));
    continue;
  }
  const info = await initBackend(backend, backend === 'wasm' ? { threads: Number(threadCounts[0]) } : {});
  const iterations = backend === 'cpu' ? Number(values['cpu-iterations']) : Number(values.iterations);
  for (const name of values.models.split(',') as PresetName[]) {
    const detector = buildDetector({ ...PRESETS[name], inputSize: size });
    const flops = modelCost(detector.model).flopsPerImage * batch;
    process.stderr.write(`bench: ${info.name} ${name} batch ${batch} @ ${size}px …\n`);
    const { forwardMs, trainStepMs } = await benchModel(detector, iterations);
    detector.model.dispose();
    const labelImagesPerSecond = name === 'teacher' ? await benchLabelling(iterations) : undefined;
    rows.push({
      backend: info.name === 'wasm' ? `wasm, ${info.threads} thread${info.threads === 1 ? '' : 's'}` : info.name,
      model: name,
      forwardMs,
      trainStepMs,
      ratio: trainStepMs / forwardMs,
      // A backward pass costs about twice the forward's FLOPs (input and filter gradients).
      forwardGflops: flops / forwardMs / 1e6,
      trainGflops: (3 * flops) / trainStepMs / 1e6,
      labelImagesPerSecond,
    });
  }
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  const header = `| backend | model | forward ms/batch | fwd+bwd ms/batch | fwd+bwd / fwd | forward GFLOP/s | fwd+bwd GFLOP/s | teacher labelling images/s |`;
  const lines = [header, '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of rows) {
    const labelling = r.labelImagesPerSecond === undefined ? '' : r.labelImagesPerSecond.toFixed(1);
    lines.push(
      `| ${r.backend} | ${r.model} | ${r.forwardMs.toFixed(0)} | ${r.trainStepMs.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.forwardGflops.toFixed(2)} | ${r.trainGflops.toFixed(2)} | ${labelling} |`,
    );
  }
  /** How many times faster `fast` is than `slow` on one measure, for both models. */
  const speedup = (fast: (b: string) => boolean, slow: (b: string) => boolean, measure: 'forwardMs' | 'trainStepMs'): string =>
    (['teacher', 'student'] as const)
      .map((model) => {
        const f = rows.find((r) => fast(r.backend) && r.model === model);
        const s = rows.find((r) => slow(r.backend) && r.model === model);
        return `${model} ${f && s ? `${(s[measure] / f[measure]).toFixed(1)}x` : 'n/a'}`;
      })
      .join(', ');
  const isWasm = (b: string): boolean => b.startsWith('wasm');
  const wasmLabel = rows.find((r) => isWasm(r.backend))?.backend ?? 'wasm';
  lines.push('', `${wasmLabel} fwd+bwd speed-up over cpu: ${speedup(isWasm, (b) => b === 'cpu', 'trainStepMs')}`);
  if (rows.some((r) => r.backend === 'tensorflow')) {
    const isTf = (b: string): boolean => b === 'tensorflow';
    lines.push(`tensorflow over ${wasmLabel}: forward ${speedup(isTf, isWasm, 'forwardMs')}; fwd+bwd ${speedup(isTf, isWasm, 'trainStepMs')}`);
  }
  lines.push(`batch ${batch}, ${size}x${size} input, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), node ${process.version}, tfjs ${tf.version.tfjs}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

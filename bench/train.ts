// Benchmark: forward and forward+backward time of the default teacher and student per backend (npm run bench:train).
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initBackend, WASM_THREADS_ENV, type BackendName } from '../src/backend/backend.ts';
import { buildDetector, forward, type Detector } from '../src/model/detector.ts';
import { PRESETS, totalAnchors, type PresetName } from '../src/model/detector_config.ts';
import { modelCost } from '../src/model/flops.ts';
import { focalLoss, smoothL1Loss } from '../src/losses/index.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
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
    rows.push({
      backend: info.name === 'wasm' ? `wasm, ${info.threads} thread${info.threads === 1 ? '' : 's'}` : info.name,
      model: name,
      forwardMs,
      trainStepMs,
      ratio: trainStepMs / forwardMs,
      // A backward pass costs about twice the forward's FLOPs (input and filter gradients).
      forwardGflops: flops / forwardMs / 1e6,
      trainGflops: (3 * flops) / trainStepMs / 1e6,
    });
  }
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  const header = `| backend | model | forward ms/batch | fwd+bwd ms/batch | fwd+bwd / fwd | forward GFLOP/s | fwd+bwd GFLOP/s |`;
  const lines = [header, '| --- | --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of rows) {
    lines.push(
      `| ${r.backend} | ${r.model} | ${r.forwardMs.toFixed(0)} | ${r.trainStepMs.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.forwardGflops.toFixed(2)} | ${r.trainGflops.toFixed(2)} |`,
    );
  }
  const speedup = (model: string): string => {
    const w = rows.find((r) => r.backend.startsWith('wasm') && r.model === model);
    const c = rows.find((r) => r.backend === 'cpu' && r.model === model);
    return w && c ? `${(c.trainStepMs / w.trainStepMs).toFixed(1)}x` : 'n/a';
  };
  const wasmLabel = rows.find((r) => r.backend.startsWith('wasm'))?.backend ?? 'wasm';
  lines.push('', `${wasmLabel} fwd+bwd speed-up over cpu: teacher ${speedup('teacher')}, student ${speedup('student')}`);
  lines.push(`batch ${batch}, ${size}x${size} input, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), node ${process.version}, tfjs ${tf.version.tfjs}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

// Benchmark: how many cores the student's training steps use on their own, and what replicas stepping in parallel
// would add (the ceiling of data-parallel training: the gradient exchange is not included).
//
// Each replica is a child process (its own TensorFlow context) that trains the default student preset with the
// real objective (FL + ADL + L_loc, anchor targets from boxes, teacher probabilities) on fixed synthetic batches of
// batch ÷ replicas images. The replicas of a row run at the same time; the row reports their images per second
// together, the optimizer steps of the whole batch per second (the slowest replica's), and CPU ÷ wall of all of them.
//
//   node --import tsx bench/student_cores.ts [--batches 8,16] [--replicas 1,2] [--steps 40] [--json]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runSelf } from './run_self.ts';
import * as tf from '@tensorflow/tfjs';
import { generateAnchors } from '../src/boxes/anchors.ts';
import { initBackend } from '../src/backend/backend.ts';
import { buildDetector, disposeLayersModel } from '../src/model/detector.ts';
import { detectorAnchorConfig, PRESETS, resolveDetectorConfig } from '../src/model/detector_config.ts';
import { batchTensors, disposeTensorBatch, type PackedBatch } from '../src/train/packed_batch.ts';
import { ResumableAdam } from '../src/train/adam.ts';
import { DEFAULT_OBJECTIVE } from '../src/train/objective.ts';
import { trainStep } from '../src/train/step.ts';

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '8,16' },
    replicas: { type: 'string', default: '1,2' },
    steps: { type: 'string', default: '40' },
    size: { type: 'string', default: '128' },
    classes: { type: 'string', default: '4' },
    child: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const size = Number(values.size);
const classes = Number(values.classes);

interface ReplicaResult {
  batch: number;
  backend: string;
  wallSeconds: number;
  cpuSeconds: number;
}

/** One replica: warm-up steps, then `steps` timed steps on batches of `batch` images. */
async function replica(batch: number): Promise<ReplicaResult> {
  const backend = await initBackend(undefined);
  const config = resolveDetectorConfig({ ...PRESETS.student, numClasses: classes, inputSize: size });
  const detector = buildDetector(config, { seed: 1 });
  const optimizer = new ResumableAdam({ learningRate: 1e-3 });
  const anchors = generateAnchors(detectorAnchorConfig(config), size, size);
  const packed = (seed: number): PackedBatch => {
    const pixels = new Float32Array(batch * size * size * 3).map((_, i) => (i * 31 + seed * 97) % 256);
    const probs = new Float32Array(batch * anchors.numAnchors * classes).map((_, i) => ((i * 13 + seed) % 100) / 101 + 0.001);
    const hard = Array.from({ length: batch }, (_, i) => ({ boxes: [[8 + i, 10, 60 + seed, 90] as [number, number, number, number]], classIds: [i % classes] }));
    return { size: batch, inputSize: size, pixels, probs, hard, labeled: batch, unlabeled: 0 };
  };
  const step = async (seed: number): Promise<void> => {
    const b = batchTensors(packed(seed % 4), { anchors, numClasses: classes });
    try {
      await trainStep(detector, optimizer, b.images, b.targets, b.teacherProbs, DEFAULT_OBJECTIVE, { clipNorm: 10 });
    } finally {
      disposeTensorBatch(b);
    }
  };
  for (let i = 0; i < 3; i++) await step(i);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step(i);
  const cpu = process.cpuUsage(cpu0);
  const wallSeconds = (performance.now() - t0) / 1000;
  optimizer.dispose();
  disposeLayersModel(detector.model);
  tf.disposeVariables();
  return { batch, backend: backend.name, wallSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

function spawnReplica(batch: number): Promise<ReplicaResult> {
  return runSelf<ReplicaResult>(import.meta.url, ['--child', String(batch), '--steps', String(steps), '--size', String(size), '--classes', String(classes)], `replica (batch ${batch})`);
}

interface Row {
  batch: number;
  replicas: number;
  backend: string;
  /** Optimizer steps of the whole batch per second: every replica has to finish its share. */
  stepsPerSecond: number;
  imagesPerSecond: number;
  cores: number;
}

if (values.child !== undefined) {
  process.stdout.write(`${JSON.stringify(await replica(Number(values.child)))}\n`);
} else {
  const rows: Row[] = [];
  for (const batch of values.batches.split(',').map(Number)) {
    for (const replicas of values.replicas.split(',').map(Number)) {
      if (batch % replicas !== 0) throw new Error(`--batches ${batch} does not split into ${replicas} replicas`);
      process.stderr.write(`bench: batch ${batch} over ${replicas} replica(s), ${steps} steps (load average ${os.loadavg()[0].toFixed(1)})\n`);
      const results = await Promise.all(Array.from({ length: replicas }, () => spawnReplica(batch / replicas)));
      const wall = Math.max(...results.map((r) => r.wallSeconds));
      rows.push({
        batch,
        replicas,
        backend: results[0].backend,
        stepsPerSecond: steps / wall,
        imagesPerSecond: results.reduce((s, r) => s + (r.batch * steps) / r.wallSeconds, 0),
        cores: results.reduce((s, r) => s + r.cpuSeconds, 0) / wall,
      });
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else {
    const lines = ['| batch | replicas (images each) | steps/s | images/s | cores used (CPU ÷ wall) |', '| ---: | ---: | ---: | ---: | ---: |'];
    for (const r of rows) lines.push(`| ${r.batch} | ${r.replicas} (${r.batch / r.replicas}) | ${r.stepsPerSecond.toFixed(2)} | ${r.imagesPerSecond.toFixed(1)} | ${r.cores.toFixed(2)} |`);
    lines.push('', `student preset, ${size} px, ${classes} classes, backend ${rows[0]?.backend}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), node ${process.version}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}

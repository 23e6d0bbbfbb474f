// Benchmark: how many cores the student's training steps use on their own, what replicas stepping in parallel
// would add (the ceiling of data-parallel training: the gradient exchange is not included), and what the stage's
// trainer reaches with the exchange (src/train/trainer.ts: training threads, gradients averaged on the main thread).
//
// Ceiling rows: each replica is a child process (its own TensorFlow context) that trains the default student preset
// with the real objective (FL + ADL + L_loc, anchor targets from boxes, teacher probabilities) on fixed synthetic
// batches of batch ÷ replicas images. The replicas of a row run at the same time; the row reports their images per
// second together, the optimizer steps of the whole batch per second (the slowest replica's), and CPU ÷ wall of all
// of them. Trainer rows: one child process opens the stage's trainer (one training thread, or n data-parallel
// replicas) and steps it on the same batches, packing each one on its main thread as the stage does.
//
//   node --import tsx bench/student_cores.ts [--batches 8,16] [--replicas 1,2] [--steps 40] [--trainer] [--json]
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
import { openDetectorTrainer } from '../src/train/trainer.ts';

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '8,16' },
    replicas: { type: 'string', default: '1,2' },
    steps: { type: 'string', default: '40' },
    size: { type: 'string', default: '128' },
    classes: { type: 'string', default: '4' },
    child: { type: 'string' },
    'child-trainer': { type: 'string' },
    trainer: { type: 'boolean', default: false },
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

/** The default student, its optimizer and anchors, and fixed synthetic batches of `batch` images. */
function studentSetup(batch: number) {
  const config = resolveDetectorConfig({ ...PRESETS.student, numClasses: classes, inputSize: size });
  const detector = buildDetector(config, { seed: 1 });
  const optimizer = new ResumableAdam({ learningRate: 1e-3 });
  const anchors = generateAnchors(detectorAnchorConfig(config), size, size);
  const patterns = Array.from({ length: 4 }, (_, seed) => ({
    pixels: new Float32Array(batch * size * size * 3).map((_, i) => (i * 31 + seed * 97) % 256),
    probs: new Float32Array(batch * anchors.numAnchors * classes).map((_, i) => ((i * 13 + seed) % 100) / 101 + 0.001),
  }));
  /** A fresh batch (its arrays are copied, as the stage packs each batch from its samples). */
  const packed = (seed: number): PackedBatch => {
    const { pixels, probs } = patterns[seed % patterns.length];
    const hard = Array.from({ length: batch }, (_, i) => ({ boxes: [[8 + i, 10, 60 + (seed % 4), 90] as [number, number, number, number]], classIds: [i % classes] }));
    return { size: batch, inputSize: size, pixels: pixels.slice(), probs: probs.slice(), hard, labeled: batch, unlabeled: 0 };
  };
  const release = (): void => {
    optimizer.dispose();
    disposeLayersModel(detector.model);
    tf.disposeVariables();
  };
  return { detector, optimizer, anchors, packed, release };
}

/** Warm-up steps, then `steps` timed steps: wall and process CPU seconds of the timed ones. */
async function timed(step: (i: number) => Promise<unknown>): Promise<{ wallSeconds: number; cpuSeconds: number }> {
  for (let i = 0; i < 3; i++) await step(i);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step(i);
  const cpu = process.cpuUsage(cpu0);
  return { wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** One replica: warm-up steps, then `steps` timed steps on batches of `batch` images. */
async function replica(batch: number): Promise<ReplicaResult> {
  const backend = await initBackend(undefined);
  const { detector, optimizer, anchors, packed, release } = studentSetup(batch);
  const step = async (seed: number): Promise<void> => {
    const b = batchTensors(packed(seed % 4), { anchors, numClasses: classes });
    try {
      await trainStep(detector, optimizer, b.images, b.targets, b.teacherProbs, DEFAULT_OBJECTIVE, { clipNorm: 10 });
    } finally {
      disposeTensorBatch(b);
    }
  };
  const measured = await timed(step);
  release();
  return { batch, backend: backend.name, ...measured };
}

/** The stage's trainer over `replicas` training threads, stepping batches of `batch` images packed here. */
async function trainerRun(batch: number, replicas: number): Promise<ReplicaResult> {
  const backend = await initBackend(undefined);
  const { detector, optimizer, anchors, packed, release } = studentSetup(batch);
  const trainer = await openDetectorTrainer(detector, optimizer, { thread: true, replicas, anchors, objective: DEFAULT_OBJECTIVE, clipNorm: 10 });
  try {
    const measured = await timed((i) => trainer.step(packed(i), 1e-3));
    await trainer.sync();
    return { batch, backend: backend.name, ...measured };
  } finally {
    await trainer.close();
    release();
  }
}

function spawnReplica(batch: number): Promise<ReplicaResult> {
  return runSelf<ReplicaResult>(import.meta.url, ['--child', String(batch), '--steps', String(steps), '--size', String(size), '--classes', String(classes)], `replica (batch ${batch})`);
}

interface Row {
  batch: number;
  replicas: number;
  /** ceiling: replicas in separate processes, no exchange; trainer: the stage's trainer, exchange included. */
  kind: 'ceiling' | 'trainer';
  backend: string;
  /** Optimizer steps of the whole batch per second: every replica has to finish its share. */
  stepsPerSecond: number;
  imagesPerSecond: number;
  cores: number;
}

if (values.child !== undefined) {
  process.stdout.write(`${JSON.stringify(await replica(Number(values.child)))}\n`);
} else if (values['child-trainer'] !== undefined) {
  const [batch, replicas] = values['child-trainer'].split(':').map(Number);
  process.stdout.write(`${JSON.stringify(await trainerRun(batch, replicas))}\n`);
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
        kind: 'ceiling',
        backend: results[0].backend,
        stepsPerSecond: steps / wall,
        imagesPerSecond: results.reduce((s, r) => s + (r.batch * steps) / r.wallSeconds, 0),
        cores: results.reduce((s, r) => s + r.cpuSeconds, 0) / wall,
      });
      if (!values.trainer) continue;
      process.stderr.write(`bench: the stage's trainer, batch ${batch} over ${replicas} training thread(s), ${steps} steps (load average ${os.loadavg()[0].toFixed(1)})\n`);
      const args = ['--child-trainer', `${batch}:${replicas}`, '--steps', String(steps), '--size', String(size), '--classes', String(classes)];
      const run = await runSelf<ReplicaResult>(import.meta.url, args, `trainer (batch ${batch}, ${replicas} replicas)`);
      rows.push({ batch, replicas, kind: 'trainer', backend: run.backend, stepsPerSecond: steps / run.wallSeconds, imagesPerSecond: (batch * steps) / run.wallSeconds, cores: run.cpuSeconds / run.wallSeconds });
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else {
    const lines = ['| batch | replicas (images each) | how | steps/s | images/s | cores used (CPU ÷ wall) |', '| ---: | ---: | --- | ---: | ---: | ---: |'];
    const how = { ceiling: 'separate processes, no exchange', trainer: "the stage's trainer" };
    for (const r of rows) lines.push(`| ${r.batch} | ${r.replicas} (${r.batch / r.replicas}) | ${how[r.kind]} | ${r.stepsPerSecond.toFixed(2)} | ${r.imagesPerSecond.toFixed(1)} | ${r.cores.toFixed(2)} |`);
    lines.push('', `student preset, ${size} px, ${classes} classes, backend ${rows[0]?.backend}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), node ${process.version}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}

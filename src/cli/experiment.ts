// `distillery experiment`: the ablation table (teacher, labeled-only, +KL, +FDL, +ADL, +unlabeled ± filter) over seeds.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import pLimit from 'p-limit';
import { initBackend } from '../backend/backend.ts';
import { evaluateDetector } from '../eval/evaluate_detector.ts';
import {
  EXPERIMENT_ROWS,
  experimentRow,
  labelCorpus,
  rowStudentConfig,
  studentStageOf,
  summarizeRows,
  trainCell,
  type CellResult,
  type RowSummary,
} from '../experiment/experiment.ts';
import { readSampleRecords, writeSampleRecords, type SampleRecord } from '../experiment/samples_file.ts';
import { listAll, type ObjectStore } from '../io/object_store.ts';
import { buildDetector, disposeLayersModel } from '../model/detector.ts';
import { modelCost } from '../model/flops.ts';
import { loadDetector } from '../model/store_io.ts';
import { openStore } from '../runner/embedded.ts';
import { BUNDLED_TEACHER_DIR, ensureCorpus, ensureTeacher, formatBackend, resetIngestCursors, stageOf, timestampId, unlabeledTruth } from '../runner/main_job.ts';
import { loadTopology } from '../topology/index.ts';
import type { DetectorConfig } from '../model/detector_config.ts';
import { loadCocoDataset } from '../train/dataset.ts';
import { createLogger } from '../util/logger.ts';
import { DEFAULT_TOPOLOGY } from './run.ts';
import type { TrainCommandIo } from './train.ts';
import { nonNegativeInteger, positiveInteger } from './args.ts';

interface ExperimentFlags {
  topology: string;
  steps: number;
  seeds: number;
  firstSeed: number;
  jobs: number;
  rows?: string;
  out?: string;
  samples?: string;
  evalEvery: number;
  set?: string[];
}

interface CellFlags {
  topology: string;
  samples: string;
  row: string;
  seed: number;
  steps: number;
  evalEvery: number;
  result: string;
  set?: string[];
}

/** Everything the table and docs/results.md need, also written as results.json. */
export interface ExperimentReport {
  command: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; backend: string; jobs: number };
  steps: number;
  seeds: number[];
  teacher: { AP: number; AP50: number; flopsPerImage: number; seconds: number };
  /** FLOPs per image of the topology's student, and of each row's when a row uses another preset. */
  student: { flopsPerImage: number; byRow?: Record<string, number> };
  labeling: { seconds: number; images: number; labeled: number; unlabeled: number; unlabeledKept: number; emptyKept?: [number, number]; nonEmptyKept?: [number, number] };
  rows: RowSummary[];
  cells: CellResult[];
  seconds: number;
}

export function experimentCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const command = new Command('experiment')
    .description('the SAD ablation on the shapes benchmark: each student row over several seeds; prints a markdown table and writes results.json')
    .option('--topology <file>', 'topology YAML (corpus splits, teacher, student settings)', DEFAULT_TOPOLOGY)
    .option('--steps <n>', 'student steps per run', positiveInteger, 1000)
    .option('--seeds <n>', 'seeds per row', positiveInteger, 3)
    .option('--first-seed <n>', 'seeds are first-seed, first-seed + 1, …', positiveInteger, 1)
    .option('--jobs <n>', 'student runs in parallel, one process each (1 wasm thread each when > 1)', positiveInteger, 2)
    .option('--rows <ids>', `comma-separated subset of ${EXPERIMENT_ROWS.map((r) => r.id).join(', ')}`)
    .option('--out <dir>', 'where results.json, results.md and the labeled samples go [runs/experiment-<timestamp>]')
    .option('--samples <file>', 'reuse the samples.bin of an earlier experiment (same corpus and teacher) instead of labeling again')
    .option('--eval-every <n>', 'also evaluate every n steps: the AP-over-steps curve in results.json (0 = only at the end)', nonNegativeInteger, 0)
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (flags: ExperimentFlags) => {
      await runExperiment(flags, io);
    });
  return command;
}

/** One (row, seed) run in its own process; the parent spawns these. Hidden from the help. */
export function experimentCellCommand(): Command {
  return new Command('experiment-cell')
    .description('(internal) one student run of `distillery experiment`')
    .requiredOption('--topology <file>', 'topology YAML')
    .requiredOption('--samples <file>', 'samples file written by the experiment')
    .requiredOption('--row <id>', 'experiment row')
    .requiredOption('--seed <n>', 'student seed', positiveInteger)
    .requiredOption('--steps <n>', 'student steps', positiveInteger)
    .requiredOption('--result <file>', 'where to write the JSON result')
    .option('--eval-every <n>', 'also evaluate every n steps', nonNegativeInteger, 0)
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (flags: CellFlags) => {
      const topology = await loadTopology(flags.topology, { overrides: flags.set });
      await initBackend(topology.backend, { reason: topology.backendReason });
      const store = openStore(topology);
      const records = await readSampleRecords(flags.samples);
      const row = experimentRow(flags.row);
      const prefix = `experiments/${path.basename(path.dirname(flags.samples))}/${row.id}-seed${flags.seed}`;
      const logger = createLogger({ level: process.env.DISTILLERY_LOG_LEVEL ?? 'warn' });
      const result = await trainCell({ topology, store, records, row, seed: flags.seed, steps: flags.steps, evalEvery: flags.evalEvery, checkpointPrefix: prefix, logger });
      await removePrefix(store, prefix);
      await writeFile(flags.result, `${JSON.stringify(result)}\n`);
    });
}

async function runExperiment(flags: ExperimentFlags, io: TrainCommandIo): Promise<ExperimentReport> {
  const started = performance.now();
  const logger = createLogger({ level: process.env.DISTILLERY_LOG_LEVEL ?? 'warn' });
  const topology = await loadTopology(flags.topology, { overrides: flags.set });
  const rows = flags.rows ? flags.rows.split(',').map((id) => experimentRow(id.trim())) : [...EXPERIMENT_ROWS];
  const seeds = Array.from({ length: flags.seeds }, (_, i) => flags.firstSeed + i);
  const out = flags.out ?? path.join('runs', `experiment-${timestampId(new Date())}`);
  await mkdir(out, { recursive: true });
  studentStageOf(topology);

  const backend = await initBackend(topology.backend, { reason: topology.backendReason });
  io.stderr.write(`${formatBackend(backend)}\n`);
  io.stdout.write(`experiment: ${rows.length} student rows × ${seeds.length} seeds (${seeds.join(', ')}), ${flags.steps} steps each, ${flags.jobs} at a time → ${out}\n`);
  const store = openStore(topology);
  await ensureCorpus(store, {}, io);
  const teacherStage = stageOf(topology, 'teacher');
  await ensureTeacher(store, teacherStage.options.checkpoint, BUNDLED_TEACHER_DIR, flags.topology);
  await resetIngestCursors(topology, store, io);

  // Teacher row: the bundled checkpoint on the test split (one model, so no spread).
  const student = studentStageOf(topology);
  const testSet = await loadCocoDataset(store, student.options.evalAnnotations, { inputSize: topology.teacher.inputSize, logger });
  const teacherModel = await loadDetector(store, teacherStage.options.checkpoint);
  const t0 = performance.now();
  const thresholds = topology.thresholds;
  const teacherEval = await evaluateDetector(teacherModel, testSet, {
    postprocess: { scoreThreshold: thresholds.candidate, topKPerLevel: thresholds.topKPerLevel, nmsIou: thresholds.nmsIou, maxDetections: thresholds.maxDetections },
  });
  const teacherFlops = modelCost(teacherModel.model).flopsPerImage;
  disposeLayersModel(teacherModel.model);
  io.stdout.write(`teacher: AP ${teacherEval.metrics.AP.toFixed(3)} AP50 ${teacherEval.metrics.AP50.toFixed(3)} on ${testSet.images.length} test images\n`);

  // Label once, filter off (or reuse an earlier experiment's labels).
  let labeling: { records: SampleRecord[]; seconds: number };
  const samplesFile = path.join(out, 'samples.bin');
  if (flags.samples) {
    io.stderr.write(`reusing the teacher's samples of ${flags.samples}\n`);
    labeling = { records: await readSampleRecords(flags.samples), seconds: 0 };
  } else {
    io.stderr.write('labeling the labeled and unlabeled splits with the teacher (filter off) …\n');
    let lastLog = 0;
    labeling = await labelCorpus(topology, store, logger, (c) => {
      if (performance.now() - lastLog < 10_000) return;
      lastLog = performance.now();
      io.stderr.write(`  teacher: ${c.consumed ?? 0} images\n`);
    });
  }
  await writeSampleRecords(samplesFile, labeling.records);
  const unlabeled = labeling.records.filter((r) => r.split === 'unlabeled');
  const kept = unlabeled.filter((r) => r.hard > 0);
  const labelingSummary: ExperimentReport['labeling'] = {
    seconds: labeling.seconds,
    images: labeling.records.length,
    labeled: labeling.records.filter((r) => r.split === 'labeled').length,
    unlabeled: unlabeled.length,
    unlabeledKept: kept.length,
  };
  const unlabeledIngest = topology.stages.filter((s) => s.kind === 'ingest' && s.options.split === 'unlabeled');
  const truth = await unlabeledTruth(
    store,
    unlabeledIngest.map((s) => (s.kind === 'ingest' && s.options.annotations) || `${path.posix.dirname(s.kind === 'ingest' ? s.options.prefix.replace(/\/$/, '') : '')}/annotations.json`),
  );
  if (truth.size > 0) {
    const empty = unlabeled.filter((r) => truth.get(r.objectKey) === 0);
    const nonEmpty = unlabeled.filter((r) => (truth.get(r.objectKey) ?? 0) > 0);
    labelingSummary.emptyKept = [empty.filter((r) => r.hard > 0).length, empty.length];
    labelingSummary.nonEmptyKept = [nonEmpty.filter((r) => r.hard > 0).length, nonEmpty.length];
  }
  io.stdout.write(
    `labeled ${labelingSummary.images} images in ${labeling.seconds.toFixed(0)} s; the filter keeps ${kept.length} of ${unlabeled.length} unlabeled (${pct(kept.length, unlabeled.length)})\n`,
  );

  // Student cells, `jobs` processes at a time.
  const limit = pLimit(flags.jobs);
  const cells: CellResult[] = [];
  const total = rows.length * seeds.length;
  const jobs = rows.flatMap((row) => seeds.map((seed) => ({ row, seed })));
  await Promise.all(
    jobs.map(({ row, seed }) =>
      limit(async () => {
        const resultFile = path.join(out, `${row.id}-seed${seed}.json`);
        await runCellProcess(flags, samplesFile, row.id, seed, resultFile, flags.jobs > 1);
        const cell = JSON.parse(await readFile(resultFile, 'utf8')) as CellResult;
        cells.push(cell);
        io.stdout.write(`[${cells.length}/${total}] ${row.id} seed ${seed}: AP ${cell.AP.toFixed(3)} AP50 ${cell.AP50.toFixed(3)} (${cell.seconds.toFixed(0)} s)\n`);
      }),
    ),
  );

  const cpus = os.cpus();
  const report: ExperimentReport = {
    command: `npm run experiment -- ${process.argv.slice(3).join(' ')}`.trim(),
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, backend: backend.name, jobs: flags.jobs },
    steps: flags.steps,
    seeds,
    teacher: { AP: teacherEval.metrics.AP, AP50: teacherEval.metrics.AP50, flopsPerImage: teacherFlops, seconds: (performance.now() - t0) / 1000 },
    student: {
      flopsPerImage: studentFlops(topology.student),
      byRow: Object.fromEntries(rows.filter((r) => r.preset !== undefined).map((r) => [r.id, studentFlops(rowStudentConfig(topology, r))])),
    },
    labeling: labelingSummary,
    rows: summarizeRows(cells),
    cells: [...cells].sort((a, b) => a.row.localeCompare(b.row) || a.seed - b.seed),
    seconds: (performance.now() - started) / 1000,
  };
  await writeFile(path.join(out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  const table = formatExperimentTable(report);
  await writeFile(path.join(out, 'results.md'), `${table}\n`);
  io.stdout.write(`\n${table}\n\nwritten: ${path.join(out, 'results.json')}, ${path.join(out, 'results.md')} (${(report.seconds / 60).toFixed(1)} min)\n`);
  return report;
}

/** FLOPs per image of a student (the cost does not depend on the weights). */
function studentFlops(config: DetectorConfig): number {
  const detector = buildDetector(config, { seed: 0 });
  try {
    return modelCost(detector.model).flopsPerImage;
  } finally {
    disposeLayersModel(detector.model);
  }
}

/** The markdown table of docs/results.md. */
export function formatExperimentTable(r: ExperimentReport): string {
  const f = (x: { mean: number; std: number }): string => `${x.mean.toFixed(3)} ± ${x.std.toFixed(3)}`;
  const lines = [
    `| model | AP | AP50 | unlabeled images used | train time / run | MFLOPs / image |`,
    `|---|---|---|---|---|---|`,
    `| teacher (bundled checkpoint, one model) | ${r.teacher.AP.toFixed(3)} | ${r.teacher.AP50.toFixed(3)} | — | — | ${(r.teacher.flopsPerImage / 1e6).toFixed(1)} |`,
  ];
  for (const s of r.rows) {
    const used = s.row.unlabeled === 'none' ? '0' : `${s.unlabeledSamples} of ${r.labeling.unlabeled} (${pct(s.unlabeledSamples, r.labeling.unlabeled)})`;
    const flops = r.student.byRow?.[s.row.id] ?? r.student.flopsPerImage;
    lines.push(`| ${s.row.title} | ${f(s.AP)} | ${f(s.AP50)} | ${used} | ${s.seconds.mean.toFixed(0)} s | ${(flops / 1e6).toFixed(1)} |`);
  }
  const l = r.labeling;
  const truth =
    l.emptyKept && l.nonEmptyKept
      ? ` By the corpus's hidden truth it kept ${l.emptyKept[0]} of ${l.emptyKept[1]} empty images (${pct(...l.emptyKept)}) and ${l.nonEmptyKept[0]} of ${l.nonEmptyKept[1]} with objects (${pct(...l.nonEmptyKept)}).`
      : '';
  return [
    ...lines,
    '',
    `Students: mean ± sample std over seeds ${r.seeds.join(', ')}, ${r.steps} steps each, AP/AP50 on the test split (COCO, pycocotools-exact).`,
    `Filter (τ = hard-label threshold): kept ${l.unlabeledKept} of ${l.unlabeled} unlabeled images (${pct(l.unlabeledKept, l.unlabeled)}).${truth}`,
    `Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}, backend ${r.machine.backend}, ${r.machine.jobs} runs in parallel. Total ${(r.seconds / 60).toFixed(1)} min.`,
  ].join('\n');
}

function pct(a: number, b: number): string {
  return b > 0 ? `${((100 * a) / b).toFixed(1)}%` : 'n/a';
}

async function removePrefix(store: ObjectStore, prefix: string): Promise<void> {
  for await (const o of listAll(store, `${prefix}/`)) await store.delete(o.key);
}

const BIN = fileURLToPath(new URL('../../bin/distillery.js', import.meta.url));

/** Runs one cell as a child process, forwarding its stderr; rejects with its exit code and last lines on failure. */
function runCellProcess(flags: ExperimentFlags, samples: string, row: string, seed: number, result: string, singleThread: boolean): Promise<void> {
  const args = [BIN, 'experiment-cell', '--topology', flags.topology, '--samples', samples, '--row', row, '--seed', String(seed), '--steps', String(flags.steps), '--eval-every', String(flags.evalEvery), '--result', result];
  for (const s of flags.set ?? []) args.push('--set', s);
  const env = { ...process.env, ...(singleThread ? { DISTILLERY_WASM_THREADS: '1' } : {}) };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`experiment cell ${row} seed ${seed} failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
  });
}


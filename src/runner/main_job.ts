// The main job: corpus → teacher → embedded pipeline (distilled student) → labeled-only baseline → evaluation → run report.
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import cliProgress from 'cli-progress';
import { initBackend, type BackendInfo } from '../backend/backend.ts';
import { generateCorpus, manifestKey, readCorpusManifest, splitKeys, SPLITS, type CorpusManifest, type CorpusOptions } from '../corpus/index.ts';
import { cursorKey } from '../stages/ingest/cursor.ts';
import { COCO_STAT_NAMES, type CocoMetrics } from '../eval/coco_eval.ts';
import type { CocoGroundTruth } from '../eval/coco_types.ts';
import { evaluateDetector } from '../eval/evaluate_detector.ts';
import { joinKey, type ObjectStore } from '../io/object_store.ts';
import { decodeRejection } from '../messages/index.ts';
import { disposeLayersModel, type Detector } from '../model/detector.ts';
import type { PresetName } from '../model/detector_config.ts';
import { modelCost } from '../model/flops.ts';
import type { Observability } from '../observability/stage_observer.ts';
import { loadDetector } from '../model/store_io.ts';
import type { Detection } from '../postprocess/detections.ts';
import { formatSummaryTable, writeReport, type CocoStats, type FilterStats, type GridImage, type ModelReport, type ReportBox, type RunReport, type StudentInitReport, type TrainingHistory } from '../report/index.ts';
import type { StageCounters } from '../stages/stage.ts';
import type { StudentRunningStage } from '../stages/student/run_student.ts';
import { checkTeacherFits } from '../stages/teacher/teacher_model.ts';
import { describeTopology, loadTopology, STUDENT_PEAK_LEARNING_RATES, type Env } from '../topology/index.ts';
import type { CompiledTopology, StageConfig } from '../topology/types.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { savedModelDir } from '../train/init_from.ts';
import { loadCocoDataset, type DetectionDataset } from '../train/dataset.ts';
import { planTraining, runTraining, type TrainCommandIo } from '../cli/train.ts';
import { waitForMessages } from '../transport/transport.ts';
import type { MemoryTransport } from '../transport/memory.ts';
import { createLogger, type Logger } from '../util/logger.ts';
import { openStore, runEmbedded } from './embedded.ts';
import { formatPipelineUse, pipelineUse } from './pipeline_use.ts';

/** Store prefix of the default corpus the main job generates when the store has none. */
export const CORPUS_PREFIX = 'corpus';
/** The teacher shipped with the package (model.json + shards), copied into the store when it has none. */
export const BUNDLED_TEACHER_DIR = fileURLToPath(new URL('../../models/teacher/', import.meta.url));
/** The store key the bundled teacher is copied to: the teacher checkpoint the shipped topologies name. */
export const BUNDLED_TEACHER_KEY = 'models/teacher';
/** Test images drawn in the report's grid. */
export const GRID_IMAGES = 8;
/** Without a TTY, one progress line per this many milliseconds. */
const LOG_INTERVAL_MS = 10_000;

/**
 * Where the distilled student's weights start: random, the labeled-only baseline of the same run (trained first), or a
 * saved model of the student's architecture (`{ model: <store prefix> }`, e.g. an earlier run's baseline or student).
 */
export const STUDENT_INITS = ['random', 'baseline'] as const;
export type StudentInit = (typeof STUDENT_INITS)[number] | { model: string };

/** `random`, `baseline`, or any other text as the store prefix of a saved model (`--student-init`). */
export function parseStudentInit(text: string): StudentInit {
  const value = text.trim();
  if (value === '') throw new Error("--student-init needs 'random', 'baseline' or the store prefix of a saved model");
  return (STUDENT_INITS as readonly string[]).includes(value) ? (value as (typeof STUDENT_INITS)[number]) : { model: value.replace(/\/+$/, '') };
}
/** The baseline start gave the higher distilled AP in the main job (docs/results.md, "Student initialised from the labeled-only baseline"). */
export const DEFAULT_STUDENT_INIT: StudentInit = 'baseline';
/**
 * Peak learning rate of the student the main job starts from the baseline (or a saved model), unless the topology sets
 * initLearningRate: its preset's peak (STUDENT_PEAK_LEARNING_RATES), whatever the stage's own learningRate. For the
 * default student, from the same seed-1 baseline, distilled AP at peaks 2e-3 / 4e-3 / 6e-3 / 8e-3 / 1.2e-2 / 1.6e-2 was
 * 0.155 / 0.217 / 0.237 / 0.260 / 0.241 / 0.161 (one run each; earlier, 1e-3 gave 0.096 and 3e-4 0.065): docs/results.md,
 * "The learning rates: above 2e-3 for the distilled student, and for the baseline too". student-large: 4e-3 ("`student-large`
 * at its own learning rate").
 */
export function baselineStartLearningRate(preset: PresetName = 'student'): number {
  return STUDENT_PEAK_LEARNING_RATES[preset];
}

export interface MainJobOptions {
  /** Topology YAML file. */
  topologyFile: string;
  /** `path=value` overrides (`--set`). */
  overrides?: readonly string[];
  /** Student steps (shorthand for `--set stages.<student>.options.steps=N`); the baseline trains as many. */
  steps?: number;
  /** Names the run's student checkpoints, baseline and report folder (default: DISTILLERY_RUN_ID, else a timestamp). */
  runId?: string;
  /** Train and evaluate the labeled-only baseline (default true). */
  baseline?: boolean;
  /** 'baseline': train the baseline first and start the distilled student from it (default DEFAULT_STUDENT_INIT). */
  studentInit?: StudentInit;
  /** Variables for the topology (default process.env); DISTILLERY_RUN_ID is set to the run id on top. */
  env?: Env;
  /** Store to use instead of the topology's (tests). */
  store?: ObjectStore;
  /** Corpus generated when the store has none (default: the standard benchmark under `corpus/`). */
  corpus?: Omit<CorpusOptions, 'prefix' | 'ifExists' | 'onProgress'>;
  /** Where the bundled teacher lives (default: the package's `models/teacher/`). */
  bundledTeacherDir?: string;
  io?: TrainCommandIo;
  logger?: Logger;
  signal?: AbortSignal;
  /** The process's metrics and health (the CLI serves them); the pipeline's stages report into them. */
  observability?: Observability;
}

export interface MainJobResult {
  runId: string;
  runDir: string;
  report: RunReport;
  paths: { html: string; metrics: string };
  /** The text printed at the end. */
  summary: string;
}

/** Runs the whole job and writes `<runDir>/report.html` and `metrics.json`. */
export async function runMainJob(options: MainJobOptions): Promise<MainJobResult> {
  const io = options.io ?? { stdout: process.stdout, stderr: process.stderr };
  const logger = options.logger ?? createLogger({ level: process.env.DISTILLERY_LOG_LEVEL ?? 'warn' });
  const started = new Date();
  const runId = options.runId ?? (options.env ?? process.env).DISTILLERY_RUN_ID ?? timestampId(started);
  if (!/^[A-Za-z0-9._-]+$/.test(runId)) throw new Error(`run id '${runId}' must use letters, digits, '.', '_' or '-' only`);
  const env: Env = { ...(options.env ?? process.env), DISTILLERY_RUN_ID: runId };

  const baselinePrefix = `runs/${runId}/baseline`;
  const compiled = await compileWithSteps(options.topologyFile, env, options.overrides ?? [], options.steps, undefined);
  const studentInit = chooseStudentInit(options.studentInit, stageOf(compiled, 'student').options.steps, options.baseline ?? true);
  const initPrefix = studentInit === 'baseline' ? baselinePrefix : typeof studentInit === 'object' ? studentInit.model : undefined;
  const topology = initPrefix !== undefined ? await compileWithSteps(options.topologyFile, env, options.overrides ?? [], options.steps, initPrefix) : compiled;
  const student = stageOf(topology, 'student');
  const teacher = stageOf(topology, 'teacher');
  const labeledStage = topology.stages.find((s) => s.kind === 'ingest' && s.options.split === 'labeled');
  const labeledKey = labeledStage?.kind === 'ingest' ? labeledStage.options.annotations : undefined;
  if (!labeledKey) throw new Error(`${topology.source}: the main job needs an ingest stage with split: labeled and annotations`);

  const backend = await initBackend(topology.backend, { reason: topology.backendReason });
  logger.info({ backend }, 'backend ready');
  io.stderr.write(`${formatBackend(backend)}\n`);
  io.stdout.write(`${describeTopology(topology)}\n\nrun ${runId}\n`);

  const store = options.store ?? openStore(topology);
  if (typeof studentInit === 'object' && (await savedModelDir(store, studentInit.model)) === undefined) {
    throw new Error(`--student-init ${studentInit.model}: no saved model there in ${store.describe()} (neither model.json nor a checkpoint's latest.json)`);
  }
  const manifest = await ensureCorpus(store, options.corpus ?? {}, io);
  await ensureTeacher(store, teacher.options.checkpoint, options.bundledTeacherDir ?? BUNDLED_TEACHER_DIR, options.topologyFile);
  // Before the baseline's minutes, not after them: the teacher must fit the topology (its model.json, no weights read).
  await checkTeacherFits(store, teacher.options.checkpoint, topology).catch((err: unknown) => {
    throw new Error(
      `${(err as Error).message} (the main job copies the bundled teacher only into a store without one, so a store seeded by an ` +
        'earlier version may hold an earlier bundled teacher: delete its model folder and the main job copies the current one)',
      { cause: err },
    );
  });

  const testSet = await loadCocoDataset(store, student.options.evalAnnotations, { inputSize: topology.student.inputSize, logger, signal: options.signal });
  const gridIds = testSet.images.slice(0, GRID_IMAGES).map((im) => im.id);
  const evalOptions = {
    postprocess: {
      scoreThreshold: topology.thresholds.candidate,
      topKPerLevel: topology.thresholds.topKPerLevel,
      nmsIou: topology.thresholds.nmsIou,
      maxDetections: topology.thresholds.maxDetections,
    },
    signal: options.signal,
  };
  const evaluate = async (detector: Detector, name: string): Promise<Evaluated> => {
    io.stderr.write(`evaluating the ${name} on ${testSet.images.length} test images\n`);
    const result = await evaluateDetector(detector, testSet, evalOptions);
    const cost = modelCost(detector.model);
    const boxes = new Map(gridIds.map((id) => [id, toReportBoxes(result.detections.get(id) ?? [])]));
    return { model: { name: detector.config.name, parameters: cost.parameters, flopsPerImage: cost.flopsPerImage, metrics: cocoStats(result.metrics) }, boxes };
  };
  // Saved under the run (resumable: a rerun with the same run id continues it), then evaluated like the others.
  const trainBaseline = async (steps: number): Promise<{ evaluated: Evaluated; history: TrainingHistory }> => {
    const plan = {
      ...planTraining(topology, 'student', { topology: options.topologyFile, labeledOnly: true, out: baselinePrefix, steps, resume: true }),
      store,
    };
    const trained = await runTraining(plan, { stdout: io.stderr, stderr: io.stderr }, { signal: options.signal, logger });
    if (trained.stopped) {
      disposeLayersModel(trained.detector.model);
      throw new Error('stopped before the run finished; the baseline checkpoint is kept');
    }
    return { history: historyOf(trained.history), evaluated: await usingDetector(trained.detector, () => evaluate(trained.detector, 'baseline student')) };
  };

  // Trained first when the student starts from it (the same steps either way, so the job takes as long).
  let baselineRun: { evaluated: Evaluated; history: TrainingHistory } | undefined;
  if (studentInit === 'baseline') {
    io.stderr.write(`training the labeled-only baseline first (${student.options.steps} steps): the distilled student starts from it\n`);
    baselineRun = await trainBaseline(student.options.steps);
  }

  await resetIngestCursors(topology, store, io);
  const pipeline = await runPipeline(topology, store, io, logger, expectedImages(topology, manifest), options.signal, options.observability);
  let transport: MemoryTransport | undefined = pipeline.transport;
  try {
    if (pipeline.stoppedBy === 'signal') throw new Error('stopped before the run finished; the student checkpoint is kept');
    const use = formatPipelineUse(pipelineUse(topology, pipeline), os.availableParallelism());
    io.stderr.write(`${use}\n`);
    logger.info({ use: pipelineUse(topology, pipeline) }, 'pipeline finished');
    const filter = await filterStats(topology, store, pipeline.transport, pipeline.counters);
    await pipeline.transport.close();
    transport = undefined;
    const trainedSteps = pipeline.counters[student.name]?.steps ?? student.options.steps;

    const teacherModel = await loadDetector(store, teacher.options.checkpoint);
    const teacherEval = await usingDetector(teacherModel, () => evaluate(teacherModel, 'teacher'));

    const checkpoint = await loadCheckpoint(store, student.options.checkpointPrefix);
    if (!checkpoint) throw new Error(`the student wrote no checkpoint under ${store.describe()}/${student.options.checkpointPrefix}`);
    const distilledEval = await usingDetector(checkpoint.detector, () => evaluate(checkpoint.detector, 'distilled student'));
    const runningStudent = pipeline.stages.find((s): s is StudentRunningStage => s.name === student.name && 'history' in s);
    const distilledHistory = historyOf(runningStudent?.history ?? checkpoint.state.history);

    let baselineEval: Evaluated;
    let baselineHistory: TrainingHistory = { steps: [], evals: [] };
    if (baselineRun === undefined && (options.baseline ?? true)) baselineRun = await trainBaseline(trainedSteps);
    if (baselineRun !== undefined) {
      baselineHistory = baselineRun.history;
      baselineEval = baselineRun.evaluated;
    } else {
      io.stderr.write('baseline skipped (--no-baseline): its row shows n/a\n');
      baselineEval = { model: { name: 'skipped', parameters: distilledEval.model.parameters, flopsPerImage: distilledEval.model.flopsPerImage, metrics: missingStats() }, boxes: new Map() };
    }

    const grid = await buildGrid(store, testSet, gridIds, { teacher: teacherEval.boxes, baseline: baselineEval.boxes, distilled: distilledEval.boxes });
    const finished = new Date();
    const report: RunReport = {
      runId,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationSeconds: (finished.getTime() - started.getTime()) / 1000,
      machine: {
        cores: os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        node: process.version,
        backend: tf.getBackend(),
        threads: backend.threads,
        platform: `${process.platform} ${process.arch}`,
      },
      topology: { name: topology.name, description: topology.description },
      corpus: corpusSummary(manifest),
      filter,
      models: {
        teacher: teacherEval.model,
        baseline: { ...baselineEval.model, history: baselineHistory },
        distilled: { ...distilledEval.model, history: distilledHistory, init: studentInitOf(checkpoint.state.extra?.initFrom, baselinePrefix) },
      },
      grid,
    };
    const paths = await writeReport(topology.runDir, report);
    const summary = `${formatSummaryTable(report)}\n\n${use}\nreport: ${paths.html}\nmetrics: ${paths.metrics}\n`;
    io.stdout.write(`\n${summary}`);
    return { runId, runDir: topology.runDir, report, paths, summary };
  } finally {
    await transport?.close();
  }
}

/**
 * Compiles the topology, turning `steps` and `initFrom` into overrides of the student stage (whatever its name); a student
 * started from the baseline also gets baselineStartLearningRate unless the topology (or --set) gives initLearningRate.
 */
export async function compileWithSteps(file: string, env: Env, overrides: readonly string[], steps: number | undefined, initFrom: string | undefined): Promise<CompiledTopology> {
  const first = await loadTopology(file, { env, overrides });
  if (steps === undefined && initFrom === undefined) return first;
  const { name, options } = stageOf(first, 'student');
  const student = [
    ...(steps === undefined ? [] : [`steps=${steps}`]),
    ...(initFrom === undefined ? [] : [`initFrom=${initFrom}`]),
    ...(initFrom === undefined || options.initLearningRate !== undefined ? [] : [`initLearningRate=${baselineStartLearningRate(first.studentPreset)}`]),
  ];
  return loadTopology(file, { env, overrides: [...overrides, ...student.map((o) => `stages.${name}.options.${o}`)] });
}

/** The asked-for start, checked; by default DEFAULT_STUDENT_INIT where it applies (a baseline and a step budget), else random. */
export function chooseStudentInit(requested: StudentInit | undefined, steps: number, baseline: boolean): StudentInit {
  if (requested === 'baseline') {
    if (!baseline) throw new Error('the student cannot start from the baseline without one: drop --no-baseline or use --student-init random');
    if (steps === 0) throw new Error("--student-init baseline trains the baseline before the student, so it needs the student's step budget: pass --steps N (a continuous student has none)");
  }
  return requested ?? (baseline && steps > 0 ? DEFAULT_STUDENT_INIT : 'random');
}

/** How the report names the distilled student's start: the run's baseline, another saved model, or random weights. */
function studentInitOf(initFrom: unknown, baselinePrefix: string): StudentInitReport {
  // The checkpoint's record, not the topology's option: a resumed student kept the start of its first run.
  if (typeof initFrom !== 'string') return { from: 'random' };
  return { from: initFrom === baselinePrefix ? 'baseline' : 'model', key: initFrom };
}

export function stageOf<K extends StageConfig['kind']>(topology: CompiledTopology, kind: K): Extract<StageConfig, { kind: K }> {
  const stages = topology.stages.filter((s): s is Extract<StageConfig, { kind: K }> => s.kind === kind);
  if (stages.length !== 1) throw new Error(`${topology.source}: the main job needs exactly one ${kind} stage, found ${stages.length}`);
  return stages[0];
}

export function timestampId(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export function formatBackend(b: BackendInfo): string {
  const extra =
    b.name === 'wasm'
      ? `, simd ${b.simd ? 'on' : 'off'}, ${b.threads} thread${b.threads === 1 ? '' : 's'}`
      : b.tensorflow !== undefined
        ? `, TensorFlow ${b.tensorflow.version} on ${b.tensorflow.gpu ? 'GPU' : 'CPU'}`
        : '';
  const warnings = b.warnings.length > 0 ? ` (warnings: ${b.warnings.join('; ')})` : '';
  return `backend ${b.name} (${b.reason}; ${b.package}, tfjs ${b.tfjsVersion}${extra})${warnings}`;
}

/** Reuses the corpus under `corpus/` when its manifest exists, else generates the default one. */
export async function ensureCorpus(store: ObjectStore, corpus: NonNullable<MainJobOptions['corpus']>, io: TrainCommandIo): Promise<CorpusManifest> {
  const existing = await readCorpusManifest(store, CORPUS_PREFIX);
  if (existing) {
    io.stderr.write(`corpus: reusing ${store.describe()}/${manifestKey(CORPUS_PREFIX)}\n`);
    return existing;
  }
  io.stderr.write(`corpus: none at ${store.describe()}/${manifestKey(CORPUS_PREFIX)}; generating it\n`);
  const progress = countProgress(io, 'corpus', 'images');
  try {
    return await generateCorpus(store, { ...corpus, prefix: CORPUS_PREFIX, ifExists: 'reuse', onProgress: (done, total) => progress.update(done, total) });
  } finally {
    progress.stop();
  }
}

/**
 * Copies the bundled teacher (model.json + weight shards) into the store when the store has none at
 * BUNDLED_TEACHER_KEY. Any other missing checkpoint is an error: seeding it with the bundled teacher would run a
 * misspelt or not yet trained checkpoint as the bundled one under its name.
 */
export async function ensureTeacher(store: ObjectStore, prefix: string, bundled: string, topologyFile: string): Promise<void> {
  if ((await store.head(joinKey(prefix, 'model.json'))) !== undefined) return;
  const key = prefix.replace(/^\/+|\/+$/g, '');
  if (key !== BUNDLED_TEACHER_KEY) {
    throw new Error(
      `no teacher at ${store.describe()}/${key}/model.json (the teacher stage's checkpoint); the bundled teacher is copied only to ` +
        `${BUNDLED_TEACHER_KEY}: check the key, or train one there with \`distillery train teacher --topology ${topologyFile} --out ${key}\``,
    );
  }
  let files: string[];
  try {
    files = (await readdir(bundled)).filter((f) => f === 'model.json' || /^group\d+-shard\d+of\d+\.bin$/.test(f));
  } catch {
    files = [];
  }
  if (!files.includes('model.json')) {
    throw new Error(
      `no teacher at ${store.describe()}/${prefix}/model.json and none bundled in ${bundled}; train one with \`distillery train teacher --topology ${topologyFile}\``,
    );
  }
  // Shards first, model.json last: its presence means the copy is complete.
  for (const f of [...files.filter((x) => x !== 'model.json'), 'model.json']) {
    await store.put(joinKey(prefix, f), new Uint8Array(await readFile(path.join(bundled, f))));
  }
}

/**
 * Every run is one full pass over the corpus. The ingest stages keep their listing position in the store
 * (made for a durable transport); with the in-memory topics of the embedded runner the messages of an earlier
 * run are gone, so a leftover cursor would only make this run skip images (all of them, on a second run).
 * embedded.yaml keeps the cursors under the run (`cursorPrefix`), so only a rerun of the same run id finds one, and
 * two runs at once on one store do not clear or move each other's.
 */
export async function resetIngestCursors(topology: CompiledTopology, store: ObjectStore, io: TrainCommandIo): Promise<void> {
  for (const stage of topology.stages.filter((s) => s.kind === 'ingest')) {
    const key = cursorKey(stage.name, stage.options.cursorPrefix);
    if ((await store.head(key)) === undefined) continue;
    await store.delete(key);
    io.stderr.write(`ingest: cleared ${key} of an earlier run (each run lists the whole corpus)\n`);
  }
}

/** Images the ingest stages will publish, when the corpus manifest tells (their prefixes are corpus splits); else undefined. */
function expectedImages(topology: CompiledTopology, manifest: CorpusManifest): number | undefined {
  let total = 0;
  for (const stage of topology.stages.filter((s) => s.kind === 'ingest')) {
    const split = SPLITS.find((sp) => splitKeys(CORPUS_PREFIX, sp).images === stage.options.prefix);
    if (split === undefined || stage.options.watch) return undefined;
    const images = manifest.splits[split].images;
    total += stage.options.limit > 0 ? Math.min(stage.options.limit, images) : images;
  }
  return total;
}

/** A progress bar on a TTY, else a log line at most every LOG_INTERVAL_MS. */
function countProgress(io: TrainCommandIo, name: string, unit: string): { update: (done: number, total: number) => void; stop: () => void } {
  if (io.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream: io.stderr as NodeJS.WriteStream, format: `${name} [{bar}] {value}/{total} ${unit} | {duration_formatted} elapsed, eta {eta_formatted}`, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: (done, total) => {
        if (!started) bar.start(total, done);
        else bar.update(done);
        started = true;
      },
      stop: () => {
        if (started) bar.stop();
        started = false;
      },
    };
  }
  let last = 0;
  return {
    update: (done, total) => {
      const now = performance.now();
      if (now - last >= LOG_INTERVAL_MS || done === total) {
        last = now;
        io.stderr.write(`${name}: ${done}/${total} ${unit}\n`);
      }
    },
    stop: () => {},
  };
}

/** runEmbedded with progress: images through the teacher and student steps (bars on a TTY, else log lines). */
async function runPipeline(
  topology: CompiledTopology,
  store: ObjectStore,
  io: TrainCommandIo,
  logger: Logger,
  expected: number | undefined,
  signal?: AbortSignal,
  observability?: Observability,
): ReturnType<typeof runEmbedded> {
  const student = stageOf(topology, 'student');
  const ingestNames = topology.stages.filter((s) => s.kind === 'ingest').map((s) => s.name);
  const latest = new Map<string, Readonly<StageCounters>>();
  const sum = (pick: (name: string) => boolean, counter: string): number =>
    [...latest].filter(([name]) => pick(name.split('#')[0])).reduce((s, [, c]) => s + (c[counter] ?? 0), 0);
  const snapshot = () => ({
    // The corpus size when the manifest tells. Ingest counts a page once all of it was sent, and the teacher takes
    // images while the send waits, so ingest's own count trails the teacher's: it is no total (undefined).
    total: expected,
    published: sum((n) => ingestNames.includes(n), 'published'),
    teacher: sum((n) => topology.stages.some((s) => s.kind === 'teacher' && s.name === n), 'consumed'),
    samples: sum((n) => topology.stages.some((s) => s.kind === 'teacher' && s.name === n), 'samples'),
    rejected: sum((n) => topology.stages.some((s) => s.kind === 'teacher' && s.name === n), 'rejected'),
    steps: latest.get(student.name)?.steps ?? 0,
    unlabeledInBatch: latest.get(student.name)?.['batch.unlabeled'],
    loss: latest.get(student.name)?.loss,
    ap: latest.get(student.name)?.AP,
  });
  const fmt = (x: number | undefined, digits: number): string => (x === undefined ? '-' : x.toFixed(digits));
  let render: () => void;
  let stop: () => void;
  if (io.stderr.isTTY) {
    const bars = new cliProgress.MultiBar(
      { stream: io.stderr as NodeJS.WriteStream, hideCursor: true, clearOnComplete: false, format: '{name} [{bar}] {value}/{total} {unit} | {info}' },
      cliProgress.Presets.shades_classic,
    );
    const teacherBar = bars.create(1, 0, { name: 'teacher', unit: 'images', info: '' });
    const studentBar = bars.create(Math.max(1, student.options.steps), 0, { name: 'student', unit: 'steps ', info: '' });
    render = () => {
      const s = snapshot();
      teacherBar.setTotal(Math.max(1, s.total ?? Math.max(s.published, s.teacher)));
      teacherBar.update(s.teacher, { info: `${s.samples} samples, ${s.rejected} rejected` });
      studentBar.update(s.steps, { info: `loss ${fmt(s.loss, 4)} | AP ${fmt(s.ap, 3)}` });
    };
    stop = () => bars.stop();
  } else {
    const t0 = performance.now();
    const line = (): void => {
      const s = snapshot();
      io.stderr.write(
        `pipeline ${((performance.now() - t0) / 1000).toFixed(0)} s: teacher ${s.teacher}${s.total === undefined ? '' : `/${s.total}`} images (${s.samples} samples, ${s.rejected} rejected); ` +
          `student step ${s.steps}/${student.options.steps || '∞'} loss ${fmt(s.loss, 4)} AP ${fmt(s.ap, 3)} (unlabeled in batch ${fmt(s.unlabeledInBatch, 0)})\n`,
      );
    };
    const timer = setInterval(line, LOG_INTERVAL_MS);
    render = () => {};
    stop = () => {
      clearInterval(timer);
      line();
    };
  }
  let pending: NodeJS.Timeout | undefined;
  try {
    return await runEmbedded({
      topology,
      store,
      logger,
      signal,
      observability,
      onProgress: (name, counters) => {
        latest.set(name, { ...counters });
        // Counters change per message; redraw at most every 100 ms.
        pending ??= setTimeout(() => {
          pending = undefined;
          render();
        }, 100);
      },
    });
  } finally {
    if (pending !== undefined) clearTimeout(pending);
    render();
    stop();
  }
}

/** All messages of a topic, read with a throwaway consumer group. */
async function readTopic(transport: MemoryTransport, topic: string): Promise<{ key: string; value: Uint8Array }[]> {
  const total = (await transport.topicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  if (total === 0) return [];
  return waitForMessages(transport, topic, total, { timeoutMs: 60_000 });
}

/** What the teacher's filter did, counted from the samples and rejected topics (the topics are the record). */
async function filterStats(topology: CompiledTopology, store: ObjectStore, transport: MemoryTransport, counters: Record<string, StageCounters>): Promise<FilterStats> {
  const ingest = topology.stages.filter((s) => s.kind === 'ingest');
  const imagesIngested = Object.entries(counters)
    .filter(([name]) => ingest.some((s) => s.name === name.split('#')[0]))
    .reduce((s, [, c]) => s + (c.published ?? 0), 0);
  const unlabeledStages = ingest.filter((s) => s.options.split === 'unlabeled');
  // Unlabeled ImageRefs use the object key as image id (and message key); labeled ones the COCO id.
  const isUnlabeled = (key: string): boolean => unlabeledStages.some((s) => key.startsWith(s.options.prefix));

  const samples = await readTopic(transport, topology.topics.samples.name);
  const rejections = (await readTopic(transport, topology.topics.rejected.name)).map((m) => decodeRejection(m.value));
  const dlq = (await transport.topicOffsets(topology.topics.dlq.name)).reduce((s, p) => s + Number(p.high), 0);
  const rejectedByReason: Record<string, number> = {};
  for (const r of rejections) rejectedByReason[r.reason] = (rejectedByReason[r.reason] ?? 0) + 1;

  const keptKeys = samples.map((m) => m.key).filter(isUnlabeled);
  const rejectedKeys = rejections.filter((r) => r.ref.split === 'unlabeled').map((r) => r.ref.key);
  const stats: FilterStats = {
    imagesIngested,
    samples: samples.length,
    rejectedByReason,
    dlq,
    unlabeled: { images: keptKeys.length + rejectedKeys.length, kept: keptKeys.length },
    scoreThreshold: topology.thresholds.hardLabel,
  };
  const truth = await unlabeledTruth(store, unlabeledStages.map((s) => s.options.annotations ?? `${path.posix.dirname(s.options.prefix.replace(/\/$/, ''))}/annotations.json`));
  if (truth.size > 0) {
    const byTruth = { empty: { images: 0, kept: 0 }, nonEmpty: { images: 0, kept: 0 } };
    const tally = (key: string, kept: boolean): void => {
      const objects = truth.get(key);
      if (objects === undefined) return;
      const group = objects === 0 ? byTruth.empty : byTruth.nonEmpty;
      group.images += 1;
      if (kept) group.kept += 1;
    };
    keptKeys.forEach((k) => tally(k, true));
    rejectedKeys.forEach((k) => tally(k, false));
    stats.unlabeledByTruth = byTruth;
  }
  return stats;
}

/** Object key → number of ground-truth objects, from the unlabeled split's annotation files that exist. */
export async function unlabeledTruth(store: ObjectStore, annotationKeys: string[]): Promise<Map<string, number>> {
  const truth = new Map<string, number>();
  for (const key of annotationKeys) {
    if ((await store.head(key)) === undefined) continue;
    const gt = JSON.parse(new TextDecoder().decode(await store.get(key))) as CocoGroundTruth;
    const dir = path.posix.dirname(key);
    const count = new Map<number, number>();
    for (const a of gt.annotations) count.set(a.image_id, (count.get(a.image_id) ?? 0) + 1);
    for (const im of gt.images) truth.set(`${dir}/${im.file_name}`, count.get(im.id) ?? 0);
  }
  return truth;
}

function corpusSummary(manifest: CorpusManifest): RunReport['corpus'] {
  return {
    splits: SPLITS.map((split) => ({
      split,
      images: manifest.splits[split].images,
      emptyImages: manifest.splits[split].emptyImages,
      annotations: manifest.splits[split].annotations,
    })),
  };
}

async function buildGrid(
  store: ObjectStore,
  testSet: DetectionDataset,
  ids: number[],
  boxes: Record<'teacher' | 'baseline' | 'distilled', Map<number, ReportBox[]>>,
): Promise<RunReport['grid']> {
  const images: GridImage[] = [];
  for (const id of ids) {
    const image = testSet.images.find((im) => im.id === id);
    if (!image) continue;
    const groundTruth: ReportBox[] = testSet.gt.annotations
      .filter((a) => a.image_id === id && !a.iscrowd)
      .map((a) => ({ box: [a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3]] as const, classId: testSet.categories.classOf(a.category_id) }));
    images.push({
      id: image.key,
      bytes: await store.get(image.key),
      width: image.transform.width,
      height: image.transform.height,
      groundTruth,
      teacher: boxes.teacher.get(id) ?? [],
      baseline: boxes.baseline.get(id) ?? [],
      distilled: boxes.distilled.get(id) ?? [],
    });
  }
  return { classNames: testSet.categories.names, images };
}

function toReportBoxes(detections: readonly Detection[]): ReportBox[] {
  return detections.map((d) => ({ box: [d.box[0], d.box[1], d.box[2], d.box[3]] as const, classId: d.classId, score: d.score }));
}

function cocoStats(m: CocoMetrics): CocoStats {
  return Object.fromEntries(COCO_STAT_NAMES.map((name) => [name, m[name]])) as CocoStats;
}

function missingStats(): CocoStats {
  return Object.fromEntries(COCO_STAT_NAMES.map((name) => [name, -1])) as CocoStats;
}

function historyOf(h: Readonly<{ steps: readonly TrainingHistory['steps'][number][]; evals: readonly TrainingHistory['evals'][number][] }>): TrainingHistory {
  return {
    steps: h.steps.map(({ step, total, focal, distillation, localization, lr }) => ({ step, total, focal, distillation, localization, lr })),
    evals: h.evals.map(({ step, AP, AP50 }) => ({ step, AP, AP50 })),
  };
}

interface Evaluated {
  model: ModelReport;
  boxes: Map<number, ReportBox[]>;
}

/** Runs `fn`, then frees the detector's weights whatever happened. */
async function usingDetector<T>(detector: Detector, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    disposeLayersModel(detector.model);
  }
}

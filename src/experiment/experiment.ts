// The paper's ablation in miniature: label the corpus once with the teacher, then train one student per (row, seed).
//
// Every student row runs the real student stage (replay buffer, mixing, FL + λ·D + L_loc, final COCO eval) on
// Samples the real teacher stage produced, so the table measures the pipeline users run, not a side path. The
// teacher labels with its filter off; the filtered row keeps exactly the unlabeled samples the filter would have
// kept (those with ≥ 1 hard label), so "unfiltered" and "filtered" differ only in the filter.
import { decodeSample } from '../messages/sample.ts';
import type { ObjectStore } from '../io/object_store.ts';
import { PRESETS, resolveDetectorConfig, type DetectorConfig, type PresetName } from '../model/detector_config.ts';
import type { StageCounters } from '../stages/stage.ts';
import { runStudentStage, type StudentStageConfig } from '../stages/student/index.ts';
import { STUDENT_PEAK_LEARNING_RATES } from '../topology/defaults.ts';
import type { CompiledTopology } from '../topology/types.ts';
import type { StepRecord } from '../train/history.ts';
import type { DistillationKind } from '../train/objective.ts';
import { MemoryTransport } from '../transport/memory.ts';
import { waitForMessages } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import { runEmbedded } from '../runner/embedded.ts';
import type { SampleRecord } from './samples_file.ts';

/** One row of the table: which distillation term, and which samples the student sees. */
export interface ExperimentRow {
  id: string;
  title: string;
  distillation: DistillationKind;
  /** 'none': labeled samples only; 'all': every unlabeled sample; 'filtered': those with a teacher detection ≥ τ. */
  unlabeled: 'none' | 'all' | 'filtered';
  /** Student augmentation for this row (default: the topology's). */
  augment?: 'none' | 'flip';
  /**
   * Student preset for this row (absent: the topology's student). Every shipped row names its own, so the table does
   * not change with the topology's default student; the model block's shared fields still apply.
   */
  preset?: PresetName;
}

/** The student rows, in the paper's order (Table 3 of Tang et al. 2019, shrunk to the shapes benchmark). */
export const EXPERIMENT_ROWS: readonly ExperimentRow[] = Object.freeze([
  { id: 'labeled-only', title: 'student, labeled only (FL + L_loc)', distillation: 'none', unlabeled: 'none', preset: 'student' },
  { id: 'kl', title: '+ KL distillation (labeled)', distillation: 'kld', unlabeled: 'none', preset: 'student' },
  { id: 'fdl', title: '+ FDL (labeled)', distillation: 'fdl', unlabeled: 'none', preset: 'student' },
  { id: 'adl', title: '+ ADL (labeled)', distillation: 'adl', unlabeled: 'none', preset: 'student' },
  { id: 'adl-unfiltered', title: '+ ADL, unlabeled data, unfiltered', distillation: 'adl', unlabeled: 'all', preset: 'student' },
  { id: 'adl-filtered', title: '+ ADL, unlabeled data, filtered (full SAD)', distillation: 'adl', unlabeled: 'filtered', preset: 'student' },
  // What limits the student (issue 10): augmentation and capacity, each against full SAD.
  { id: 'sad-noflip', title: 'full SAD without flip augmentation', distillation: 'adl', unlabeled: 'filtered', augment: 'none', preset: 'student' },
  { id: 'sad-large', title: 'full SAD, student-large (½ of the teacher’s FLOPs)', distillation: 'adl', unlabeled: 'filtered', preset: 'student-large' },
  { id: 'labeled-only-large', title: 'student-large, labeled only (FL + L_loc)', distillation: 'none', unlabeled: 'none', preset: 'student-large' },
]);

export function experimentRow(id: string): ExperimentRow {
  const row = EXPERIMENT_ROWS.find((r) => r.id === id);
  if (!row) throw new Error(`unknown experiment row '${id}' (expected one of ${EXPERIMENT_ROWS.map((r) => r.id).join(', ')})`);
  return row;
}

/**
 * The row's student: the topology's when the row names no preset or the topology's own (its architecture overrides
 * kept), else the row's preset with the topology's shared fields (classes, input, anchors).
 */
export function rowStudentConfig(topology: CompiledTopology, row: ExperimentRow): DetectorConfig {
  if (row.preset === undefined || row.preset === (topology.studentPreset ?? 'student')) return topology.student;
  const s = topology.student;
  const shared = {
    numClasses: s.numClasses,
    inputSize: s.inputSize,
    levels: s.levels,
    anchorSizeFactor: s.anchorSizeFactor,
    anchorRatios: s.anchorRatios,
    anchorScalesPerOctave: s.anchorScalesPerOctave,
    priorProbability: s.priorProbability,
  };
  return resolveDetectorConfig({ ...shared, name: PRESETS[row.preset].name }, row.preset);
}

/**
 * The row's peak learning rate: the topology's student stage's, or for a row whose preset differs from the topology's
 * student, that preset's peak (STUDENT_PEAK_LEARNING_RATES): student-large does not train reliably at the default
 * student's 8e-3 (docs/results.md, "`student-large` at its own learning rate").
 */
export function rowLearningRate(topology: CompiledTopology, row: ExperimentRow): number {
  if (row.preset === undefined || row.preset === (topology.studentPreset ?? 'student')) return studentStageOf(topology).options.learningRate;
  return STUDENT_PEAK_LEARNING_RATES[row.preset];
}

/** The topology's student stage (exactly one). */
export function studentStageOf(topology: CompiledTopology): StudentStageConfig {
  const students = topology.stages.filter((s): s is StudentStageConfig => s.kind === 'student');
  if (students.length !== 1) throw new Error(`${topology.source}: the experiment needs exactly one student stage, found ${students.length}`);
  return students[0];
}

export interface LabelingResult {
  records: SampleRecord[];
  /** Images that reached the teacher, and its outcome counters. */
  counters: StageCounters;
  seconds: number;
}

/**
 * Runs ingest → teacher (filter off, no student) over the topology's ingest stages and returns every Sample,
 * tagged with its split and hard-label count.
 */
export async function labelCorpus(topology: CompiledTopology, store: ObjectStore, logger: Logger, onProgress?: (counters: Readonly<StageCounters>) => void): Promise<LabelingResult> {
  const started = performance.now();
  const labeling: CompiledTopology = {
    ...topology,
    stages: topology.stages
      .filter((s) => s.kind !== 'student')
      .map((s) => (s.kind === 'teacher' ? { ...s, options: { ...s.options, filter: false } } : s)),
  };
  if (!labeling.stages.some((s) => s.kind === 'teacher')) throw new Error(`${topology.source}: the experiment needs a teacher stage`);
  const run = await runEmbedded({ topology: labeling, store, logger, onProgress: (stage, counters) => stage.startsWith('teacher') && onProgress?.(counters) });
  try {
    if (run.stoppedBy !== 'completed') throw new Error('labeling was stopped before it finished');
    const teacherCounters: StageCounters = {};
    for (const [name, c] of Object.entries(run.counters)) {
      if (!labeling.stages.some((s) => s.kind === 'teacher' && name.split('#')[0] === s.name)) continue;
      for (const [k, v] of Object.entries(c)) teacherCounters[k] = (teacherCounters[k] ?? 0) + v;
    }
    const topic = topology.topics.samples.name;
    const count = (await run.transport.topicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
    const messages = await waitForMessages(run.transport, topic, count, { timeoutMs: 60_000 });
    const records = messages.map((m): SampleRecord => {
      const sample = decodeSample(m.value);
      return { key: m.key, value: m.value, split: sample.ref.split, hard: sample.hard.length, objectKey: sample.ref.key };
    });
    return { records, counters: teacherCounters, seconds: (performance.now() - started) / 1000 };
  } finally {
    await run.transport.close();
  }
}

/** The records a row trains on. */
export function recordsFor(row: ExperimentRow, records: readonly SampleRecord[]): SampleRecord[] {
  return records.filter((r) => r.split === 'labeled' || (r.split === 'unlabeled' && (row.unlabeled === 'all' || (row.unlabeled === 'filtered' && r.hard > 0))));
}

export interface CellOptions {
  topology: CompiledTopology;
  store: ObjectStore;
  records: readonly SampleRecord[];
  row: ExperimentRow;
  seed: number;
  steps: number;
  /** Store prefix for this cell's checkpoint (deleted by the caller if it wants). */
  checkpointPrefix: string;
  /** Evaluate every this many steps as well as at the end (0 = only at the end): the AP-over-steps curve. */
  evalEvery?: number;
  logger: Logger;
  onStep?: (step: number) => void;
}

export interface CellResult {
  row: string;
  seed: number;
  steps: number;
  AP: number;
  AP50: number;
  /** Wall-clock seconds of the student stage (training + final evaluation). */
  seconds: number;
  labeledSamples: number;
  unlabeledSamples: number;
  /** AP at every evaluation (with evalEvery > 0, the curve over steps; else the final one). */
  curve: Array<{ step: number; AP: number; AP50: number }>;
  /** Mean loss terms over ten equal windows of the run: how FL, the distillation term and L_loc evolve. */
  losses: Array<{ step: number; focal: number; distillation: number; localization: number }>;
}

/** Means of the loss terms over `windows` consecutive, equal runs of steps (the last window ends at the last step). */
export function lossWindows(steps: readonly StepRecord[], windows = 10): CellResult['losses'] {
  const size = Math.max(1, Math.ceil(steps.length / windows));
  const out: CellResult['losses'] = [];
  for (let start = 0; start < steps.length; start += size) {
    const w = steps.slice(start, start + size);
    const mean = (f: (r: StepRecord) => number): number => w.reduce((a, r) => a + f(r), 0) / w.length;
    out.push({ step: w[w.length - 1].step, focal: mean((r) => r.focal), distillation: mean((r) => r.distillation), localization: mean((r) => r.localization) });
  }
  return out;
}

/** Trains one student on the row's samples through the student stage and returns its final COCO AP/AP50. */
export async function trainCell(options: CellOptions): Promise<CellResult> {
  const { topology, row, seed, steps } = options;
  const student = studentStageOf(topology);
  const stage: StudentStageConfig = {
    ...student,
    options: {
      ...student.options,
      steps,
      seed,
      learningRate: rowLearningRate(topology, row),
      labeledOnly: row.unlabeled === 'none',
      evalEvery: options.evalEvery ?? 0,
      evalImages: 0,
      checkpointEvery: steps,
      checkpointPrefix: options.checkpointPrefix,
      augment: row.augment ?? student.options.augment,
    },
  };
  const cellTopology: CompiledTopology = { ...topology, student: rowStudentConfig(topology, row), loss: { ...topology.loss, distillation: row.distillation }, stages: [stage] };
  const selected = recordsFor(row, options.records);
  const transport = new MemoryTransport();
  const topic = topology.topics[stage.input];
  await transport.createTopics([topic, topology.topics.dlq].map((t) => ({ topic: t.name, partitions: t.partitions })));
  const producer = transport.producer();
  await producer.connect();
  for (let i = 0; i < selected.length; i += 500) await producer.send(topic.name, selected.slice(i, i + 500).map((r) => ({ key: r.key, value: r.value })));
  await producer.disconnect();

  const started = performance.now();
  const controller = new AbortController();
  try {
    const running = runStudentStage({
      topology: cellTopology,
      stage,
      store: options.store,
      transport,
      logger: options.logger.child({ stage: stage.name, row: row.id, seed }),
      signal: controller.signal,
      onProgress: (c) => options.onStep?.(c.steps),
    });
    const counters = await running.done;
    const final = running.history.evals.at(-1);
    if (final === undefined || final.step !== steps) throw new Error(`${row.id} seed ${seed}: the student stopped at step ${counters.steps} of ${steps} without a final evaluation`);
    return {
      row: row.id,
      seed,
      steps,
      AP: final.AP,
      AP50: final.AP50,
      seconds: (performance.now() - started) / 1000,
      labeledSamples: selected.filter((r) => r.split === 'labeled').length,
      unlabeledSamples: selected.filter((r) => r.split === 'unlabeled').length,
      curve: running.history.evals.map((e) => ({ step: e.step, AP: e.AP, AP50: e.AP50 })),
      losses: lossWindows(running.history.steps),
    };
  } finally {
    controller.abort();
    await transport.close();
  }
}

export interface RowSummary {
  row: ExperimentRow;
  n: number;
  AP: { mean: number; std: number };
  AP50: { mean: number; std: number };
  seconds: { mean: number; std: number };
  unlabeledSamples: number;
}

/** Mean and sample standard deviation (n − 1; 0 for a single value). */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  if (values.length === 0) return { mean: Number.NaN, std: Number.NaN };
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  if (values.length === 1) return { mean, std: 0 };
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, std: Math.sqrt(variance) };
}

export function summarizeRows(cells: readonly CellResult[]): RowSummary[] {
  return EXPERIMENT_ROWS.flatMap((row) => {
    const mine = cells.filter((c) => c.row === row.id);
    if (mine.length === 0) return [];
    return [
      {
        row,
        n: mine.length,
        AP: meanStd(mine.map((c) => c.AP)),
        AP50: meanStd(mine.map((c) => c.AP50)),
        seconds: meanStd(mine.map((c) => c.seconds)),
        unlabeledSamples: mine[0].unlabeledSamples,
      },
    ];
  });
}

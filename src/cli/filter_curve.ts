// `distillery filter-curve`: the at-least-one-detection filter's keep rate on empty vs non-empty unlabeled images over τ.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { initBackend } from '../backend/backend.ts';
import {
  aucByObjectCount,
  calibratePerClass,
  DEFAULT_TAUS,
  emptyVsNonEmptyAuc,
  FILTER_GOAL,
  filterCurve,
  keepRates,
  meetsGoal,
  scoreUnlabeled,
  splitHalves,
  tauMeetingGoal,
  type ImageScores,
  type KeepRates,
} from '../experiment/filter_curve.ts';
import { scoreLabeled, tauKeeping } from '../experiment/labeled_tau.ts';
import { openStore } from '../runner/embedded.ts';
import { BUNDLED_TEACHER_DIR, ensureTeacher, formatBackend, stageOf, unlabeledTruth } from '../runner/main_job.ts';
import { loadTeacher, type TeacherModel } from '../stages/teacher/teacher_model.ts';
import { loadTopology } from '../topology/index.ts';
import type { CompiledTopology, ThresholdConfig } from '../topology/types.ts';
import { loadCocoDataset } from '../train/dataset.ts';
import { DOMAIN_SHIFT } from '../train/shift_augment.ts';
import { DEFAULT_TOPOLOGY } from './run.ts';
import type { TrainCommandIo } from './train.ts';
import { nonNegativeInteger } from './args.ts';

interface FilterCurveFlags {
  topology: string;
  taus?: number[];
  limit: number;
  scores?: string;
  out?: string;
  set?: string[];
  calibrate?: string;
  calibrateLook?: CalibrationLook;
}

type CalibrationLook = 'shift' | 'none';

/** What the command prints, also written with --out (scores included, so a rerun can skip the teacher). */
export interface FilterCurveReport {
  images: number;
  taus: number[];
  curve: ReturnType<typeof filterCurve>;
  /** The topology's current filter (its hardLabel, one τ or one per class). */
  current: { tau: number | number[]; rates: KeepRates };
  /** ROC AUC of the best detection score for non-empty vs empty images (0.5 = no information). */
  auc: number;
  /** The same AUC for images with 1, 2, 3 and ≥ 4 objects (each against all empty images). */
  aucByObjects: number[];
  /** Smallest τ of the curve meeting the goal, if any. */
  goalTau?: number;
  /** Per-class τ chosen on one half of the images, measured on the other. */
  perClass?: { tau: number[]; calibration: KeepRates; heldOut: KeepRates; all: KeepRates };
  /** τ chosen on a labeled split alone (--calibrate): the largest keeping the goal's share of its images; its keep rates on the unlabeled ones. */
  labeledTau?: { annotations: string; look: CalibrationLook; images: number; tau: number; unlabeled: KeepRates };
  scores: ImageScores[];
}

export function filterCurveCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return new Command('filter-curve')
    .description("the filter's keep rate on truly empty vs non-empty unlabeled images (the corpus's hidden truth) over τ, and a per-class τ calibrated on half of them")
    .option('--topology <file>', 'topology YAML (teacher checkpoint, unlabeled ingest stage, thresholds)', DEFAULT_TOPOLOGY)
    .option('--taus <list>', `comma-separated τ values [${DEFAULT_TAUS.join(',')}]`, parseTaus)
    .option('--limit <n>', 'score only the first n unlabeled images (0 = all)', nonNegativeInteger, 0)
    .option('--scores <file>', 'reuse the scores of an earlier --out file instead of running the teacher')
    .option('--out <file>', 'write the report and every image’s scores as JSON')
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--calibrate <annotations>', 'also choose τ on this labeled split alone (e.g. corpus/test/annotations.json): the largest τ keeping the goal’s share of its images')
    .addOption(new Option('--calibrate-look <look>', 'render the calibration images in the unlabeled domain’s look (the shift augmentation) or as they are').choices(['shift', 'none']).default('shift'))
    .action(async (flags: FilterCurveFlags) => {
      await runFilterCurve(flags, io);
    });
}

export async function runFilterCurve(flags: FilterCurveFlags, io: TrainCommandIo): Promise<FilterCurveReport> {
  const topology = await loadTopology(flags.topology, { overrides: flags.set });
  // Before the teacher runs: a report written into a folder that does not exist yet must not cost the whole run.
  if (flags.out) await mkdir(path.dirname(path.resolve(flags.out)), { recursive: true });
  const scores = flags.scores ? await readScores(flags.scores) : await scoreTopology(topology, flags, io);
  const taus = flags.taus ?? [...DEFAULT_TAUS];
  const curve = filterCurve(scores, taus);
  const tau = topology.thresholds.hardLabel;
  const report: FilterCurveReport = { images: scores.length, taus, curve, current: { tau, rates: keepRates(scores, tau) }, auc: emptyVsNonEmptyAuc(scores), aucByObjects: aucByObjectCount(scores), goalTau: tauMeetingGoal(curve), scores };
  const { calibration, heldOut } = splitHalves(scores);
  const perClass = calibratePerClass(calibration, taus);
  if (perClass !== undefined) report.perClass = { tau: perClass, calibration: keepRates(calibration, perClass), heldOut: keepRates(heldOut, perClass), all: keepRates(scores, perClass) };
  if (flags.calibrate !== undefined) {
    const look = flags.calibrateLook ?? 'shift';
    const labeled = await scoreCalibration(topology, flags, flags.calibrate, look, io);
    const tau = tauKeeping(labeled, FILTER_GOAL.minNonEmptyKept);
    report.labeledTau = { annotations: flags.calibrate, look, images: labeled.length, tau, unlabeled: keepRates(scores, tau) };
  }
  io.stdout.write(`${formatFilterCurve(report)}\n`);
  if (flags.out) {
    await writeFile(flags.out, `${JSON.stringify(report)}\n`);
    io.stdout.write(`written: ${flags.out}\n`);
  }
  return report;
}

/** Loads the topology's teacher (uploading the bundled one when the store has none) for `use`, then disposes it. */
async function withTeacher<T>(topology: CompiledTopology, flags: FilterCurveFlags, io: TrainCommandIo, use: (teacher: TeacherModel, batchSize: number, maxImagePixels: number) => Promise<T>): Promise<T> {
  const backend = await initBackend(topology.backend);
  io.stderr.write(`${formatBackend(backend)}\n`);
  const store = openStore(topology);
  const teacherStage = stageOf(topology, 'teacher');
  await ensureTeacher(store, teacherStage.options.checkpoint, BUNDLED_TEACHER_DIR, flags.topology);
  const teacher = await loadTeacher(store, teacherStage.options.checkpoint, topology);
  try {
    return await use(teacher, teacherStage.options.batchSize, teacherStage.options.maxImagePixels);
  } finally {
    teacher.dispose();
  }
}

/** The curve needs every detection down to the lowest τ, whatever the topology's candidate threshold. */
function curveThresholds(topology: CompiledTopology, flags: FilterCurveFlags): ThresholdConfig {
  return { ...topology.thresholds, candidate: Math.min(topology.thresholds.candidate, ...(flags.taus ?? DEFAULT_TAUS)) };
}

async function scoreTopology(topology: CompiledTopology, flags: FilterCurveFlags, io: TrainCommandIo): Promise<ImageScores[]> {
  const store = openStore(topology);
  const ingest = topology.stages.find((s) => s.kind === 'ingest' && s.options.split === 'unlabeled');
  if (ingest === undefined || ingest.kind !== 'ingest') throw new Error(`${topology.source}: no ingest stage with split: unlabeled`);
  const annotations = ingest.options.annotations ?? `${path.posix.dirname(ingest.options.prefix.replace(/\/$/, ''))}/annotations.json`;
  const truth = await unlabeledTruth(store, [annotations]);
  if (truth.size === 0) throw new Error(`${annotations}: not found — the curve needs the unlabeled split's hidden truth (the shapes corpus writes it)`);
  return withTeacher(topology, flags, io, async (teacher, batchSize, maxImagePixels) => {
    let last = 0;
    const thresholds = curveThresholds(topology, flags);
    return scoreUnlabeled(store, teacher, {
      prefix: ingest.options.prefix,
      truth,
      thresholds,
      batchSize,
      maxImagePixels,
      limit: flags.limit,
      onProgress: (done, total) => {
        if (done !== total && performance.now() - last < 10_000) return;
        last = performance.now();
        io.stderr.write(`  teacher: ${done}/${total} unlabeled images\n`);
      },
    });
  });
}

/** The teacher's scores on a labeled split (never the unlabeled one), in the chosen look, for --calibrate. */
async function scoreCalibration(topology: CompiledTopology, flags: FilterCurveFlags, annotations: string, look: CalibrationLook, io: TrainCommandIo): Promise<ImageScores[]> {
  const dataset = await loadCocoDataset(openStore(topology), annotations, { inputSize: topology.teacher.inputSize });
  return withTeacher(topology, flags, io, async (teacher, batchSize) => {
    io.stderr.write(`  teacher: ${dataset.images.length} images of ${annotations} (${look === 'shift' ? "in the unlabeled domain's look" : 'as they are'}) to choose τ\n`);
    const thresholds = curveThresholds(topology, flags);
    return scoreLabeled(teacher, dataset, { thresholds, batchSize, shift: look === 'shift' ? DOMAIN_SHIFT : undefined });
  });
}

async function readScores(file: string): Promise<ImageScores[]> {
  const json = JSON.parse(await readFile(file, 'utf8')) as Partial<FilterCurveReport>;
  if (!Array.isArray(json.scores)) throw new Error(`${file}: no "scores" array (write one with --out)`);
  return json.scores;
}

const pct = (a: number, b: number): string => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : 'n/a');
const rates = (r: KeepRates): string => `empty kept ${pct(r.emptyKept, r.empty)} (${r.emptyKept}/${r.empty}), non-empty kept ${pct(r.nonEmptyKept, r.nonEmpty)} (${r.nonEmptyKept}/${r.nonEmpty})`;
const tauText = (tau: number | readonly number[]): string => (typeof tau === 'number' ? String(tau) : `[${tau.join(', ')}]`);

export function formatFilterCurve(r: FilterCurveReport): string {
  const goal = `keep ≤ ${FILTER_GOAL.maxEmptyKept * 100}% of empty and ≥ ${FILTER_GOAL.minNonEmptyKept * 100}% of non-empty images`;
  const lines = [`| τ | empty images kept | non-empty images kept | meets the goal |`, `|---|---|---|---|`];
  for (const p of r.curve) lines.push(`| ${p.tau} | ${pct(p.emptyKept, p.empty)} | ${pct(p.nonEmptyKept, p.nonEmpty)} | ${meetsGoal(p) ? 'yes' : 'no'} |`);
  lines.push('', `${r.images} unlabeled images. Goal: ${goal}.`);
  lines.push(`Topology's filter (hardLabel ${tauText(r.current.tau)}): ${rates(r.current.rates)}${meetsGoal(r.current.rates) ? ' — meets the goal' : ''}.`);
  lines.push(`ROC AUC of the best detection score, non-empty vs empty: ${r.auc.toFixed(3)} (0.5 = no information, 1 = perfect).`);
  const byCount = r.aucByObjects.map((a, i) => `${i + 1 === r.aucByObjects.length ? '≥ ' : ''}${i + 1}: ${Number.isNaN(a) ? 'n/a' : a.toFixed(3)}`);
  lines.push(`The same AUC by the image's number of objects: ${byCount.join(', ')}.`);
  lines.push(r.goalTau === undefined ? 'No single τ of the curve meets the goal.' : `Smallest single τ meeting the goal: ${r.goalTau}.`);
  if (r.perClass === undefined) lines.push('Per-class τ: no combination of the curve’s τ values keeps enough non-empty images on the calibration half.');
  else {
    const p = r.perClass;
    lines.push(`Per-class τ ${tauText(p.tau)}, chosen on half of the images: calibration half ${rates(p.calibration)}; held-out half ${rates(p.heldOut)}${meetsGoal(p.heldOut) ? ' — meets the goal' : ''}.`);
  }
  if (r.labeledTau !== undefined) {
    const l = r.labeledTau;
    const share = `${FILTER_GOAL.minNonEmptyKept * 100}%`;
    lines.push(
      `τ chosen on labeled images only (${l.annotations}, ${l.images} images, ${l.look === 'shift' ? "in the unlabeled domain's look" : 'as they are'}; the largest keeping ${share} of them): ${l.tau.toFixed(3)}; ` +
        `on the unlabeled images it keeps ${rates(l.unlabeled)}${meetsGoal(l.unlabeled) ? ' — meets the goal' : ''}.`,
    );
  }
  return lines.join('\n');
}

function parseTaus(value: string): number[] {
  const taus = value.split(',').map((s) => Number(s.trim()));
  if (taus.length === 0 || taus.some((t) => !(t > 0 && t <= 1))) throw new InvalidArgumentError('expected comma-separated numbers in (0, 1]');
  return [...new Set(taus)].sort((a, b) => a - b);
}


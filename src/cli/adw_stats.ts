// `distillery adw-stats`: ADW's distribution over the anchors of the experiment's samples, for the student at
// initialisation, a student checkpoint, and the converged limit p = q (why ADL, FDL and KL order as they do).
import { Command } from 'commander';
import { initBackend } from '../backend/backend.ts';
import { adwOfBatch, batchOfRecords, type AdwStats } from '../experiment/adw_stats.ts';
import { readSampleRecords } from '../experiment/samples_file.ts';
import { buildDetector, disposeLayersModel, type Detector } from '../model/detector.ts';
import { openStore } from '../runner/embedded.ts';
import { disposeSampleBatch } from '../stages/student/sample_batch.ts';
import { loadTopology } from '../topology/index.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { DEFAULT_TOPOLOGY } from './run.ts';
import type { TrainCommandIo } from './train.ts';
import { positiveInteger } from './args.ts';

interface AdwFlags {
  topology: string;
  samples: string;
  checkpoint?: string;
  images: number;
  seed: number;
  set?: string[];
}

export function adwStatsCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return new Command('adw-stats')
    .description("ADW's distribution over anchors and where KL's, ADL's and FDL's mass sits, on an experiment's samples (student at init, a checkpoint, and p = q)")
    .requiredOption('--samples <file>', 'samples.bin written by `distillery experiment`')
    .option('--topology <file>', 'topology YAML (student, loss settings)', DEFAULT_TOPOLOGY)
    .option('--checkpoint <prefix>', "a student checkpoint prefix in the topology's store (its latest step)")
    .option('--images <n>', 'images per split', positiveInteger, 32)
    .option('--seed <n>', 'seed of the initialised student', positiveInteger, 1)
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (flags: AdwFlags) => {
      await runAdwStats(flags, io);
    });
}

export interface AdwRow {
  student: string;
  split: string;
  stats: AdwStats;
  /** The p = q row. */
  converged: boolean;
}

export async function runAdwStats(flags: AdwFlags, io: TrainCommandIo): Promise<AdwRow[]> {
  const topology = await loadTopology(flags.topology, { overrides: flags.set });
  await initBackend(topology.backend);
  const records = await readSampleRecords(flags.samples);
  const students: Array<{ name: string; detector: Detector | undefined }> = [{ name: 'init', detector: buildDetector(topology.student, { seed: flags.seed }) }];
  if (flags.checkpoint) {
    const ckpt = await loadCheckpoint(openStore(topology), flags.checkpoint);
    if (ckpt === undefined) throw new Error(`${flags.checkpoint}: no checkpoint`);
    students.push({ name: `${flags.checkpoint} step ${ckpt.state.step}`, detector: ckpt.detector });
  }
  students.push({ name: 'p = q (converged)', detector: undefined });
  const out: AdwRow[] = [];
  try {
    for (const split of ['labeled', 'unlabeled'] as const) {
      const batch = await batchOfRecords(records, split, flags.images, topology.student);
      try {
        for (const s of students) out.push({ student: s.name, split, stats: await adwOfBatch(s.detector, batch, topology.loss), converged: s.detector === undefined });
      } finally {
        disposeSampleBatch(batch);
      }
    }
  } finally {
    for (const s of students) if (s.detector !== undefined) disposeLayersModel(s.detector.model);
  }
  io.stdout.write(`${formatAdwStats(out)}\n`);
  return out;
}

export function formatAdwStats(rows: readonly AdwRow[]): string {
  const f = (x: number): string => (x >= 0.01 ? x.toFixed(3) : x.toExponential(1));
  const lines = [
    '| student | split | ADW mean | ADW p50 / p90 / p99 / max | ΣADW·KL / ΣKL | ΣFDW·KL / ΣKL | top 1% share: ADL / KL | ADL mass by teacher q: <0.01 / 0.01–0.1 / 0.1–0.5 / ≥0.5 | KL mass by q (same bands) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { student, split, stats: s, converged } of rows) {
    const bands = (k: 'adl' | 'kl'): string => s.bands.map((b) => `${(100 * b[k]).toFixed(0)}%`).join(' / ');
    const adw = `| ${student} | ${split} | ${f(s.adw.mean)} | ${[s.adw.p50, s.adw.p90, s.adw.p99, s.adw.max].map(f).join(' / ')} |`;
    // At p = q, KL is 0 up to rounding: the mass columns would only show rounding noise.
    if (converged) lines.push(`${adw} — | — | — | — | — |`);
    else lines.push(`${adw} ${f(s.adlOverKl)} | ${f(s.fdlOverKl)} | ${(100 * s.adlTop1).toFixed(0)}% / ${(100 * s.klTop1).toFixed(0)}% | ${bands('adl')} | ${bands('kl')} |`);
  }
  const b = rows[0]?.stats.bands;
  if (b) lines.push('', `Share of anchor × class entries by teacher q (${rows[0].split}): ${b.map((x) => `${x.band}: ${(100 * x.entries).toFixed(1)}%`).join(', ')}.`);
  return lines.join('\n');
}


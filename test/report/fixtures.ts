// Synthetic RunReports for the report tests (deterministic, no tensors, no image decoding).
import type { CocoStats, EvalPoint, GridImage, LossPoint, ReportBox, RunReport, StudentReport } from '../../src/report/types.ts';

/** Deterministic noise in [-1, 1) (an LCG is plenty for plausible-looking curves). */
export function noise(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

export function cocoStats(ap: number): CocoStats {
  return {
    AP: ap,
    AP50: Math.min(1, ap * 1.7),
    AP75: ap * 0.9,
    APs: ap * 0.5,
    APm: ap * 1.1,
    APl: -1,
    AR1: ap * 1.2,
    AR10: ap * 1.5,
    AR100: ap * 1.55,
    ARs: ap * 0.8,
    ARm: ap * 1.6,
    ARl: -1,
  };
}

export function history(steps: number, evalEvery: number, finalAp: number, seed: number, distill: boolean): { steps: LossPoint[]; evals: EvalPoint[] } {
  const r = noise(seed);
  const out: LossPoint[] = [];
  for (let step = 1; step <= steps; step++) {
    const t = step / steps;
    const focal = 1.1 * Math.exp(-3 * t) + 0.25 + 0.08 * r();
    const distillation = distill ? 0.6 * Math.exp(-2 * t) + 0.15 + 0.05 * r() : 0;
    const localization = 0.5 * Math.exp(-2.5 * t) + 0.12 + 0.04 * r();
    const lr = step < steps * 0.1 ? (1e-3 * step) / (steps * 0.1) : 1e-3 * 0.5 * (1 + Math.cos(Math.PI * t));
    out.push({ step, total: focal + distillation + localization, focal, distillation, localization, lr });
  }
  const evals: EvalPoint[] = [];
  for (let step = evalEvery; step <= steps; step += evalEvery) {
    const AP = finalAp * (1 - Math.exp((-4 * step) / steps)) / (1 - Math.exp(-4));
    evals.push({ step, AP, AP50: Math.min(1, AP * 1.7) });
  }
  return { steps: out, evals };
}

function student(name: string, ap: number, steps: number, seed: number, distill: boolean): StudentReport {
  return { name, parameters: 312_456, flopsPerImage: 181_234_567, metrics: cocoStats(ap), history: history(steps, 25, ap, seed, distill) };
}

/** Not a decodable JPEG: the tests only check that bytes reach the page as base64. */
export const FAKE_JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0xff, 0xd9]);

export function gridImage(id: string, boxes: Partial<Record<'groundTruth' | 'teacher' | 'baseline' | 'distilled', ReportBox[]>> = {}): GridImage {
  const gt: ReportBox[] = [{ box: [10, 12, 50, 60], classId: 0 }, { box: [70, 20, 120, 90], classId: 2 }];
  return {
    id,
    bytes: FAKE_JPEG,
    width: 128,
    height: 96,
    groundTruth: boxes.groundTruth ?? gt,
    teacher: boxes.teacher ?? [{ box: [11, 12, 51, 58], classId: 0, score: 0.93 }, { box: [68, 22, 119, 88], classId: 2, score: 0.71 }],
    baseline: boxes.baseline ?? [{ box: [14, 15, 47, 66], classId: 0, score: 0.52 }, { box: [30, 30, 40, 40], classId: 1, score: 0.12 }],
    distilled: boxes.distilled ?? [{ box: [10, 13, 49, 61], classId: 0, score: 0.81 }, { box: [71, 19, 121, 91], classId: 2, score: 0.44 }],
  };
}

export interface SyntheticOptions {
  steps?: number;
  images?: GridImage[];
}

export function syntheticReport(opts: SyntheticOptions = {}): RunReport {
  const steps = opts.steps ?? 200;
  return {
    runId: '20250101-120000-abc123',
    startedAt: '2025-01-01T12:00:00.000Z',
    finishedAt: '2025-01-01T12:41:17.500Z',
    durationSeconds: 2477.5,
    machine: { cores: 2, cpuModel: 'Intel(R) Xeon(R) CPU @ 2.20GHz', node: 'v20.19.0', backend: 'wasm', threads: 2, platform: 'linux x64' },
    topology: {
      name: 'embedded-shapes',
      description: 'topology embedded-shapes (embedded runner)\n  ingest  --distillery.images-->  teacher x1\n  teacher --distillery.samples--> student x1\n  teacher --distillery.rejected--> (sink)',
    },
    corpus: {
      splits: [
        { split: 'labeled', images: 200, emptyImages: 0, annotations: 540 },
        { split: 'test', images: 100, emptyImages: 0, annotations: 270 },
        { split: 'unlabeled', images: 2000, emptyImages: 800, annotations: 3100 },
      ],
    },
    filter: {
      imagesIngested: 2200,
      samples: 1420,
      rejectedByReason: { 'no-detections': 778 },
      dlq: 2,
      unlabeled: { images: 1998, kept: 1220 },
      unlabeledByTruth: { empty: { images: 799, kept: 61 }, nonEmpty: { images: 1199, kept: 1159 } },
      scoreThreshold: 0.5,
    },
    models: {
      teacher: { name: 'teacher-w64', parameters: 2_345_678, flopsPerImage: 1_234_567_890, metrics: cocoStats(0.412) },
      baseline: student('student-w16', 0.201, steps, 7, false),
      distilled: student('student-w16', 0.245, steps, 11, true),
    },
    grid: {
      classNames: ['circle', 'square', 'diamond', 'triangle'],
      images: opts.images ?? [gridImage('test/000001'), gridImage('test/000002'), gridImage('test/000003')],
    },
  };
}

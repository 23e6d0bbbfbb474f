// A consumed message → a sample the student can train on, or the reason it cannot (decode, lineage, pixels).
import { anchorConfigsEqual, type AnchorConfig } from '../../boxes/anchor_config.ts';
import { decodeRgb, ImageDecodeError } from '../../image/letterbox.ts';
import { decodeSample, type Sample, type TeacherAnchorConfig } from '../../messages/sample.ts';
import type { ImageBoxes } from '../../train/targets.ts';
import type { Pool } from './sample_buffer.ts';

/** What every Sample must match so that its soft labels line up with the student's outputs. */
export interface StudentLayout {
  anchors: AnchorConfig;
  inputSize: number;
  /** Anchors per image (follows from anchors and inputSize; checked as well, against corrupt messages). */
  numAnchors: number;
  numClasses: number;
}

export type SampleMismatchReason = 'anchor-layout' | 'input-size' | 'anchor-count' | 'class-count' | 'test-split';

/** A well-formed Sample the student must not train on. Bad input, not a bug: it goes to the DLQ. */
export class SampleMismatchError extends Error {
  readonly retriable = false;
  constructor(
    readonly reason: SampleMismatchReason,
    message: string,
  ) {
    super(message);
    this.name = 'SampleMismatchError';
  }
}

export type Admission =
  | { kind: 'sample'; id: string; pool: Pool; pixels: Uint8Array; hard: ImageBoxes; sample: Sample }
  /** Well-formed, but of a pool the student does not use (unlabeled samples of a labeled-only student). */
  | { kind: 'ignored'; id: string; pool: Pool }
  | { kind: 'dead'; error: unknown };

/** Throws SampleMismatchError when the sample's teacher lineage or shapes do not fit the student. */
export function checkSampleFits(sample: Sample, layout: StudentLayout): void {
  if (sample.ref.split === 'test') {
    throw new SampleMismatchError('test-split', `sample ${sample.ref.imageId} comes from the test split: training on it would leak the evaluation set`);
  }
  const t = sample.teacher.anchorConfig;
  if (t.inputSize !== layout.inputSize || sample.image.width !== layout.inputSize || sample.image.height !== layout.inputSize) {
    throw new SampleMismatchError(
      'input-size',
      `sample ${sample.ref.imageId} was labeled at ${t.inputSize} px (image ${sample.image.width}×${sample.image.height}) but the student takes ${layout.inputSize} px`,
    );
  }
  const teacherAnchors: AnchorConfig = { levels: t.levels, sizeFactor: t.sizeFactor, ratios: t.ratios, scalesPerOctave: t.scalesPerOctave };
  if (!anchorConfigsEqual(teacherAnchors, layout.anchors)) {
    throw new SampleMismatchError(
      'anchor-layout',
      `teacher ${sample.teacher.modelId} used anchors ${describeAnchors(t)} but the student uses ${describeAnchors(layout.anchors)}: soft labels would not align anchor for anchor`,
    );
  }
  if (sample.soft.anchors !== layout.numAnchors) {
    throw new SampleMismatchError('anchor-count', `sample ${sample.ref.imageId} has soft labels for ${sample.soft.anchors} anchors, the student has ${layout.numAnchors}`);
  }
  if (sample.soft.classes !== layout.numClasses) {
    throw new SampleMismatchError('class-count', `sample ${sample.ref.imageId} has soft labels for ${sample.soft.classes} classes, the student has ${layout.numClasses}`);
  }
}

/**
 * Decodes and checks a consumed Sample and decodes its image. `accepts` says which pools are kept; samples of
 * other pools are checked but not decoded further. Never throws: failures come back as `dead` (→ DLQ).
 */
export async function admitSample(bytes: Uint8Array, layout: StudentLayout, accepts: (pool: Pool) => boolean): Promise<Admission> {
  try {
    const sample = decodeSample(bytes);
    checkSampleFits(sample, layout);
    const id = sample.ref.imageId;
    const pool: Pool = sample.ref.split === 'labeled' ? 'labeled' : 'unlabeled';
    if (!accepts(pool)) return { kind: 'ignored', id, pool };
    const pixels = await decodeImage(sample.image.bytes, layout.inputSize);
    const hard: ImageBoxes = { boxes: sample.hard.map((h) => h.box), classIds: sample.hard.map((h) => h.classId) };
    return { kind: 'sample', id, pool, pixels, hard, sample };
  } catch (error) {
    return { kind: 'dead', error };
  }
}

/** sharp's own errors become ImageDecodeErrors, so the DLQ record carries a reason. */
async function decodeImage(bytes: Uint8Array, size: number): Promise<Uint8Array> {
  try {
    return await decodeRgb(bytes, size);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw new ImageDecodeError('corrupt-image', `sample image does not decode: ${(err as Error).message}`);
  }
}

function describeAnchors(a: Pick<TeacherAnchorConfig, 'levels' | 'sizeFactor' | 'ratios' | 'scalesPerOctave'>): string {
  return `{levels [${a.levels.join(', ')}], sizeFactor ${a.sizeFactor}, ratios [${a.ratios.join(', ')}], scalesPerOctave ${a.scalesPerOctave}}`;
}

// Shared builders for message tests: seeded random numbers, realistic teacher probabilities, example messages.
import type { ImageRef } from '../../src/messages/image_ref.ts';
import type { Sample } from '../../src/messages/sample.ts';
import { quantizeSoftLabels, type QuantizeOptions } from '../../src/messages/soft_labels.ts';
import { rng } from '../helpers/rng.ts';

export { rng };

function normal(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export interface TeacherDistribution {
  /** Mean and spread of background logits. */
  backgroundMean: number;
  backgroundStd: number;
  /** Objects in the image; each lights up `anchorsPerObject` neighbouring anchors for one class. */
  objects: number;
  anchorsPerObject: number;
}

/** A trained teacher: background q mostly 1e-4…1e-2, a few anchors per object near 0.5…0.95. */
export const CONFIDENT_TEACHER: TeacherDistribution = { backgroundMean: -6, backgroundStd: 1.5, objects: 3, anchorsPerObject: 20 };
/** A weaker teacher: background logits around the RetinaNet prior −ln(99) ≈ −4.6, more anchors lit per object. */
export const UNSURE_TEACHER: TeacherDistribution = { backgroundMean: -4.6, backgroundStd: 1, objects: 5, anchorsPerObject: 40 };

/** Teacher probabilities [anchors, classes] drawn from `dist`. */
export function teacherProbs(anchors: number, classes: number, dist: TeacherDistribution, seed = 1): Float32Array {
  const random = rng(seed);
  const q = new Float32Array(anchors * classes);
  for (let i = 0; i < q.length; i++) q[i] = sigmoid(dist.backgroundMean + dist.backgroundStd * normal(random));
  for (let o = 0; o < dist.objects; o++) {
    const centre = Math.floor(random() * anchors);
    const cls = Math.floor(random() * classes);
    for (let k = 0; k < dist.anchorsPerObject; k++) {
      const a = (centre + k * 7) % anchors; // spread over positions like the anchors of one object across scales
      q[a * classes + cls] = sigmoid(1.5 + 1.5 * normal(random));
    }
  }
  return q;
}

export function exampleImageRef(overrides: Partial<ImageRef> = {}): ImageRef {
  return {
    v: 1,
    imageId: '42',
    bucket: 'shapes',
    key: 'labeled/000042.jpg',
    etag: '"9b2cf535f27731c974343645a3985328"',
    size: 5123,
    split: 'labeled',
    width: 160,
    height: 120,
    gt: [
      { box: [10, 20, 50.5, 60], classId: 1 },
      { box: [70, 10, 100, 40], classId: 3, iscrowd: true },
    ],
    ...overrides,
  };
}

/** 128×128 input: levels 3–5 → (16² + 8² + 4²) positions × 9 anchors = 3024 anchors. */
export const ANCHORS_128 = 3024;
export const CLASSES = 4;

export function exampleSample(options: QuantizeOptions & { imageBytes?: number; seed?: number; dist?: TeacherDistribution } = {}): Sample {
  const random = rng(options.seed ?? 7);
  const jpeg = new Uint8Array(options.imageBytes ?? 8192);
  for (let i = 0; i < jpeg.length; i++) jpeg[i] = Math.floor(random() * 256);
  jpeg.set([0xff, 0xd8, 0xff], 0);
  const probs = teacherProbs(ANCHORS_128, CLASSES, options.dist ?? CONFIDENT_TEACHER, options.seed ?? 7);
  return {
    v: 1,
    ref: exampleImageRef(),
    image: { format: 'jpeg', width: 128, height: 128, bytes: jpeg, scale: 0.8, padX: 0, padY: 16 },
    hard: [
      { box: [8, 32, 40.4, 64], classId: 1, score: 0.91 },
      { box: [56, 24, 80, 48], classId: 3, score: 0.55 },
    ],
    soft: quantizeSoftLabels(probs, ANCHORS_128, CLASSES, options),
    teacher: {
      modelId: 'teacher-r50-shapes',
      modelHash: 'sha256:3f1c0d',
      scoreThreshold: 0.5,
      nmsIou: 0.5,
      anchorConfig: { levels: [3, 4, 5], sizeFactor: 4, ratios: [0.5, 1, 2], scalesPerOctave: 3, inputSize: 128 },
    },
  };
}

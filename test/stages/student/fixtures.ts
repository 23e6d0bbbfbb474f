// Builders for student tests: a topology with a tiny 64 px student stage, hand-made Samples from synthetic images.
import * as tf from '@tensorflow/tfjs';
import type { Box } from '../../../src/boxes/box.ts';
import { encodeJpeg } from '../../../src/image/letterbox.ts';
import { IMAGE_REF_VERSION } from '../../../src/messages/image_ref.ts';
import { encodeSample, SAMPLE_VERSION, type HardLabel, type Sample, type TeacherAnchorConfig } from '../../../src/messages/sample.ts';
import { quantizeSoftLabels } from '../../../src/messages/soft_labels.ts';
import { resolveDetectorConfig, totalAnchors, type DetectorConfig } from '../../../src/model/detector_config.ts';
import type { CompiledTopology, StudentStageOptions } from '../../../src/topology/types.ts';
import type { OutgoingMessage, Transport } from '../../../src/transport/transport.ts';
import { testTopology, tinyTeacherConfig } from '../ingest/topology_fixture.ts';

export const SIZE = 64;
export const CLASSES = 2;

/** A student small enough for a training step in tens of milliseconds on the cpu backend (756 anchors). */
export function tinyStudentConfig(): DetectorConfig {
  return resolveDetectorConfig({ name: 'tiny-student', inputSize: SIZE, numClasses: CLASSES, stemChannels: 4, stageChannels: [4, 4, 8, 8], blocksPerStage: 1, fpnChannels: 8, headDepth: 1 });
}

export const ANCHORS = totalAnchors(tinyStudentConfig());

export const DEFAULT_STUDENT: StudentStageOptions = {
  steps: 4,
  batchSize: 4,
  labeledFraction: 0.5,
  learningRate: 1e-3,
  warmupSteps: 2,
  clipNorm: 10,
  checkpointEvery: 2,
  checkpointPrefix: 'runs/test/student',
  evalEvery: 0,
  evalAnnotations: '',
  evalImages: 0,
  labeledOnly: false,
  bufferSize: 64,
  maxBatchWaitMs: 5000,
  seed: 5,
  augment: 'flip',
  trainingThread: true,
  trainingReplicas: 1,
};

/** The ingest/teacher test topology (2 classes) plus a student stage reading the samples topic. */
export function studentTopology(options: Partial<StudentStageOptions> = {}): CompiledTopology {
  const teacher = tinyTeacherConfig({ numClasses: CLASSES });
  const topology = testTopology({ teacherConfig: teacher });
  return {
    ...topology,
    student: tinyStudentConfig(),
    stages: [...topology.stages, { kind: 'student', name: 'student', parallelism: 1, input: 'samples', options: { ...DEFAULT_STUDENT, ...options } }],
  };
}

export function studentStage(topology: CompiledTopology): Extract<CompiledTopology['stages'][number], { kind: 'student' }> {
  const stage = topology.stages.find((s) => s.kind === 'student');
  if (stage?.kind !== 'student') throw new Error('no student stage');
  return stage;
}

export function anchorConfigOf(topology: CompiledTopology): TeacherAnchorConfig {
  const a = topology.anchors;
  return { levels: [...a.levels], sizeFactor: a.sizeFactor, ratios: [...a.ratios], scalesPerOctave: a.scalesPerOctave, inputSize: SIZE };
}

/** Grey image with one coloured square at `box` (model-input pixels), seeded noise so JPEG has content. */
export function syntheticPixels(box: Box, seed: number): Uint8Array {
  const pixels = new Uint8Array(SIZE * SIZE * 3);
  let s = seed >>> 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const inside = x >= box[0] && x < box[2] && y >= box[1] && y < box[3];
      const base = inside ? [220, 40, 40] : [120, 120, 120];
      const noise = (s >>> 28) - 8;
      for (let c = 0; c < 3; c++) pixels[(y * SIZE + x) * 3 + c] = Math.max(0, Math.min(255, base[c] + noise));
    }
  }
  return pixels;
}

/** Deterministic teacher probabilities [anchors, classes] spanning [0, 1]. */
export function syntheticProbs(seed: number, anchors = ANCHORS, classes = CLASSES): Float32Array {
  const q = new Float32Array(anchors * classes);
  for (let i = 0; i < q.length; i++) q[i] = ((i * 37 + seed * 101) % 256) / 255;
  return q;
}

export interface SampleSpec {
  id: string;
  split?: 'labeled' | 'unlabeled' | 'test';
  seed?: number;
  hard?: HardLabel[];
  anchorConfig?: Partial<TeacherAnchorConfig>;
  anchors?: number;
  classes?: number;
  softEpsilon?: number;
}

export async function makeSample(topology: CompiledTopology, spec: SampleSpec): Promise<Sample> {
  const seed = spec.seed ?? Number.parseInt(spec.id.replace(/\D/g, '') || '1', 10);
  const side = 16 + (seed % 3) * 8;
  const x = 4 + ((seed * 7) % (SIZE - side - 8));
  const y = 4 + ((seed * 11) % (SIZE - side - 8));
  const box: Box = [x, y, x + side, y + side];
  const anchors = spec.anchors ?? ANCHORS;
  const classes = spec.classes ?? CLASSES;
  return {
    v: SAMPLE_VERSION,
    ref: { v: IMAGE_REF_VERSION, imageId: spec.id, bucket: 'corpus', key: `img/${spec.id}.jpg`, etag: 'e', size: 1, split: spec.split ?? 'unlabeled', width: SIZE, height: SIZE },
    image: { format: 'jpeg', width: SIZE, height: SIZE, bytes: (await encodeJpeg(syntheticPixels(box, seed), SIZE, 90)) as Uint8Array<ArrayBuffer>, scale: 1, padX: 0, padY: 0 },
    hard: spec.hard ?? [{ box, classId: seed % classes, score: spec.split === 'labeled' ? 1 : 0.9 }],
    soft: quantizeSoftLabels(syntheticProbs(seed, anchors, classes), anchors, classes, { epsilon: spec.softEpsilon ?? 0 }),
    teacher: { modelId: 'tiny-teacher', modelHash: 'sha256:test', scoreThreshold: 0.5, nmsIou: 0.5, anchorConfig: { ...anchorConfigOf(topology), ...spec.anchorConfig } },
  };
}

export function sampleMessage(sample: Sample): OutgoingMessage {
  return { key: sample.ref.imageId, value: encodeSample(sample) };
}

export async function publish(transport: Transport, topic: string, messages: OutgoingMessage[]): Promise<void> {
  const producer = transport.producer();
  await producer.connect();
  await producer.send(topic, messages);
  await producer.disconnect();
}

/** Every weight of a model as plain arrays, by weight name. */
export async function weightValues(model: tf.LayersModel): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const w of model.weights) out.set(w.originalName, (await w.read().data()) as Float32Array);
  return out;
}

/** Polls `predicate` (stage counters change without transport events, so `waitUntil` would not notice). */
export async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

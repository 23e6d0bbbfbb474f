// Detector configuration: user-facing partial options, validation, and the teacher/student presets.
import { z } from 'zod';
import { anchorConfigFromDetector, anchorsPerLocation as perLocation, type AnchorConfig } from '../boxes/anchor_config.ts';
import { totalAnchors as anchorCount } from '../boxes/anchors.ts';

/** Fully-resolved detector configuration; every field is set. */
export interface DetectorConfig {
  /** Free-form name recorded in checkpoints (e.g. "teacher", "student"). */
  name: string;
  numClasses: number;
  /** Square input side in pixels; images are letterboxed to it. Must be a multiple of the largest stride. */
  inputSize: number;
  /** Channels of the stride-2 stem convolution. */
  stemChannels: number;
  /** Channels of the backbone stages at strides 4, 8, 16, 32; each stage halves the resolution. */
  stageChannels: [number, number, number, number];
  /** 3×3 convolutions per backbone stage (the first is strided; later ones are residual). */
  blocksPerStage: number;
  /** Channels of every FPN level and of the heads. */
  fpnChannels: number;
  /** 3×3 conv + ReLU layers in each head before its output conv. */
  headDepth: number;
  /** Pyramid levels the heads run on, e.g. [3, 4, 5] for P3…P5 (level l has stride 2^l). */
  levels: number[];
  /** Anchor base size = sizeFactor × stride. */
  anchorSizeFactor: number;
  /** Anchor aspect ratios (height / width). */
  anchorRatios: number[];
  anchorScalesPerOctave: number;
  /** Prior probability π of the class head's bias, −ln((1−π)/π). */
  priorProbability: number;
}

export type DetectorOptions = Partial<DetectorConfig>;

const MAX_LEVEL = 7;

const schema = z
  .object({
    name: z.string().min(1),
    numClasses: z.number().int().min(1).max(1000),
    inputSize: z.number().int().min(32).max(4096),
    stemChannels: z.number().int().min(1),
    stageChannels: z.tuple([z.number().int().min(1), z.number().int().min(1), z.number().int().min(1), z.number().int().min(1)]),
    blocksPerStage: z.number().int().min(1).max(8),
    fpnChannels: z.number().int().min(1),
    headDepth: z.number().int().min(0).max(8),
    levels: z.array(z.number().int().min(2).max(MAX_LEVEL)).min(1),
    anchorSizeFactor: z.number().positive(),
    anchorRatios: z.array(z.number().positive()).min(1),
    anchorScalesPerOctave: z.number().int().min(1).max(8),
    priorProbability: z.number().gt(0).lt(1),
  })
  .strict();

const COMMON: Omit<DetectorConfig, 'name' | 'stemChannels' | 'stageChannels' | 'blocksPerStage' | 'fpnChannels' | 'headDepth'> = {
  numClasses: 4,
  inputSize: 128,
  levels: [3, 4, 5],
  anchorSizeFactor: 4,
  anchorRatios: [0.5, 1, 2],
  anchorScalesPerOctave: 3,
  priorProbability: 0.01,
};

/** Default teacher: wider and deeper; the student must cost ≥ 4× fewer FLOPs. */
export const TEACHER_PRESET: DetectorConfig = {
  ...COMMON,
  name: 'teacher',
  stemChannels: 24,
  stageChannels: [32, 64, 96, 128],
  blocksPerStage: 2,
  fpnChannels: 64,
  headDepth: 2,
};

/** Default student: shares the teacher's anchor layout so soft labels align anchor for anchor. */
export const STUDENT_PRESET: DetectorConfig = {
  ...COMMON,
  name: 'student',
  stemChannels: 16,
  stageChannels: [16, 32, 48, 64],
  blocksPerStage: 1,
  fpnChannels: 32,
  headDepth: 1,
};

/**
 * A larger student at about ½ of the teacher's FLOPs (114.6 vs 247.9 MFLOPs/image, 2.2× fewer; the default student is
 * 5.3× fewer): the teacher's depth (two blocks per stage), ¾ of its widths and one head layer — the paper's
 * pair is in this range (about 0.6×).
 */
export const STUDENT_LARGE_PRESET: DetectorConfig = {
  ...COMMON,
  name: 'student-large',
  stemChannels: 16,
  stageChannels: [24, 48, 64, 96],
  blocksPerStage: 2,
  fpnChannels: 48,
  headDepth: 1,
};

export const PRESETS = { teacher: TEACHER_PRESET, student: STUDENT_PRESET, 'student-large': STUDENT_LARGE_PRESET } as const;
export type PresetName = keyof typeof PRESETS;

/** Resolves options over a preset (default: student) and validates the result. */
export function resolveDetectorConfig(options: DetectorOptions = {}, preset: PresetName = 'student'): DetectorConfig {
  const merged = { ...PRESETS[preset], ...options };
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid detector config: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const config = parsed.data as DetectorConfig;
  const maxStride = 2 ** Math.max(5, ...config.levels);
  if (config.inputSize % maxStride !== 0) {
    throw new Error(`invalid detector config: inputSize ${config.inputSize} must be a multiple of the largest stride ${maxStride}`);
  }
  if (new Set(config.levels).size !== config.levels.length || config.levels.some((l, i) => i > 0 && l <= config.levels[i - 1])) {
    throw new Error(`invalid detector config: levels must be strictly increasing, got [${config.levels.join(', ')}]`);
  }
  return { ...config, levels: [...config.levels], anchorRatios: [...config.anchorRatios], stageChannels: [...config.stageChannels] };
}

/** The anchor layout of a detector (shared by teacher and student so soft labels align). */
export function detectorAnchorConfig(config: DetectorConfig): AnchorConfig {
  return anchorConfigFromDetector(config);
}

/** Anchors per feature-map location. */
export function anchorsPerLocation(config: DetectorConfig): number {
  return perLocation(detectorAnchorConfig(config));
}

/** Total anchors per image, in the detector's output order (level by level). */
export function totalAnchors(config: DetectorConfig): number {
  return anchorCount(detectorAnchorConfig(config), config.inputSize, config.inputSize);
}

// Anchor layout configuration: partial options → validated, fully-resolved config shared by teacher and student.
import { z } from 'zod';

/**
 * Fully-resolved anchor layout. Level l has stride 2^l; every feature-map position carries
 * `ratios.length × scalesPerOctave` anchors. Teacher and student must use equal configs so that
 * soft labels align anchor for anchor.
 */
export interface AnchorConfig {
  /** Pyramid levels, strictly increasing (P3 = stride 8). Default [3, 4, 5]. */
  levels: number[];
  /** Anchor base size = sizeFactor × stride. Default 4 (RetinaNet's 32 px anchors on P3). */
  sizeFactor: number;
  /** Aspect ratios as height / width. Default [0.5, 1, 2]. */
  ratios: number[];
  /** Scales per octave: scale k is 2^(k / scalesPerOctave). Default 3. */
  scalesPerOctave: number;
}

export type AnchorOptions = Partial<AnchorConfig>;

export const DEFAULT_ANCHOR_CONFIG: Readonly<AnchorConfig> = Object.freeze({
  levels: [3, 4, 5],
  sizeFactor: 4,
  ratios: [0.5, 1, 2],
  scalesPerOctave: 3,
});

const schema = z
  .object({
    levels: z.array(z.number().int().min(0).max(10)).min(1),
    sizeFactor: z.number().positive().finite(),
    ratios: z.array(z.number().positive().finite()).min(1),
    scalesPerOctave: z.number().int().min(1).max(16),
  })
  .strict();

/** Fills defaults and validates; throws an Error naming the first bad field. */
export function resolveAnchorConfig(options: AnchorOptions = {}): AnchorConfig {
  const merged = { ...DEFAULT_ANCHOR_CONFIG, ...dropUndefined(options) };
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid anchor config: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const config = parsed.data;
  if (config.levels.some((l, i) => i > 0 && l <= config.levels[i - 1])) {
    throw new Error(`invalid anchor config: levels must be strictly increasing, got [${config.levels.join(', ')}]`);
  }
  if (new Set(config.ratios).size !== config.ratios.length) {
    throw new Error(`invalid anchor config: ratios must be distinct, got [${config.ratios.join(', ')}]`);
  }
  return { ...config, levels: [...config.levels], ratios: [...config.ratios] };
}

/**
 * Builds the anchor config from a detector config's anchor fields (structurally typed so this module
 * does not depend on the model code).
 */
export function anchorConfigFromDetector(detector: {
  levels: readonly number[];
  anchorSizeFactor: number;
  anchorRatios: readonly number[];
  anchorScalesPerOctave: number;
}): AnchorConfig {
  return resolveAnchorConfig({
    levels: [...detector.levels],
    sizeFactor: detector.anchorSizeFactor,
    ratios: [...detector.anchorRatios],
    scalesPerOctave: detector.anchorScalesPerOctave,
  });
}

/** Anchors per feature-map position (A in the head's `A × C` output channels). */
export function anchorsPerLocation(config: AnchorConfig): number {
  return config.ratios.length * config.scalesPerOctave;
}

/** The octave scales 2^(k / scalesPerOctave), k = 0 … scalesPerOctave−1. */
export function anchorScales(config: AnchorConfig): number[] {
  return Array.from({ length: config.scalesPerOctave }, (_, k) => 2 ** (k / config.scalesPerOctave));
}

/** True when two configs produce the same anchors (used to check teacher/student compatibility). */
export function anchorConfigsEqual(a: AnchorConfig, b: AnchorConfig): boolean {
  const same = (x: readonly number[], y: readonly number[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return same(a.levels, b.levels) && a.sizeFactor === b.sizeFactor && same(a.ratios, b.ratios) && a.scalesPerOctave === b.scalesPerOctave;
}

// `{ levels: undefined }` from an optional CLI/YAML field must mean "default", not "invalid".
function dropUndefined(options: AnchorOptions): AnchorOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as AnchorOptions;
}

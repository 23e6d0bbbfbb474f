// Options of the shapes-corpus generator: partial user options → validated, fully-resolved config.
import os from 'node:os';
import { z } from 'zod';

export const SPLITS = ['labeled', 'test', 'unlabeled'] as const;
export type SplitName = (typeof SPLITS)[number];

/**
 * Everything that determines the corpus's bytes. Two corpora with equal configs (and generator
 * version) are byte-identical; the manifest records it so a rerun can tell "same" from "different".
 */
export interface CorpusConfig {
  /** Seeds every random draw; any integer in [0, 2^32). */
  seed: number;
  /** Key prefix inside the store ('' = store root); splits go to `<prefix>/<split>/`. */
  prefix: string;
  /** Images per split. */
  images: Record<SplitName, number>;
  /** Share of unlabeled images with no object at all (exact: round(share × count) images). */
  emptyShare: number;
  /** Image sides in pixels; the long side is uniform in [min, max], the short side ≥ 60 % of it and ≥ min. */
  imageSize: { min: number; max: number };
  /**
   * Long side of object boxes in pixels *after letterboxing to `letterboxSize`*, log-uniform in
   * [min, max]; in the stored image they are larger by long side / letterboxSize.
   */
  objectSize: { min: number; max: number };
  /** The detector's input side that object sizes refer to. */
  letterboxSize: number;
  /** When objects overlap, an earlier (occluded) object keeps at least this share of its pixels visible. */
  minVisible: number;
  jpegQuality: number;
}

/** Called after each image is stored; `done` and `total` count images over all splits. */
export type ProgressFn = (done: number, total: number, split: SplitName) => void;

/** What `generateCorpus` does when the store already holds something at the corpus's keys. */
export type IfExists =
  /** Return the existing manifest when its config is identical and all images are present; else throw. */
  | 'reuse'
  /** Delete the existing corpus (manifest, split folders) and generate anew. */
  | 'replace';

export interface CorpusOptions {
  seed?: number;
  prefix?: string;
  images?: Partial<Record<SplitName, number>>;
  emptyShare?: number;
  imageSize?: Partial<CorpusConfig['imageSize']>;
  objectSize?: Partial<CorpusConfig['objectSize']>;
  letterboxSize?: number;
  minVisible?: number;
  jpegQuality?: number;
  /** Images in flight (rendering or being written); does not change the output. Default max(4, 2 × workers). */
  concurrency?: number;
  /** Worker threads that render; 0 renders on the calling thread. Does not change the output. Default min(4, cores). */
  workers?: number;
  /** Default 'reuse'. */
  ifExists?: IfExists;
  onProgress?: ProgressFn;
}

export interface ResolvedCorpusOptions {
  config: CorpusConfig;
  concurrency: number;
  workers: number;
  ifExists: IfExists;
  onProgress?: ProgressFn;
}

export const DEFAULT_CORPUS_CONFIG: Readonly<CorpusConfig> = Object.freeze({
  seed: 1,
  prefix: '',
  images: { labeled: 300, test: 200, unlabeled: 3000 },
  emptyShare: 0.3,
  imageSize: { min: 96, max: 256 },
  objectSize: { min: 12, max: 88 },
  letterboxSize: 128,
  minVisible: 0.5,
  jpegQuality: 90,
});

export function defaultWorkers(): number {
  return Math.min(4, os.availableParallelism());
}

/** Thrown for invalid options; `issues` name the fields (`images.labeled: …`). */
export class CorpusOptionsError extends Error {
  readonly retriable = false;
  constructor(readonly issues: readonly string[]) {
    super(`invalid corpus options: ${issues.join('; ')}`);
    this.name = 'CorpusOptionsError';
  }
}

const count = z.number().int().min(0).max(10_000_000);
const range = (lo: number, hi: number) =>
  z
    .object({ min: z.number().int().min(lo).max(hi), max: z.number().int().min(lo).max(hi) })
    .strict()
    .refine((r) => r.min <= r.max, { error: 'min must be ≤ max' });

const configSchema = z
  .object({
    seed: z.number().int().min(0).max(0xffffffff),
    prefix: z.string().refine(validPrefix, { error: "a relative key prefix without leading/trailing '/', '.', '..' or empty segments ('' for the root)" }),
    images: z.object({ labeled: count, test: count, unlabeled: count }).strict(),
    emptyShare: z.number().min(0).max(1),
    imageSize: range(32, 4096),
    objectSize: range(4, 4096),
    letterboxSize: z.number().int().min(32).max(4096),
    minVisible: z.number().min(0.1).max(1),
    jpegQuality: z.number().int().min(1).max(100),
  })
  .strict();

const extraSchema = z
  .object({
    concurrency: z.number().int().min(1).max(256),
    workers: z.number().int().min(0).max(64),
    ifExists: z.enum(['reuse', 'replace']),
  })
  .strict();

function validPrefix(prefix: string): boolean {
  if (prefix === '') return true;
  return !prefix.startsWith('/') && !prefix.endsWith('/') && prefix.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Fills defaults and validates; throws CorpusOptionsError listing every bad field. */
export function resolveCorpusOptions(options: CorpusOptions = {}): ResolvedCorpusOptions {
  const { concurrency, workers, ifExists, onProgress, images, imageSize, objectSize, ...flat } = options;
  const d = DEFAULT_CORPUS_CONFIG;
  const merged = {
    ...d,
    ...dropUndefined(flat),
    images: { ...d.images, ...dropUndefined(images ?? {}) },
    imageSize: { ...d.imageSize, ...dropUndefined(imageSize ?? {}) },
    objectSize: { ...d.objectSize, ...dropUndefined(objectSize ?? {}) },
  };
  const issues: string[] = [];
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) issues.push(...parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  const threads = workers ?? defaultWorkers();
  const extra = extraSchema.safeParse({ concurrency: concurrency ?? Math.max(4, 2 * threads), workers: threads, ifExists: ifExists ?? 'reuse' });
  if (!extra.success) issues.push(...extra.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  if (onProgress !== undefined && typeof onProgress !== 'function') issues.push('onProgress: expected a function');
  if (parsed.success) {
    const c = parsed.data;
    if (c.objectSize.max > c.letterboxSize) issues.push(`objectSize.max: ${c.objectSize.max} exceeds letterboxSize ${c.letterboxSize}`);
    if (c.images.labeled + c.images.test + c.images.unlabeled === 0) issues.push('images: every split is empty');
  }
  if (issues.length > 0 || !parsed.success || !extra.success) throw new CorpusOptionsError(issues);
  return { config: parsed.data, concurrency: extra.data.concurrency, workers: extra.data.workers, ifExists: extra.data.ifExists, onProgress };
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// Training checkpoints in the object store: weights, optimizer state, step, consumed offsets, RNG state and history.
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { joinKey, listAll, type ObjectStore } from '../io/object_store.ts';
import type { Detector } from '../model/detector.ts';
import { loadDetector, saveDetector, type LoadedDetector } from '../model/store_io.ts';
import type { NamedTensor } from './adam.ts';
import type { TrainHistory } from './history.ts';

/**
 * Layout under a prefix:
 *   <prefix>/step-<n>/model.json, group1-shard*.bin   detector weights (TF.js format, loadable on its own)
 *   <prefix>/step-<n>/optimizer.json, optimizer.bin    optimizer class, config and state (TF.js weights encoding)
 *   <prefix>/step-<n>/state.json                       step, offsets, rng, history
 *   <prefix>/latest.json                               pointer to the newest complete checkpoint, written last
 * A crash mid-save leaves latest.json on the previous checkpoint, which stays intact because pruning
 * only runs after the new pointer is written.
 */
export const CHECKPOINT_VERSION = 1;
export const LATEST_FILE = 'latest.json';

/** Everything besides weights and optimizer state that a resumed run needs. */
export interface CheckpointState {
  /** Optimizer steps completed. */
  step: number;
  /** Consumed input positions, opaque to this module (e.g. `{labeled: "3:40"}` or Kafka offsets per partition). */
  offsets: Record<string, string>;
  /** States of named random generators (uint32 each). */
  rng: Record<string, number>;
  history: TrainHistory;
  /** Free-form extras (dataset identity, config) that the caller wants to check on resume. */
  extra?: Record<string, unknown>;
}

export interface LatestPointer {
  v: number;
  step: number;
  /** Key of the checkpoint folder, relative to the prefix (`step-<n>`). */
  dir: string;
  savedAt: string;
}

/** Optimizer state as stored: bytes plus the TF.js weight specs that describe them. */
export interface SavedOptimizerState {
  className: string;
  config: Record<string, unknown>;
  iterations: number;
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
}

export interface LoadedCheckpoint {
  /** Full key of the checkpoint folder. */
  dir: string;
  detector: LoadedDetector;
  optimizer: SavedOptimizerState;
  state: CheckpointState;
}

export interface SaveCheckpointOptions {
  /** Keep this many newest checkpoints (≥ 1), delete older ones. Default 3. */
  keep?: number;
}

const historySchema = z.object({
  steps: z.array(z.object({ step: z.number(), lr: z.number(), total: z.number(), focal: z.number(), distillation: z.number(), localization: z.number(), gradNorm: z.number().optional(), ms: z.number() })),
  evals: z.array(
    z.object({
      step: z.number(),
      AP: z.number(),
      AP50: z.number(),
      AP75: z.number(),
      APs: z.number(),
      APm: z.number(),
      APl: z.number(),
      AR100: z.number(),
      images: z.number(),
      seconds: z.number(),
    }),
  ),
});

const stateSchema = z.object({
  v: z.literal(CHECKPOINT_VERSION),
  step: z.number().int().min(0),
  offsets: z.record(z.string(), z.string()),
  rng: z.record(z.string(), z.number().int().min(0).max(0xffffffff)),
  history: historySchema,
  extra: z.record(z.string(), z.unknown()).optional(),
});

const latestSchema = z.object({ v: z.literal(CHECKPOINT_VERSION), step: z.number().int().min(0), dir: z.string().regex(/^step-\d+$/), savedAt: z.string() });

const optimizerSchema = z.object({
  v: z.literal(CHECKPOINT_VERSION),
  className: z.string(),
  config: z.record(z.string(), z.unknown()),
  iterations: z.number().int().min(0),
  weights: z.array(z.object({ name: z.string(), shape: z.array(z.number().int()), dtype: z.enum(['float32', 'int32', 'bool', 'string', 'complex64']) }).loose()),
});

export function checkpointDirName(step: number): string {
  return `step-${step}`;
}

/** Saves a checkpoint as `<prefix>/step-<step>/…`, then points latest.json at it, then prunes old ones. Returns the folder key. */
export async function saveCheckpoint(
  store: ObjectStore,
  prefix: string,
  detector: Detector,
  optimizer: tf.Optimizer,
  state: CheckpointState,
  options: SaveCheckpointOptions = {},
): Promise<string> {
  const keep = options.keep ?? 3;
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be a positive integer, got ${keep}`);
  const name = checkpointDirName(state.step);
  const dir = joinKey(prefix, name);
  await saveDetector(detector, store, dir, { step: state.step });

  const encoded = await encodeOptimizerState(optimizer);
  await store.put(joinKey(dir, 'optimizer.bin'), new Uint8Array(encoded.data), { contentType: 'application/octet-stream' });
  const optimizerJson = {
    v: CHECKPOINT_VERSION,
    className: encoded.className,
    config: encoded.config,
    iterations: encoded.iterations,
    weights: encoded.specs,
  };
  await store.put(joinKey(dir, 'optimizer.json'), JSON.stringify(optimizerJson), { contentType: 'application/json' });
  await store.put(joinKey(dir, 'state.json'), JSON.stringify({ v: CHECKPOINT_VERSION, ...state }), { contentType: 'application/json' });

  const latest: LatestPointer = { v: CHECKPOINT_VERSION, step: state.step, dir: name, savedAt: new Date().toISOString() };
  await store.put(joinKey(prefix, LATEST_FILE), JSON.stringify(latest), { contentType: 'application/json' });
  await pruneCheckpoints(store, prefix, keep, state.step);
  return dir;
}

/** The latest.json pointer under a prefix, or undefined when nothing was checkpointed there. */
export async function readLatest(store: ObjectStore, prefix: string): Promise<LatestPointer | undefined> {
  const key = joinKey(prefix, LATEST_FILE);
  if ((await store.head(key)) === undefined) return undefined;
  return parseJson(await store.get(key), key, latestSchema);
}

/**
 * Loads the checkpoint latest.json points to (or the one of `step`), or undefined when the prefix has
 * none. The detector is the caller's to dispose; pass `optimizer` to `restoreOptimizer`.
 */
export async function loadCheckpoint(store: ObjectStore, prefix: string, options: { step?: number } = {}): Promise<LoadedCheckpoint | undefined> {
  let name: string;
  if (options.step !== undefined) {
    name = checkpointDirName(options.step);
  } else {
    const latest = await readLatest(store, prefix);
    if (!latest) return undefined;
    name = latest.dir;
  }
  const dir = joinKey(prefix, name);
  const stateKey = joinKey(dir, 'state.json');
  if (options.step !== undefined && (await store.head(stateKey)) === undefined) return undefined;
  const { v: _v, ...state } = await parseJson(await store.get(stateKey), stateKey, stateSchema);
  const optimizerKey = joinKey(dir, 'optimizer.json');
  const opt = await parseJson(await store.get(optimizerKey), optimizerKey, optimizerSchema);
  const bytes = await store.get(joinKey(dir, 'optimizer.bin'));
  const optimizer: SavedOptimizerState = {
    className: opt.className,
    config: opt.config,
    iterations: opt.iterations,
    specs: opt.weights as tf.io.WeightsManifestEntry[],
    data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  };
  const detector = await loadDetector(store, dir);
  return { dir, detector, optimizer, state };
}

/** An optimizer's whole state as bytes + specs: what a checkpoint stores and what `restoreOptimizer` takes. */
export async function encodeOptimizerState(optimizer: tf.Optimizer): Promise<SavedOptimizerState> {
  const weights = (await optimizer.getWeights()) as NamedTensor[];
  try {
    const { data, specs } = await tf.io.encodeWeights(weights);
    return { className: optimizer.getClassName(), config: optimizer.getConfig() as Record<string, unknown>, iterations: optimizer.iterations, specs, data };
  } finally {
    // The iteration count comes back as a fresh scalar; the moments are the optimizer's live variables.
    if (weights[0]?.name === 'iter') weights[0].tensor.dispose();
  }
}

/**
 * Puts saved state into a freshly created optimizer of the same kind. The moments are matched to
 * variables by position, so the model must list its trainable variables in the same order as when saved.
 */
export async function restoreOptimizer(optimizer: tf.Optimizer, saved: SavedOptimizerState): Promise<void> {
  if (optimizer.getClassName() !== saved.className) {
    throw new Error(`checkpoint optimizer is ${saved.className}, cannot restore it into ${optimizer.getClassName()}`);
  }
  const map = tf.io.decodeWeights(saved.data, saved.specs);
  const list: NamedTensor[] = saved.specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
  try {
    await optimizer.setWeights(list);
  } finally {
    tf.dispose(Object.values(map));
  }
}

/** Steps of the checkpoint folders present under a prefix, ascending. */
export async function listCheckpointSteps(store: ObjectStore, prefix: string): Promise<number[]> {
  const steps = new Set<number>();
  const base = joinKey(prefix, 'step-');
  for await (const obj of listAll(store, base)) {
    const m = /^step-(\d+)\//.exec(obj.key.slice(base.length - 'step-'.length));
    if (m) steps.add(Number(m[1]));
  }
  return [...steps].sort((a, b) => a - b);
}

/**
 * Keeps `current` and the `keep − 1` newest folders before it; deletes the rest. Folders past `current`
 * are leftovers of a save that never reached latest.json, so they go too.
 */
export async function pruneCheckpoints(store: ObjectStore, prefix: string, keep: number, current: number): Promise<number[]> {
  const steps = await listCheckpointSteps(store, prefix);
  const kept = new Set(steps.filter((s) => s <= current).slice(-keep));
  kept.add(current);
  const doomed = steps.filter((s) => !kept.has(s));
  for (const step of doomed) {
    const dir = `${joinKey(prefix, checkpointDirName(step))}/`;
    const keys: string[] = [];
    for await (const obj of listAll(store, dir)) keys.push(obj.key);
    for (const key of keys) await store.delete(key);
  }
  return doomed;
}

function parseJson<S extends z.ZodType>(bytes: Uint8Array, key: string, schema: S): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new Error(`${key}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${key}: invalid checkpoint file: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

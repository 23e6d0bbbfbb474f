// Batched inference over stored images: fetch + letterbox (as the teacher stage does) → model → post-processing → original-image boxes.
import * as tf from '@tensorflow/tfjs';
import { generateAnchors } from '../boxes/anchors.ts';
import { toOriginalDetections } from '../eval/evaluate_detector.ts';
import type { ObjectStore } from '../io/object_store.ts';
import { preprocessImages } from '../model/detector.ts';
import { detectorAnchorConfig } from '../model/detector_config.ts';
import { postprocess, type Detection, type PostprocessOptions } from '../postprocess/detections.ts';
import { prepareImage, type PreparedImage } from '../stages/teacher/prepare_image.ts';
import { RetriesExhaustedError } from '../stages/teacher/retry.ts';
import { DEFAULT_TEACHER_OPTIONS } from '../topology/defaults.ts';
import type { DetectionModel } from './load_model.ts';

/** One image to run on: an object of a store (a local directory is a store too). */
export interface DetectSource {
  store: ObjectStore;
  key: string;
  /** How the image is named in output and matched against annotation file names (e.g. `images/000001.jpg`). */
  name: string;
}

export type DetectResult =
  | { kind: 'image'; source: DetectSource; width: number; height: number; /** Original-image pixels. */ detections: Detection[] }
  | { kind: 'error'; source: DetectSource; reason: string; detail: string };

export interface DetectOptions {
  /** Images per forward pass. Default 8. */
  batchSize?: number;
  /** Post-processing (default: score > 0.05, top-1000 per level, NMS 0.5, 100 per image, as evaluation uses). */
  postprocess?: Omit<PostprocessOptions, 'imageSize'>;
  /** Refuse larger images before decoding them. Default 40 Mpixel. */
  maxImagePixels?: number;
  signal?: AbortSignal;
}

/**
 * Yields one result per source, in input order. An image that cannot be read or decoded yields an `error`
 * result and the rest go on; nothing else stops the run short of a model failure.
 */
export async function* detectImages(model: DetectionModel, sources: Iterable<DetectSource>, options: DetectOptions = {}): AsyncGenerator<DetectResult> {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const size = model.config.inputSize;
  const anchors = generateAnchors(detectorAnchorConfig(model.config), size, size);
  let chunk: DetectSource[] = [];
  const flush = async (): Promise<DetectResult[]> => {
    options.signal?.throwIfAborted();
    const prepared = await Promise.all(chunk.map((source) => prepare(source, size, options.maxImagePixels ?? DEFAULT_TEACHER_OPTIONS.maxImagePixels)));
    chunk = [];
    const images = prepared.filter((p): p is { source: DetectSource; image: PreparedImage } => 'image' in p);
    const detections = images.length === 0 ? [] : await infer(model, images.map((p) => p.image.pixels), anchors, options.postprocess);
    let next = 0;
    return prepared.map((p) => {
      if (!('image' in p)) return p;
      const { transform } = p.image;
      return { kind: 'image', source: p.source, width: transform.width, height: transform.height, detections: toOriginalDetections(detections[next++], p.image) };
    });
  };
  for (const source of sources) {
    chunk.push(source);
    if (chunk.length === batchSize) yield* await flush();
  }
  if (chunk.length > 0) yield* await flush();
}

async function prepare(source: DetectSource, size: number, maxImagePixels: number): Promise<{ source: DetectSource; image: PreparedImage } | Extract<DetectResult, { kind: 'error' }>> {
  const ref = { v: 1 as const, imageId: source.name, bucket: '', key: source.key, etag: '', size: 0, split: 'unlabeled' as const };
  try {
    const prepared = await prepareImage(source.store, ref, { inputSize: size, maxImagePixels, maxObjectBytes: DEFAULT_TEACHER_OPTIONS.maxObjectBytes, retry: { retries: 2 } });
    if (prepared.kind === 'unusable') return { kind: 'error', source, reason: prepared.reason, detail: prepared.detail };
    return { source, image: prepared };
  } catch (error) {
    // The teacher stage fails its batch on an outage so nothing is lost; here a user is better served by the rest.
    if (error instanceof RetriesExhaustedError) return { kind: 'error', source, reason: 'fetch-failed', detail: error.message };
    throw error;
  }
}

/** One forward pass + post-processing; boxes in model-input pixels. Leaves no tensors behind. */
async function infer(
  model: DetectionModel,
  images: readonly Uint8Array[],
  anchors: ReturnType<typeof generateAnchors>,
  options: DetectOptions['postprocess'],
): Promise<Detection[][]> {
  const size = model.config.inputSize;
  const batch = new Int32Array(images.length * size * size * 3);
  images.forEach((img, i) => batch.set(img, i * size * size * 3));
  const [classLogits, boxDeltas] = tf.tidy(() => {
    const out = model.predict(preprocessImages(tf.tensor4d(batch, [images.length, size, size, 3], 'int32')));
    return [out.classLogits, out.boxDeltas];
  });
  try {
    return await postprocess(classLogits, boxDeltas, anchors.boxes, anchors.levels, { ...options, imageSize: { height: size, width: size } });
  } finally {
    tf.dispose([classLogits, boxDeltas]);
  }
}

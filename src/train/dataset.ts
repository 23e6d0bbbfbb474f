// A COCO split held in memory at model input size (uint8 pixels + boxes), and the seeded, resumable batch stream over it.
import * as tf from '@tensorflow/tfjs';
import pLimit from 'p-limit';
import type { AnchorSet } from '../boxes/anchors.ts';
import type { AssignOptions } from '../boxes/assign.ts';
import type { Box } from '../boxes/box.ts';
import { imageKeyOf, readCocoAnnotations } from '../corpus/coco.ts';
import type { CocoGroundTruth } from '../eval/coco_types.ts';
import { decodeLetterboxed, DEFAULT_DECODE_LIMITS, ImageDecodeError, toInputBox, type LetterboxTransform } from '../image/letterbox.ts';
import { ObjectNotFoundError, type ObjectStore } from '../io/object_store.ts';
import { preprocessImages } from '../model/detector.ts';
import type { Logger } from '../util/logger.ts';
import { categoryMap, sameCategories, type CategoryMap } from '../eval/coco_categories.ts';
import { augmentImage, type AugmentOptions } from './augment.ts';
import { mixSeed, SeededRng } from './rng.ts';
import { batchTensors, type PackedBatch } from './packed_batch.ts';
import { disposeTargets, type BatchTargets, type ImageBoxes } from './targets.ts';

/** One image of a split, letterboxed to the model input. */
export interface DatasetImage {
  /** COCO image id. */
  id: number;
  /** Store key the image was read from. */
  key: string;
  /** RGB, row-major, size × size × 3 (uint8 keeps 300 images at 128 px under 15 MB). */
  pixels: Uint8Array;
  transform: LetterboxTransform;
  /** Non-crowd ground-truth boxes in model-input pixels, with their 0-based class indices. */
  boxes: Box[];
  classIds: number[];
  /** Crowd regions (`iscrowd: 1`) in model-input pixels: their background anchors are ignored, not trained as background. */
  ignore: Box[];
}

export interface SkippedImage {
  id: number;
  key: string;
  reason: string;
}

/** A loaded split. `gt` is the original annotation file (original-image pixels), for COCO evaluation. */
export interface DetectionDataset {
  annotationsKey: string;
  inputSize: number;
  categories: CategoryMap;
  gt: CocoGroundTruth;
  /** In annotation-file order, without the skipped ones. */
  images: DatasetImage[];
  skipped: SkippedImage[];
}

export interface LoadDatasetOptions {
  /** Model input side the images are letterboxed to. */
  inputSize: number;
  /** Parallel fetch + decode (default 8). */
  concurrency?: number;
  /** Load only the first n images of the file (0 = all). */
  limit?: number;
  /** Images with more pixels are skipped undecoded. */
  maxPixels?: number;
  logger?: Logger;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Individual warnings logged before switching to a summary, so a broken split does not flood the log. */
const MAX_SKIP_WARNINGS = 10;

/**
 * Reads a COCO annotation file from the store, then fetches, decodes and letterboxes its images with
 * bounded concurrency. Images are looked up relative to the annotation file's folder (`file_name`).
 * Missing, empty, corrupt or oversized images are skipped and counted, not fatal; store failures are.
 */
export async function loadCocoDataset(store: ObjectStore, annotationsKey: string, options: LoadDatasetOptions): Promise<DetectionDataset> {
  const { inputSize, logger } = options;
  const gt = await readCocoAnnotations(store, annotationsKey);
  const categories = categoryMap(gt.categories);
  const entries = options.limit ? gt.images.slice(0, options.limit) : gt.images;
  const byImage = new Map<number, { boxes: Box[]; classIds: number[]; ignore: Box[] }>();
  for (const a of gt.annotations) {
    const [x, y, w, h] = a.bbox;
    if (!(w > 0 && h > 0)) continue;
    let list = byImage.get(a.image_id);
    if (!list) byImage.set(a.image_id, (list = { boxes: [], classIds: [], ignore: [] }));
    // Crowd regions mark "objects here, not labeled one by one": neither positives nor background, so ignored.
    if (a.iscrowd === 1 || a.iscrowd === true) {
      list.ignore.push([x, y, x + w, y + h]);
      continue;
    }
    list.boxes.push([x, y, x + w, y + h]);
    list.classIds.push(categories.classOf(a.category_id));
  }

  const limit = pLimit(options.concurrency ?? 8);
  const limits = { maxPixels: options.maxPixels ?? DEFAULT_DECODE_LIMITS.maxPixels };
  const skipped: SkippedImage[] = [];
  let done = 0;
  const skip = (id: number, key: string, reason: string): undefined => {
    skipped.push({ id, key, reason });
    if (skipped.length <= MAX_SKIP_WARNINGS) logger?.warn({ image: id, key, reason }, 'skipping unusable image');
    return undefined;
  };
  const loaded = await Promise.all(
    entries.map((entry) =>
      limit(async (): Promise<DatasetImage | undefined> => {
        options.signal?.throwIfAborted();
        const key = entry.file_name ? imageKeyOf(annotationsKey, entry.file_name) : '';
        try {
          if (!key) return skip(entry.id, key, 'image has no file_name');
          let bytes: Uint8Array;
          try {
            bytes = await store.get(key);
          } catch (err) {
            if (err instanceof ObjectNotFoundError) return skip(entry.id, key, 'object not found');
            throw err;
          }
          try {
            const { pixels, transform } = await decodeLetterboxed(bytes, inputSize, limits);
            const gtBoxes = byImage.get(entry.id) ?? { boxes: [], classIds: [], ignore: [] };
            const boxes = gtBoxes.boxes.map((b) => toInputBox(b, transform));
            return { id: entry.id, key, pixels, transform, boxes, classIds: gtBoxes.classIds, ignore: gtBoxes.ignore.map((b) => toInputBox(b, transform)) };
          } catch (err) {
            if (err instanceof ImageDecodeError) return skip(entry.id, key, `${err.reason}: ${err.message}`);
            throw err;
          }
        } finally {
          options.onProgress?.(++done, entries.length);
        }
      }),
    ),
  );
  const images = loaded.filter((im): im is DatasetImage => im !== undefined);
  if (skipped.length > 0) {
    logger?.warn({ annotations: annotationsKey, skipped: skipped.length, loaded: images.length }, `skipped ${skipped.length} unusable image(s)`);
  }
  return { annotationsKey, inputSize, categories, gt, images, skipped };
}

/**
 * Several splits trained as one (e.g. the labeled images and pseudo-labeled unlabeled ones): same input size and
 * categories required. Image and annotation ids of each later split are shifted past the earlier ones', in the
 * images and in `gt` alike, so the merged split is still one valid COCO set.
 */
export function mergeDatasets(datasets: readonly DetectionDataset[]): DetectionDataset {
  if (datasets.length === 0) throw new RangeError('mergeDatasets: no split to merge');
  if (datasets.length === 1) return datasets[0];
  const [first] = datasets;
  const gt: CocoGroundTruth = { images: [], annotations: [], categories: first.gt.categories };
  const images: DatasetImage[] = [];
  const skipped: SkippedImage[] = [];
  let imageBase = 0;
  let annotationBase = 0;
  for (const d of datasets) {
    if (d.inputSize !== first.inputSize) throw new Error(`${d.annotationsKey} is letterboxed to ${d.inputSize} px, ${first.annotationsKey} to ${first.inputSize} px`);
    if (!sameCategories(d.categories, first.categories)) {
      throw new Error(`${d.annotationsKey} has categories [${d.categories.categoryIds.join(', ')}], ${first.annotationsKey} [${first.categories.categoryIds.join(', ')}]: they cannot be trained as one split`);
    }
    const base = imageBase;
    const annBase = annotationBase;
    gt.images.push(...d.gt.images.map((im) => ({ ...im, id: im.id + base })));
    gt.annotations.push(...d.gt.annotations.map((a) => ({ ...a, id: a.id + annBase, image_id: a.image_id + base })));
    images.push(...d.images.map((im) => ({ ...im, id: im.id + base })));
    skipped.push(...d.skipped.map((sk) => ({ ...sk, id: sk.id + base })));
    // A loop, not Math.max(...ids): spreading a web-scale split's ids would overflow the call stack.
    imageBase += d.gt.images.reduce((m, im) => Math.max(m, im.id), 0);
    annotationBase += d.gt.annotations.reduce((m, a) => Math.max(m, a.id), 0);
  }
  return { annotationsKey: datasets.map((d) => d.annotationsKey).join(' + '), inputSize: first.inputSize, categories: first.categories, gt, images, skipped };
}

/**
 * Stacks images into the detector's input tensor [batch, size, size, 3] (preprocessed floats); with
 * `flips[i]` image i is mirrored left–right.
 */
export function imagesToTensor(images: readonly DatasetImage[], size: number, flips?: readonly boolean[]): tf.Tensor4D {
  const raw = imagePixels(images, size, flips);
  return tf.tidy(() => preprocessImages(tf.tensor4d(raw, [images.length, size, size, 3])));
}

/** The images' pixels stacked [batch, size, size, 3] in the uint8 range, image i mirrored when `flips[i]`. */
function imagePixels(images: readonly DatasetImage[], size: number, flips?: readonly boolean[]): Float32Array {
  const plane = size * size * 3;
  const raw = new Float32Array(images.length * plane);
  images.forEach((im, i) => {
    if (im.pixels.length !== plane) throw new RangeError(`image ${im.id} has ${im.pixels.length} bytes, expected ${plane} (${size} px)`);
    const out = i * plane;
    if (flips?.[i]) mirrorPixels(im.pixels, size, raw, out);
    else raw.set(im.pixels, out);
  });
  return raw;
}

/** Writes a size × size RGB image mirrored left–right into `out` at `offset` (column x ← column size − 1 − x). */
export function mirrorPixels(pixels: ArrayLike<number>, size: number, out: { [i: number]: number }, offset = 0): void {
  for (let y = 0; y < size; y++) {
    const row = y * size * 3;
    for (let x = 0; x < size; x++) {
      const from = row + (size - 1 - x) * 3;
      const to = offset + row + x * 3;
      out[to] = pixels[from];
      out[to + 1] = pixels[from + 1];
      out[to + 2] = pixels[from + 2];
    }
  }
}

/** A box mirrored left–right inside a size-wide input. */
export function flipBox(box: Box, size: number): Box {
  return [size - box[2], box[1], size - box[0], box[3]];
}

/** Where a batch stream stands: `index` images of epoch `epoch`'s order have been consumed. */
export interface SamplerPosition {
  epoch: number;
  index: number;
}

export const START_POSITION: Readonly<SamplerPosition> = Object.freeze({ epoch: 0, index: 0 });

/** `{epoch: 3, index: 40}` ↔ `"3:40"`: the form consumed offsets take in checkpoints. */
export function formatPosition(p: SamplerPosition): string {
  return `${p.epoch}:${p.index}`;
}

export function parsePosition(text: string): SamplerPosition {
  const m = /^(\d+):(\d+)$/.exec(text);
  if (!m) throw new Error(`invalid sampler position '${text}' (expected '<epoch>:<index>')`);
  return { epoch: Number(m[1]), index: Number(m[2]) };
}

/** Image order of one epoch: a function of (seed, epoch) only, so any position can be resumed. */
export function epochOrder(count: number, seed: number, epoch: number): number[] {
  return new SeededRng(mixSeed(seed, epoch)).shuffle(Array.from({ length: count }, (_, i) => i));
}

export interface BatchOptions {
  anchors: AnchorSet;
  /** Seed of the per-epoch shuffles. */
  shuffleSeed: number;
  /** Continue from here (a position a previous stream reported). Default the start of epoch 0. */
  start?: SamplerPosition;
  /** Mirror each image left–right with probability ½, drawn from the rng. Default false. Ignored when `augment` is given. */
  flip?: boolean;
  /** Flip + zoom + colour jitter (src/train/augment.ts), drawn from the rng; replaces `flip`. */
  augment?: AugmentOptions;
  assign?: AssignOptions;
}

export interface TrainBatch {
  images: tf.Tensor4D; // [batch, size, size, 3]
  targets: BatchTargets;
  imageIds: number[];
  flipped: boolean[];
  /** The boxes the targets were built from (mirrored for flipped images), in input pixels. */
  boxes: ImageBoxes[];
  /** Position after this batch: resuming from it yields the batch that would have come next. */
  position: SamplerPosition;
}

export function disposeBatch(batch: TrainBatch): void {
  batch.images.dispose();
  disposeTargets(batch.targets);
}

/**
 * An endless stream of full training batches: epochs of shuffled images, a batch may straddle two
 * epochs. Tensors are created only when a batch is pulled; the consumer disposes each (disposeBatch).
 * The stream is exactly reproducible from (shuffleSeed, start position, rng state).
 */
export function* trainingBatches(dataset: DetectionDataset, batchSize: number, rng: SeededRng, options: BatchOptions): Generator<TrainBatch, never, void> {
  const numClasses = dataset.categories.numClasses;
  for (const { packed, ...rest } of packedTrainingBatches(dataset, batchSize, rng, options)) {
    const { images, targets } = batchTensors(packed, { anchors: options.anchors, numClasses, assign: options.assign });
    yield { images, targets, ...rest };
  }
  throw new Error('unreachable: the batch stream is endless');
}

/** A batch of `packedTrainingBatches`: the arrays a training thread takes, and what the batch is made of. */
export interface PackedTrainBatch extends Omit<TrainBatch, 'images' | 'targets'> {
  packed: PackedBatch;
}

/** The stream of `trainingBatches` as arrays (pixels mirrored or augmented, boxes to match), no tensors. */
export function* packedTrainingBatches(dataset: DetectionDataset, batchSize: number, rng: SeededRng, options: BatchOptions): Generator<PackedTrainBatch, never, void> {
  const n = dataset.images.length;
  if (n === 0) throw new Error(`${dataset.annotationsKey}: no usable images to train on`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const size = dataset.inputSize;
  let { epoch, index } = options.start ?? START_POSITION;
  let order = epochOrder(n, options.shuffleSeed, epoch);
  for (;;) {
    let picked: DatasetImage[] = [];
    const flips: boolean[] = [];
    while (picked.length < batchSize) {
      if (index >= n) {
        epoch++;
        index = 0;
        order = epochOrder(n, options.shuffleSeed, epoch);
      }
      picked.push(dataset.images[order[index++]]);
      if (!options.augment) flips.push(options.flip === true && rng.next() < 0.5);
    }
    let boxes: ImageBoxes[];
    if (options.augment) {
      const augment = options.augment;
      const augmented = picked.map((im) => augmentImage(im, size, rng, augment));
      boxes = augmented.map((a) => ({ boxes: a.boxes, classIds: a.classIds, ignore: a.ignore }));
      flips.push(...augmented.map((a) => a.flipped));
      // The pixels already carry the flip.
      picked = picked.map((im, i) => ({ ...im, pixels: augmented[i].pixels }));
    } else {
      boxes = picked.map((im, i) => ({
        boxes: flips[i] ? im.boxes.map((b) => flipBox(b, size)) : im.boxes,
        classIds: im.classIds,
        ignore: flips[i] ? im.ignore.map((b) => flipBox(b, size)) : im.ignore,
      }));
    }
    const pixels = imagePixels(picked, size, options.augment ? undefined : flips);
    const packed: PackedBatch = { size: picked.length, inputSize: size, pixels, hard: boxes, labeled: picked.length, unlabeled: 0 };
    yield { packed, imageIds: picked.map((im) => im.id), flipped: flips, boxes, position: { epoch, index } };
  }
}

// COCO evaluation of a detector on a loaded split: batched inference → post-processing → original-image boxes → AP/AR.
import { setImmediate as yieldToIo } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs';
import { generateAnchors, type AnchorSet } from '../boxes/anchors.ts';
import { toOriginalBox } from '../image/letterbox.ts';
import { forward, type Detector } from '../model/detector.ts';
import { detectorAnchorConfig } from '../model/detector_config.ts';
import { postprocess, type Detection, type PostprocessOptions } from '../postprocess/detections.ts';
import { imagesToTensor, type DetectionDataset, type DatasetImage } from '../train/dataset.ts';
import { evaluateCoco, type CocoMetrics } from './coco_eval.ts';
import { toCocoResults } from './coco_results.ts';

export interface EvaluateDetectorOptions {
  /** Images per forward pass (default 8). */
  batchSize?: number;
  /** Post-processing thresholds (defaults: score > 0.05, top-1000 per level, NMS 0.5, 100 per image). */
  postprocess?: Omit<PostprocessOptions, 'imageSize'>;
  /** Evaluate only the first n images of the split (0 = all). */
  maxImages?: number;
  signal?: AbortSignal;
}

export interface DetectorEvaluation {
  metrics: CocoMetrics;
  /** Per image id, detections in original-image pixels (for drawing and error analysis). */
  detections: Map<number, Detection[]>;
  numImages: number;
  seconds: number;
}

/**
 * Runs `detector` over a split loaded at its input size and scores it with the COCO protocol against the
 * split's original annotations. Only the evaluated images count (skipped or beyond `maxImages` ones are
 * left out of the ground truth too, so they are not scored as misses).
 */
export async function evaluateDetector(detector: Detector, dataset: DetectionDataset, options: EvaluateDetectorOptions = {}): Promise<DetectorEvaluation> {
  const started = performance.now();
  const size = detector.config.inputSize;
  if (dataset.inputSize !== size) throw new Error(`dataset is letterboxed to ${dataset.inputSize} px but the detector takes ${size} px`);
  if (dataset.categories.numClasses !== detector.config.numClasses) {
    throw new Error(`${dataset.annotationsKey} has ${dataset.categories.numClasses} categories but the detector has ${detector.config.numClasses} classes`);
  }
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const images = options.maxImages ? dataset.images.slice(0, options.maxImages) : dataset.images;
  const anchors: AnchorSet = generateAnchors(detectorAnchorConfig(detector.config), size, size);
  const inInput = new Map<number, Detection[]>();
  for (let i = 0; i < images.length; i += batchSize) {
    // A turn of the event loop per batch: a forward pass on tfjs-node resolves without one, and the caller's other
    // work (a training thread's replies, a co-located stage's I/O) would wait for the whole evaluation.
    if (i > 0) await yieldToIo();
    options.signal?.throwIfAborted();
    const chunk = images.slice(i, i + batchSize);
    const [classLogits, boxDeltas] = tf.tidy(() => {
      const out = forward(detector, imagesToTensor(chunk, size));
      return [out.classLogits, out.boxDeltas];
    });
    try {
      const perImage = await postprocess(classLogits, boxDeltas, anchors.boxes, anchors.levels, {
        ...options.postprocess,
        imageSize: { height: size, width: size },
      });
      chunk.forEach((im, j) => inInput.set(im.id, perImage[j]));
    } finally {
      tf.dispose([classLogits, boxDeltas]);
    }
  }
  const { metrics, detections } = evaluateInputDetections(dataset, inInput);
  return { metrics, detections, numImages: images.length, seconds: (performance.now() - started) / 1000 };
}

/**
 * Maps detections from model-input pixels back to each image's original pixels, dropping boxes that
 * lie entirely in the letterbox padding.
 */
export function toOriginalDetections(detections: readonly Detection[], image: Pick<DatasetImage, 'transform'>): Detection[] {
  const out: Detection[] = [];
  for (const d of detections) {
    const box = toOriginalBox(d.box, image.transform);
    if (box[2] > box[0] && box[3] > box[1]) out.push({ box, score: d.score, classId: d.classId });
  }
  return out;
}

/**
 * The evaluation half of `evaluateDetector`: scores detections given in model-input pixels for the
 * images of `perImage` (image id → detections). Exposed so the plumbing can be checked with known boxes.
 */
export function evaluateInputDetections(dataset: DetectionDataset, perImage: ReadonlyMap<number, readonly Detection[]>): { metrics: CocoMetrics; detections: Map<number, Detection[]> } {
  const byId = new Map(dataset.images.map((im) => [im.id, im]));
  const detections = new Map<number, Detection[]>();
  for (const [id, dets] of perImage) {
    const image = byId.get(id);
    if (!image) throw new Error(`detections for image ${id}, which is not a loaded image of ${dataset.annotationsKey}`);
    detections.set(id, toOriginalDetections(dets, image));
  }
  const results = toCocoResults(detections, { categoryIds: dataset.categories.categoryIds });
  const metrics = evaluateCoco(dataset.gt, results, { imgIds: [...perImage.keys()] });
  return { metrics, detections };
}

// One batched teacher forward pass: per-anchor sigmoid probabilities (soft labels) and post-processed detections.
import * as tf from '@tensorflow/tfjs';
import { forward, preprocessImages } from '../../model/detector.ts';
import { postprocess, type Detection } from '../../postprocess/detections.ts';
import type { ThresholdConfig } from '../../topology/types.ts';
import type { TeacherModel } from './teacher_model.ts';

export interface TeacherOutputs {
  /** Sigmoid class probabilities q, [batch, anchors, classes] flattened (class fastest). */
  probs: Float32Array;
  /** Per image, after threshold, top-k per level, class-wise NMS; boxes in model-input pixels. */
  detections: Detection[][];
  anchors: number;
  classes: number;
}

/** Timing callback for metrics: the forward pass (`infer`) and post-processing (`nms`), once per batch. */
export type InferStepTimer = (step: 'infer' | 'nms', seconds: number) => void;

/** Runs the teacher on letterboxed RGB images ([size, size, 3] each). Leaves no tensors behind. */
export async function inferTeacher(teacher: TeacherModel, images: readonly Uint8Array[], thresholds: ThresholdConfig, onStep?: InferStepTimer): Promise<TeacherOutputs> {
  const size = teacher.inputSize;
  const pixelsPerImage = size * size * 3;
  if (images.length === 0) throw new RangeError('inferTeacher: no images');
  const batch = new Int32Array(images.length * pixelsPerImage);
  images.forEach((img, i) => {
    if (img.length !== pixelsPerImage) throw new RangeError(`inferTeacher: image ${i} has ${img.length} bytes, expected ${size}×${size}×3`);
    batch.set(img, i * pixelsPerImage);
  });
  const started = performance.now();
  const [classLogits, boxDeltas, probs] = tf.tidy(() => {
    const x = preprocessImages(tf.tensor4d(batch, [images.length, size, size, 3], 'int32'));
    const out = forward(teacher.detector, x);
    return [out.classLogits, out.boxDeltas, tf.sigmoid(out.classLogits) as tf.Tensor3D]; // [b, A, C] ×2, [b, A, 4]
  });
  try {
    // Reading q first waits for the forward pass even on backends that run it asynchronously, so `infer` holds it all.
    const probData = (await probs.data()) as Float32Array;
    const inferred = performance.now();
    onStep?.('infer', (inferred - started) / 1000);
    const detections = await postprocess(classLogits, boxDeltas, teacher.anchors.boxes, teacher.anchors.levels, {
      scoreThreshold: thresholds.candidate,
      topKPerLevel: thresholds.topKPerLevel,
      nmsIou: thresholds.nmsIou,
      maxDetections: thresholds.maxDetections,
      imageSize: { height: size, width: size },
    });
    onStep?.('nms', (performance.now() - inferred) / 1000);
    return { probs: probData, detections, anchors: classLogits.shape[1], classes: classLogits.shape[2] };
  } finally {
    classLogits.dispose();
    boxDeltas.dispose();
    probs.dispose();
  }
}

// Batches per-image anchor assignments into the tensors the detector loss consumes.
import * as tf from '@tensorflow/tfjs';
import { assignAnchors, type AnchorAssignment, type AssignOptions } from '../boxes/assign.ts';
import type { AnchorSet } from '../boxes/anchors.ts';
import { flattenBoxes, type Box } from '../boxes/box.ts';

/** Ground truth (or teacher hard labels) of one image, in model-input pixels. */
export interface ImageBoxes {
  boxes: readonly Box[];
  classIds: readonly number[];
  /** Regions whose background anchors are ignored (COCO crowd boxes, uncertain pseudo-labels); see assignAnchors. */
  ignore?: readonly Box[];
}

/** Loss targets for a batch; dispose with `disposeTargets`. */
export interface BatchTargets {
  classTargets: tf.Tensor3D; // [batch, anchors, classes] one-hot for positives
  boxTargets: tf.Tensor3D; // [batch, anchors, 4] encoded deltas for positives
  positive: tf.Tensor2D; // [batch, anchors] 1 = positive
  valid: tf.Tensor2D; // [batch, anchors] 1 = used by the classification losses (not ignored)
  numPositive: number;
}

/** Assigns anchors for each image on the CPU (cheap: ~3k anchors × a few boxes) and uploads once. */
export function buildTargets(anchors: AnchorSet, images: readonly ImageBoxes[], numClasses: number, options: AssignOptions = {}): BatchTargets {
  const a = anchors.numAnchors;
  const b = images.length;
  const cls = new Float32Array(b * a * numClasses);
  const box = new Float32Array(b * a * 4);
  const pos = new Float32Array(b * a);
  const valid = new Float32Array(b * a);
  let numPositive = 0;
  images.forEach((image, i) => {
    const flat = new Float32Array(image.boxes.length * 4);
    image.boxes.forEach((bx, j) => flat.set(bx, j * 4));
    const regions = image.ignore === undefined || image.ignore.length === 0 ? undefined : flattenBoxes(image.ignore);
    const assignment: AnchorAssignment = assignAnchors(anchors.boxes, flat, image.classIds, numClasses, options, regions);
    cls.set(assignment.classTargets, i * a * numClasses);
    box.set(assignment.boxTargets, i * a * 4);
    pos.set(assignment.positiveMask, i * a);
    for (let k = 0; k < a; k++) valid[i * a + k] = 1 - assignment.ignoreMask[k];
    numPositive += assignment.numPositive;
  });
  return {
    classTargets: tf.tensor3d(cls, [b, a, numClasses]),
    boxTargets: tf.tensor3d(box, [b, a, 4]),
    positive: tf.tensor2d(pos, [b, a]),
    valid: tf.tensor2d(valid, [b, a]),
    numPositive,
  };
}

export function disposeTargets(targets: BatchTargets): void {
  tf.dispose([targets.classTargets, targets.boxTargets, targets.positive, targets.valid]);
}

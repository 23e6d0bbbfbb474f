// Parameter and FLOP counts of a detector, read from its layer graph (shared head layers counted per call).
import type * as tf from '@tensorflow/tfjs';

export interface ModelCost {
  parameters: number;
  /** Floating-point operations per image of one forward pass (a multiply-add counts as 2). */
  flopsPerImage: number;
  /** The share of those FLOPs by top-level part (stem/stage*, fpn, class head, box head). */
  byPart: Record<string, number>;
}

interface ConvLike {
  kernelSize: number[];
  filters: number;
  useBias: boolean;
}

function isConv(layer: tf.layers.Layer): layer is tf.layers.Layer & ConvLike {
  return layer.getClassName() === 'Conv2D';
}

/** Counts FLOPs of every convolution call and every elementwise add in the graph. */
export function modelCost(model: tf.LayersModel): ModelCost {
  const byPart: Record<string, number> = {};
  let flops = 0;
  for (const layer of model.layers) {
    const part = partOf(layer.name);
    for (const node of layer.inboundNodes) {
      const out = node.outputTensors[0].shape;
      const inp = node.inputTensors[0].shape;
      const spatial = (out[1] ?? 1) * (out[2] ?? 1);
      let f = 0;
      if (isConv(layer)) {
        const cin = inp[3] ?? 0;
        f = 2 * spatial * layer.kernelSize[0] * layer.kernelSize[1] * cin * layer.filters + (layer.useBias ? spatial * layer.filters : 0);
      } else if (layer.getClassName() === 'Add') {
        f = spatial * (out[3] ?? 1) * (node.inputTensors.length - 1);
      }
      flops += f;
      byPart[part] = (byPart[part] ?? 0) + f;
    }
  }
  return { parameters: model.countParams(), flopsPerImage: flops, byPart };
}

function partOf(layerName: string): string {
  const prefix = layerName.split('_')[0];
  if (prefix.startsWith('stage') || prefix === 'stem') return 'backbone';
  return prefix;
}

// RetinaNet-style one-stage detector (backbone → FPN → shared class/box heads) built with tf.layers.
import * as tf from '@tensorflow/tfjs';
import { anchorsPerLocation, type DetectorConfig } from './detector_config.ts';

/** Output of a forward pass. */
export interface DetectorOutput {
  classLogits: tf.Tensor3D; // [batch, anchors, classes]
  boxDeltas: tf.Tensor3D; // [batch, anchors, 4]
}

/** A detector: its resolved config and the Keras-style model that computes it. */
export interface Detector {
  config: DetectorConfig;
  model: tf.LayersModel;
}

export const CLASS_OUTPUT = 'class_logits';
export const BOX_OUTPUT = 'box_deltas';

type Sym = tf.SymbolicTensor;

/** Hands out a distinct initializer seed per layer, so a seeded build is reproducible (undefined = random). */
class SeedSource {
  private n = 0;
  constructor(private readonly seed: number | undefined) {}
  next(): number | undefined {
    // Never 0: tfjs reads a seed of 0 as "no seed" and draws from Math.random, so seed 0's first layer was random.
    return this.seed === undefined ? undefined : this.seed * 1000 + ++this.n;
  }
}

function conv(seeds: SeedSource, name: string, filters: number, kernelSize: number, strides = 1, activation: 'relu' | 'linear' = 'relu'): tf.layers.Layer {
  return tf.layers.conv2d({
    name,
    filters,
    kernelSize,
    strides,
    padding: 'same',
    activation,
    kernelInitializer: tf.initializers.heNormal({ seed: seeds.next() }),
  });
}

function apply(layer: tf.layers.Layer, x: Sym | Sym[]): Sym {
  return layer.apply(x) as Sym;
}

/** Builds the backbone and returns its feature maps C1…C5 (strides 2…32). */
function backbone(config: DetectorConfig, seeds: SeedSource, input: Sym): Sym[] {
  const features: Sym[] = [];
  let x = apply(conv(seeds, 'stem', config.stemChannels, 3, 2), input);
  features.push(x);
  config.stageChannels.forEach((channels, i) => {
    const stage = `stage${i + 2}`;
    x = apply(conv(seeds, `${stage}_down`, channels, 3, 2), x);
    // Later blocks are residual so deeper teachers stay trainable without normalization layers.
    for (let b = 1; b < config.blocksPerStage; b++) {
      const y = apply(conv(seeds, `${stage}_block${b}`, channels, 3, 1), x);
      x = apply(tf.layers.add({ name: `${stage}_block${b}_add` }), [x, y]);
    }
    features.push(x);
  });
  return features; // strides 2, 4, 8, 16, 32
}

/** Top-down FPN over the backbone levels ≤ 5, plus strided convs for levels 6 and 7. */
function pyramid(config: DetectorConfig, seeds: SeedSource, features: Sym[]): Map<number, Sym> {
  const f = config.fpnChannels;
  const lowest = Math.min(...config.levels);
  const highest = Math.max(...config.levels);
  const top = Math.min(5, highest);
  const out = new Map<number, Sym>();
  let prev: Sym | undefined;
  for (let level = top; level >= Math.min(lowest, top); level--) {
    let lateral = apply(conv(seeds, `fpn_lateral${level}`, f, 1, 1, 'linear'), features[level - 1]);
    if (prev) {
      const up = apply(tf.layers.upSampling2d({ name: `fpn_up${level}`, size: [2, 2], interpolation: 'nearest' }), prev);
      lateral = apply(tf.layers.add({ name: `fpn_merge${level}` }), [lateral, up]);
    }
    prev = lateral;
    out.set(level, apply(conv(seeds, `fpn_out${level}`, f, 3, 1, 'linear'), lateral));
  }
  let extra = out.get(5);
  for (let level = 6; level <= highest; level++) {
    const source: Sym = level === 6 ? (extra as Sym) : apply(tf.layers.reLU({ name: `fpn_relu${level}` }), extra as Sym);
    extra = apply(conv(seeds, `fpn_p${level}`, f, 3, 2, 'linear'), source);
    out.set(level, extra);
  }
  return out;
}

/** A head whose layers are shared across pyramid levels, as in RetinaNet. */
function head(config: DetectorConfig, seeds: SeedSource, prefix: string, outputsPerAnchor: number, biasInit: number): (x: Sym) => Sym {
  const tower = Array.from({ length: config.headDepth }, (_, i) =>
    tf.layers.conv2d({
      name: `${prefix}_conv${i}`,
      filters: config.fpnChannels,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.01, seed: seeds.next() }),
    }),
  );
  const output = tf.layers.conv2d({
    name: `${prefix}_out`,
    filters: anchorsPerLocation(config) * outputsPerAnchor,
    kernelSize: 3,
    padding: 'same',
    kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.01, seed: seeds.next() }),
    biasInitializer: tf.initializers.constant({ value: biasInit }),
  });
  return (x) => apply(output, tower.reduce<Sym>((h, layer) => apply(layer, h), x));
}

export interface BuildOptions {
  /** Seed of the weight initializers; the same seed builds the same weights. Default: random. */
  seed?: number;
}

/** Builds a freshly initialized detector for a resolved config. */
export function buildDetector(config: DetectorConfig, options: BuildOptions = {}): Detector {
  const seeds = new SeedSource(options.seed);
  const input = tf.input({ name: 'image', shape: [config.inputSize, config.inputSize, 3] });
  const levels = pyramid(config, seeds, backbone(config, seeds, input));
  const prior = -Math.log((1 - config.priorProbability) / config.priorProbability);
  const classHead = head(config, seeds, 'class', config.numClasses, prior);
  const boxHead = head(config, seeds, 'box', 4, 0);
  const perLocation = anchorsPerLocation(config);
  const classOutputs: Sym[] = [];
  const boxOutputs: Sym[] = [];
  for (const level of config.levels) {
    const p = levels.get(level) as Sym;
    const side = Math.ceil(config.inputSize / 2 ** level);
    const anchors = side * side * perLocation;
    // [b, h, w, A*C] → [b, h*w*A, C]: anchors ordered row-major by position, then by anchor shape.
    classOutputs.push(apply(tf.layers.reshape({ name: `class_p${level}`, targetShape: [anchors, config.numClasses] }), classHead(p)));
    boxOutputs.push(apply(tf.layers.reshape({ name: `box_p${level}`, targetShape: [anchors, 4] }), boxHead(p)));
  }
  const concat = (name: string, xs: Sym[]): Sym =>
    xs.length === 1 ? apply(tf.layers.activation({ name, activation: 'linear' }), xs[0]) : apply(tf.layers.concatenate({ name, axis: 1 }), xs);
  const model = tf.model({
    name: config.name,
    inputs: input,
    outputs: [concat(CLASS_OUTPUT, classOutputs), concat(BOX_OUTPUT, boxOutputs)],
  });
  return { config, model };
}

/**
 * Runs the detector. `images` are preprocessed floats (see `preprocessImages`), [batch, size, size, 3].
 * With `training`, the call is recorded for gradients (use inside `optimizer.minimize` / `tf.variableGrads`).
 */
export function forward(detector: Detector, images: tf.Tensor4D, training = false): DetectorOutput {
  const [classLogits, boxDeltas] = detector.model.apply(images, { training }) as tf.Tensor[];
  return { classLogits: classLogits as tf.Tensor3D, boxDeltas: boxDeltas as tf.Tensor3D };
}

/** Maps uint8-range RGB pixels [batch, h, w, 3] to the detector's input range (about [-1, 1]). */
export function preprocessImages(pixels: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => pixels.toFloat().div(127.5).sub(1) as tf.Tensor4D);
}

/**
 * Frees every weight of a layers model. `model.dispose()` alone leaves the shared head weights alive:
 * tfjs counts one reference per pyramid level a shared layer is applied to, and releases only one.
 */
export function disposeLayersModel(model: tf.LayersModel): void {
  const weights = model.weights;
  model.dispose();
  for (const w of weights) {
    try {
      w.dispose();
    } catch {
      // Already freed by model.dispose().
    }
  }
}

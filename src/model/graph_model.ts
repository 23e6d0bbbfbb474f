// Writes a detector's layers model as a TF.js graph model (GraphDef JSON + weights) that tf.loadGraphModel runs alone.
import * as tf from '@tensorflow/tfjs';

/*
 * The Python converter is the usual way to a graph model; it cannot run here, and the detector needs only a
 * handful of ops, so the GraphDef is emitted directly from the layers model's functional topology. Each layer
 * call becomes one node (convolutions as _FusedConv2D with BiasAdd and an optional Relu, as the converter
 * fuses them); weights and the few shape constants become Const nodes backed by the weights manifest.
 */

/** A node of a TensorFlow GraphDef in the JSON form TF.js reads (attr values as in the protobuf JSON mapping). */
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

export interface GraphModelArtifacts {
  /** `model.json` contents without the weights manifest's file paths (the writer fills them in). */
  modelTopology: { node: GraphNode[]; library: Record<string, never>; versions: { producer: number } };
  signature: { inputs: Record<string, TensorInfo>; outputs: Record<string, TensorInfo> };
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

interface TensorInfo {
  name: string;
  dtype: 'DT_FLOAT';
  tensorShape: { dim: Array<{ size: string }> };
}

/** Keras functional JSON, as `model.toJSON(null, false)` returns it (only the fields read here). */
interface FunctionalJson {
  config: {
    layers: Array<{ name: string; class_name: string; config: Record<string, unknown>; inbound_nodes: InboundNode[][] }>;
    input_layers: Array<[string, number, number]>;
    output_layers: Array<[string, number, number]>;
  };
}
type InboundNode = [string, number, number, Record<string, unknown>?];

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const ints = (values: number[]): { list: { i: string[] } } => ({ list: { i: values.map(String) } });
const FLOAT = { type: 'DT_FLOAT' };
const INT32 = { type: 'DT_INT32' };

function shapeProto(shape: ReadonlyArray<number | null>): { dim: Array<{ size: string }> } {
  return { dim: shape.map((d) => ({ size: String(d ?? -1) })) };
}

/** Output name of the k-th call of a layer: the layer's name for its first call (so outputs keep their names). */
function callName(layer: string, call: number): string {
  return call === 0 ? layer : `${layer}/call_${call}`;
}

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly weights: tf.NamedTensorMap = {};
  private readonly owned: tf.Tensor[] = [];

  constant(name: string, tensor: tf.Tensor, owned = false): string {
    this.weights[name] = tensor;
    if (owned) this.owned.push(tensor);
    this.nodes.push({
      name,
      op: 'Const',
      attr: { value: { tensor: { dtype: tensor.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: shapeProto(tensor.shape) } }, dtype: tensor.dtype === 'int32' ? INT32 : FLOAT },
    });
    return name;
  }

  intConstant(name: string, values: number[]): string {
    return this.constant(name, tf.tensor1d(values, 'int32'), true);
  }

  op(name: string, op: string, input: string[], attr: Record<string, unknown> = {}): string {
    this.nodes.push({ name, op, input, attr: { T: FLOAT, ...attr } });
    return name;
  }

  dispose(): void {
    tf.dispose(this.owned);
  }
}

/**
 * Converts a functional layers model built from Conv2D (same padding, relu/linear), Add, ReLU, UpSampling2D
 * (nearest), Reshape, Concatenate and linear Activation layers into graph-model artifacts. Any other layer
 * is refused by name, so a model this cannot express never turns into a silently different graph.
 */
export async function toGraphModel(model: tf.LayersModel): Promise<GraphModelArtifacts> {
  const json = model.toJSON(null, false) as unknown as FunctionalJson;
  const g = new GraphBuilder();
  try {
    const input = json.config.input_layers;
    if (input.length !== 1) throw new Error(`graph export: expected one input, the model has ${input.length}`);
    for (const layer of json.config.layers) {
      const live = model.getLayer(layer.name);
      const cfg = layer.config;
      if (layer.class_name === 'InputLayer') {
        const shape = cfg.batch_input_shape as Array<number | null>;
        g.nodes.push({ name: layer.name, op: 'Placeholder', attr: { dtype: FLOAT, shape: { shape: shapeProto(shape) } } });
        continue;
      }
      const weightNames: string[] = [];
      if (layer.class_name === 'Conv2D') {
        const [kernel, bias] = live.getWeights();
        weightNames.push(g.constant(`${layer.name}/kernel`, kernel));
        if (bias !== undefined) weightNames.push(g.constant(`${layer.name}/bias`, bias));
      }
      layer.inbound_nodes.forEach((inbound, call) => {
        const inputs = inbound.map(([from, fromCall]) => callName(from, fromCall));
        const name = callName(layer.name, call);
        emitLayer(g, layer.class_name, cfg, name, inputs, weightNames, live.getOutputAt(call) as tf.SymbolicTensor);
      });
    }
    const outputs: Record<string, TensorInfo> = {};
    for (const [layer, call] of json.config.output_layers) {
      const name = callName(layer, call);
      outputs[layer] = { name: `${name}:0`, dtype: 'DT_FLOAT', tensorShape: shapeProto((model.getLayer(layer).getOutputAt(call) as tf.SymbolicTensor).shape) };
    }
    const inputName = input[0][0];
    const inputShape = model.inputs[0].shape;
    const encoded = await tf.io.encodeWeights(g.weights);
    return {
      modelTopology: { node: g.nodes, library: {}, versions: { producer: 1 } },
      signature: { inputs: { [inputName]: { name: `${inputName}:0`, dtype: 'DT_FLOAT', tensorShape: shapeProto(inputShape) } }, outputs },
      weightSpecs: encoded.specs,
      weightData: encoded.data,
    };
  } finally {
    g.dispose();
  }
}

function emitLayer(g: GraphBuilder, className: string, cfg: Record<string, unknown>, name: string, inputs: string[], weights: string[], output: tf.SymbolicTensor): void {
  const where = `graph export: layer ${name} (${className})`;
  switch (className) {
    case 'Conv2D': {
      const dilation = (cfg.dilation_rate as number[] | undefined) ?? [1, 1];
      if (cfg.padding !== 'same' && cfg.padding !== 'valid') throw new Error(`${where}: padding ${String(cfg.padding)}`);
      if (cfg.data_format !== undefined && cfg.data_format !== 'channels_last') throw new Error(`${where}: data format ${String(cfg.data_format)}`);
      const activation = cfg.activation as string;
      if (activation !== 'relu' && activation !== 'linear') throw new Error(`${where}: activation ${activation}`);
      if (weights.length !== 2) throw new Error(`${where}: convolutions without a bias are not supported`);
      const strides = cfg.strides as number[];
      g.op(name, '_FusedConv2D', [inputs[0], ...weights], {
        strides: ints([1, strides[0], strides[1], 1]),
        dilations: ints([1, dilation[0], dilation[1], 1]),
        padding: { s: b64(cfg.padding === 'same' ? 'SAME' : 'VALID') },
        data_format: { s: b64('NHWC') },
        fused_ops: { list: { s: activation === 'relu' ? [b64('BiasAdd'), b64('Relu')] : [b64('BiasAdd')] } },
        num_args: { i: '1' },
        epsilon: { f: 0 },
      });
      return;
    }
    case 'Add':
      g.op(name, inputs.length === 2 ? 'AddV2' : 'AddN', inputs, inputs.length === 2 ? {} : { N: { i: String(inputs.length) } });
      return;
    case 'ReLU':
      if (cfg.max_value !== undefined && cfg.max_value !== null) throw new Error(`${where}: max_value is not supported`);
      g.op(name, 'Relu', inputs);
      return;
    case 'Activation':
      if (cfg.activation !== 'linear') throw new Error(`${where}: activation ${String(cfg.activation)}`);
      g.op(name, 'Identity', inputs);
      return;
    case 'UpSampling2D': {
      if (cfg.interpolation !== 'nearest') throw new Error(`${where}: interpolation ${String(cfg.interpolation)}`);
      const [, h, w] = output.shape;
      if (h === null || w === null) throw new Error(`${where}: output size is not static`);
      const size = g.intConstant(`${name}/size`, [h, w]);
      g.op(name, 'ResizeNearestNeighbor', [inputs[0], size], { align_corners: { b: false }, half_pixel_centers: { b: false } });
      return;
    }
    case 'Reshape': {
      const shape = g.intConstant(`${name}/shape`, [-1, ...(cfg.target_shape as number[])]);
      g.op(name, 'Reshape', [inputs[0], shape], { Tshape: INT32 });
      return;
    }
    case 'Concatenate': {
      const axis = g.constant(`${name}/axis`, tf.scalar(cfg.axis as number, 'int32'), true);
      g.op(name, 'ConcatV2', [...inputs, axis], { N: { i: String(inputs.length) }, Tidx: INT32 });
      return;
    }
    default:
      throw new Error(`${where}: this layer type has no graph equivalent here`);
  }
}

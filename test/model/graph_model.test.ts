// The GraphDef written from a detector's layers model runs in tf.loadGraphModel with outputs equal to the layers model's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { buildDetector, BOX_OUTPUT, CLASS_OUTPUT, disposeLayersModel } from '../../src/model/detector.ts';
import { resolveDetectorConfig } from '../../src/model/detector_config.ts';
import { toGraphModel } from '../../src/model/graph_model.ts';

await initBackend('cpu');

async function maxDifference(config: ReturnType<typeof resolveDetectorConfig>): Promise<{ cls: number; box: number; ops: string[] }> {
  const detector = buildDetector(config, { seed: 7 });
  // Random heads output near-constant values; perturb every weight so a wrongly wired graph cannot agree by chance.
  detector.model.setWeights(detector.model.getWeights().map((w, i) => tf.tidy(() => w.add(tf.randomNormal(w.shape, 0, 0.05, 'float32', i)))));
  const artifacts = await toGraphModel(detector.model);
  const graph = await tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs, weightData: artifacts.weightData, signature: artifacts.signature } as tf.io.ModelArtifacts),
  );
  const before = tf.memory().numTensors;
  const [cls, box] = tf.tidy(() => {
    const x = tf.randomUniform([2, config.inputSize, config.inputSize, 3], -1, 1, 'float32', 3);
    const [c1, b1] = detector.model.predict(x) as tf.Tensor[];
    const [c2, b2] = graph.execute(x, [CLASS_OUTPUT, BOX_OUTPUT]) as tf.Tensor[];
    assert.deepEqual(c2.shape, c1.shape);
    assert.deepEqual(b2.shape, b1.shape);
    return [c1.sub(c2).abs().max(), b1.sub(b2).abs().max()];
  });
  const result = { cls: (await cls.data())[0], box: (await box.data())[0], ops: [...new Set(artifacts.modelTopology.node.map((n) => n.op))].sort() };
  tf.dispose([cls, box]);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak from a graph forward pass');
  graph.dispose();
  disposeLayersModel(detector.model);
  return result;
}

test('the student and teacher presets export to graphs whose outputs equal the layers model', async () => {
  for (const preset of ['student', 'teacher'] as const) {
    const d = await maxDifference(resolveDetectorConfig({ inputSize: 64 }, preset));
    assert.ok(d.cls < 1e-4 && d.box < 1e-4, `${preset}: max |Δ| class ${d.cls}, box ${d.box}`);
    assert.ok(d.ops.includes('_FusedConv2D') && d.ops.includes('ResizeNearestNeighbor') && d.ops.includes('ConcatV2'), d.ops.join(', '));
  }
});

test('levels 3–7 (strided P6/P7 with ReLU) and a single level (Identity output) convert too', async () => {
  for (const levels of [[3, 4, 5, 6, 7], [4]]) {
    const d = await maxDifference(resolveDetectorConfig({ inputSize: 128, levels }, 'student'));
    assert.ok(d.cls < 1e-4 && d.box < 1e-4, `levels ${levels.join(',')}: max |Δ| class ${d.cls}, box ${d.box}`);
  }
});

test('a layer with no graph equivalent is refused by name, not exported as a different model', async () => {
  const input = tf.input({ shape: [8, 8, 3] });
  const output = tf.layers.batchNormalization({ name: 'bn' }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  const before = tf.memory().numTensors;
  await assert.rejects(toGraphModel(model), /layer bn \(BatchNormalization\)/);
  assert.equal(tf.memory().numTensors, before, 'constants made before the refusal are freed');
  model.dispose();
});

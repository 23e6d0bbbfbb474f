// loadInitDetector: the saved weights exactly, from a model folder or a checkpoint prefix; a clear error otherwise.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { buildDetector, disposeLayersModel, type Detector } from '../../src/model/detector.ts';
import { resolveDetectorConfig } from '../../src/model/detector_config.ts';
import { saveDetector } from '../../src/model/store_io.ts';
import { ResumableAdam } from '../../src/train/adam.ts';
import { checkpointDirName, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { emptyHistory } from '../../src/train/history.ts';
import { architectureDifferences, loadInitDetector } from '../../src/train/init_from.ts';
import { tempStore, TINY_DETECTOR, type TempStore } from './fixtures.ts';

let tmp: TempStore;
before(async () => {
  await initBackend('cpu');
  tmp = await tempStore();
});
after(() => tmp.cleanup());

/** Class logits and box deltas of one fixed input, as plain arrays. */
async function forward(d: Detector): Promise<Float32Array[]> {
  const input = tf.randomUniform([1, d.config.inputSize, d.config.inputSize, 3], -1, 1, 'float32', 7);
  try {
    const outputs = d.model.predict(input) as tf.Tensor[];
    const values = await Promise.all(outputs.map(async (t) => (await t.data()) as Float32Array));
    tf.dispose(outputs);
    return values;
  } finally {
    input.dispose();
  }
}

test('loads exactly the saved weights, from a model folder and from a checkpoint prefix', async () => {
  const saved = buildDetector(TINY_DETECTOR, { seed: 11 });
  const expected = await forward(saved);
  await saveDetector(saved, tmp.store, 'models/tiny');
  const optimizer = new ResumableAdam({ learningRate: 1e-3 });
  await saveCheckpoint(tmp.store, 'runs/tiny', saved, optimizer, { step: 3, offsets: {}, rng: {}, history: emptyHistory() });
  optimizer.dispose();
  disposeLayersModel(saved.model);
  const other = buildDetector(TINY_DETECTOR, { seed: 12 });
  assert.notDeepEqual(await forward(other), expected, 'another initialisation differs, so equality below means the weights were loaded');
  disposeLayersModel(other.model);

  const before = tf.memory().numTensors;
  for (const [prefix, dir] of [
    ['models/tiny', 'models/tiny'],
    ['runs/tiny', `runs/tiny/${checkpointDirName(3)}`],
  ]) {
    const loaded = await loadInitDetector(tmp.store, prefix, TINY_DETECTOR);
    assert.equal(loaded.dir, dir);
    assert.deepEqual(await forward(loaded.detector), expected, prefix);
    disposeLayersModel(loaded.detector.model);
  }
  assert.equal(tf.memory().numTensors, before, 'nothing left behind');
});

test('a missing model and another architecture are one-line errors naming the prefix and what differs', async () => {
  await assert.rejects(loadInitDetector(tmp.store, 'models/none', TINY_DETECTOR), /no saved model at .*models\/none \(neither model\.json nor a checkpoint's latest\.json\)/);

  const wider = resolveDetectorConfig({ ...TINY_DETECTOR, name: 'wider', stageChannels: [4, 8, 8, 16], headDepth: 2 });
  const saved = buildDetector(wider);
  await saveDetector(saved, tmp.store, 'models/wider');
  disposeLayersModel(saved.model);
  const before = tf.memory().numTensors;
  await assert.rejects(
    loadInitDetector(tmp.store, 'models/wider', TINY_DETECTOR),
    (err: Error) => err.message.includes("holds 'wider', not the architecture to train ('tiny')") && err.message.includes('stageChannels: saved [4,8,8,16], wanted [4,8,8,8]; headDepth: saved 2, wanted 1'),
  );
  assert.equal(tf.memory().numTensors, before, 'the refused model is disposed');
});

test('architectureDifferences ignores the name and the head prior (an initializer), not the layout', () => {
  assert.deepEqual(architectureDifferences({ ...TINY_DETECTOR, name: 'x', priorProbability: 0.1 }, TINY_DETECTOR), []);
  assert.deepEqual(architectureDifferences({ ...TINY_DETECTOR, anchorRatios: [1] }, TINY_DETECTOR), ['anchorRatios: saved [1], wanted [0.5,1,2]']);
});

// Loads the teacher checkpoint for labeling: checks its anchor layout against the topology, hashes its weights.
import { createHash } from 'node:crypto';
import type * as tf from '@tensorflow/tfjs';
import { anchorConfigsEqual, type AnchorConfig } from '../../boxes/anchor_config.ts';
import { generateAnchors, type AnchorSet } from '../../boxes/anchors.ts';
import { joinKey, type ObjectStore } from '../../io/object_store.ts';
import { disposeLayersModel } from '../../model/detector.ts';
import { detectorAnchorConfig, resolveDetectorConfig, type DetectorConfig } from '../../model/detector_config.ts';
import { loadDetector, type LoadedDetector } from '../../model/store_io.ts';

export interface TeacherModel {
  detector: LoadedDetector;
  /** Names the checkpoint in sample lineage: `<config name>@<checkpoint prefix>`. */
  modelId: string;
  /** `sha256:<hex>` of the weight shard bytes in manifest order (= `cat group1-shard* | sha256sum`). */
  modelHash: string;
  anchorConfig: AnchorConfig;
  anchors: AnchorSet;
  inputSize: number;
  numClasses: number;
  dispose(): void;
}

interface ModelJsonShape {
  weightsManifest?: Array<{ paths?: unknown }>;
  userDefinedMetadata?: { distillery?: { detector?: DetectorConfig } };
}

type TeacherExpectation = { anchors: AnchorConfig; teacher: DetectorConfig };

/**
 * Reads `<checkpoint>/model.json` alone (no weights) and checks that the teacher fits the topology: a checkpoint saved
 * by distillery carries its detector config, a converted model without one is read with the topology's teacher config.
 * Either way its anchor layout, input size and class count must equal the topology's, or its soft labels would not
 * line up with the student's anchors. Throws naming the checkpoint and what differs.
 */
export async function checkTeacherFits(
  store: ObjectStore,
  checkpoint: string,
  expected: TeacherExpectation,
): Promise<{ json: ModelJsonShape; config: DetectorConfig; anchorConfig: AnchorConfig; where: string }> {
  const where = `teacher checkpoint ${store.describe()}/${checkpoint}`;
  const modelJsonKey = joinKey(checkpoint, 'model.json');
  let json: ModelJsonShape;
  try {
    json = JSON.parse(new TextDecoder().decode(await store.get(modelJsonKey))) as ModelJsonShape;
  } catch (err) {
    throw new Error(`${where}: cannot read ${modelJsonKey}: ${(err as Error).message}`, { cause: err });
  }
  const recorded = json.userDefinedMetadata?.distillery?.detector;
  const config = recorded === undefined ? expected.teacher : resolveDetectorConfig(recorded);
  const anchorConfig = detectorAnchorConfig(config);
  if (!anchorConfigsEqual(anchorConfig, expected.anchors)) {
    throw new Error(
      `${where}: its anchor layout ${JSON.stringify(anchorConfig)} differs from the topology's anchors ${JSON.stringify(expected.anchors)}; ` +
        "teacher and student must share anchors for soft labels to align: set model.anchors to the teacher's layout, or use a teacher " +
        'trained with these anchors',
    );
  }
  if (config.inputSize !== expected.teacher.inputSize || config.numClasses !== expected.teacher.numClasses) {
    throw new Error(
      `${where}: input ${config.inputSize} px with ${config.numClasses} classes, but the topology's teacher has ` +
        `${expected.teacher.inputSize} px with ${expected.teacher.numClasses} classes`,
    );
  }
  return { json, config, anchorConfig, where };
}

/** Checks the teacher (checkTeacherFits), then loads its weights and hashes them. */
export async function loadTeacher(store: ObjectStore, checkpoint: string, expected: TeacherExpectation): Promise<TeacherModel> {
  const { json, config, anchorConfig, where } = await checkTeacherFits(store, checkpoint, expected);
  const detector = await loadDetector(store, checkpoint, config);
  try {
    const anchors = generateAnchors(anchorConfig, config.inputSize, config.inputSize);
    const modelAnchors = (detector.model.outputs[0] as tf.SymbolicTensor).shape[1];
    if (modelAnchors !== anchors.numAnchors) {
      throw new Error(`${where}: the model outputs ${modelAnchors} anchors, its anchor layout at ${config.inputSize} px gives ${anchors.numAnchors}`);
    }
    const modelHash = await hashShards(store, checkpoint, json);
    return {
      detector,
      modelId: `${config.name}@${checkpoint}`,
      modelHash,
      anchorConfig,
      anchors,
      inputSize: config.inputSize,
      numClasses: config.numClasses,
      dispose: () => disposeLayersModel(detector.model),
    };
  } catch (err) {
    disposeLayersModel(detector.model);
    throw err;
  }
}

async function hashShards(store: ObjectStore, checkpoint: string, json: ModelJsonShape): Promise<string> {
  const hash = createHash('sha256');
  for (const group of json.weightsManifest ?? []) {
    for (const p of Array.isArray(group.paths) ? group.paths : []) hash.update(await store.get(joinKey(checkpoint, String(p))));
  }
  return `sha256:${hash.digest('hex')}`;
}

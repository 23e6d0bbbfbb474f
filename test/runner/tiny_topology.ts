// A tiny embedded topology for whole-pipeline tests: 64 px models small enough to train a step in milliseconds.

/** 64 px teacher and student of a few thousand weights, and thresholds for them (YAML `model` + `thresholds`). */
export const TINY_MODELS_YAML = `model:
  numClasses: 4
  inputSize: 64
  teacher: { preset: teacher, stemChannels: 4, stageChannels: [4, 4, 8, 8], blocksPerStage: 1, fpnChannels: 8, headDepth: 1 }
  student: { preset: student, stemChannels: 4, stageChannels: [4, 4, 8, 8], blocksPerStage: 1, fpnChannels: 8, headDepth: 1 }
thresholds: { hardLabel: 0.5, topKPerLevel: 50, maxDetections: 20 }`;

export interface TinyTopologyOptions {
  name: string;
  storeRoot: string;
  /** `config.runDir` line value (quoted YAML), when the test needs one. */
  runDir?: string;
  steps: number;
  checkpointPrefix: string;
  evalEvery: number;
}

export function tinyTopologyYaml(o: TinyTopologyOptions): string {
  return `
name: ${o.name}
config:
  backend: wasm
  store: { kind: local, root: '${o.storeRoot}' }
  transport: { kind: memory, capacity: 4 }${o.runDir === undefined ? '' : `\n  runDir: '${o.runDir}'`}
${TINY_MODELS_YAML}
stages:
  - name: ingest-labeled
    kind: ingest
    output: images
    options: { prefix: corpus/labeled/images/, split: labeled, annotations: corpus/labeled/annotations.json, pageSize: 3 }
  - name: ingest-unlabeled
    kind: ingest
    output: images
    options: { prefix: corpus/unlabeled/images/, split: unlabeled, pageSize: 3 }
  - name: teacher
    kind: teacher
    input: images
    options: { checkpoint: models/teacher, batchSize: 4, maxBatchWaitMs: 20ms }
  - name: student
    kind: student
    input: samples
    options:
      steps: ${o.steps}
      batchSize: 2
      learningRate: 0.001     # the rate these tests were written at (the preset's, with a step budget, is 0.008)
      warmupSteps: 1
      checkpointEvery: 2
      checkpointPrefix: ${o.checkpointPrefix}
      evalEvery: ${o.evalEvery}
      evalAnnotations: corpus/test/annotations.json
      bufferSize: 16
`;
}

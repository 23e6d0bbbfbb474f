// Hand-built CompiledTopology for stage tests (the topology loader is tested on its own): tiny 64 px models, one stage each.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { detectorAnchorConfig, resolveDetectorConfig, type DetectorConfig } from '../../../src/model/detector_config.ts';
import { LocalStore } from '../../../src/io/local_store.ts';
import { DEFAULT_OBJECTIVE } from '../../../src/train/objective.ts';
import type { CompiledTopology, IngestStageOptions, StageConfig, TeacherStageOptions, ThresholdConfig } from '../../../src/topology/types.ts';
import type { TopicRole } from '../../../src/messages/topics.ts';

/** A teacher small enough to run a batch in milliseconds: 64 px input, 3 classes, 756 anchors. */
export function tinyTeacherConfig(overrides: Partial<DetectorConfig> = {}): DetectorConfig {
  return resolveDetectorConfig(
    { name: 'tiny-teacher', inputSize: 64, numClasses: 3, stemChannels: 4, stageChannels: [4, 4, 8, 8], blocksPerStage: 1, fpnChannels: 8, headDepth: 1, ...overrides },
    'teacher',
  );
}

export const TEST_THRESHOLDS: ThresholdConfig = { candidate: 0.05, topKPerLevel: 100, nmsIou: 0.5, maxDetections: 20, hardLabel: 0.5, softEpsilon: 0 };

export interface TopologyParts {
  ingest?: Partial<IngestStageOptions>;
  teacher?: Partial<TeacherStageOptions>;
  thresholds?: Partial<ThresholdConfig>;
  teacherConfig?: DetectorConfig;
  partitions?: number;
}

export function testTopology(parts: TopologyParts = {}): CompiledTopology {
  const teacher = parts.teacherConfig ?? tinyTeacherConfig();
  const partitions = parts.partitions ?? 1;
  const topics = Object.fromEntries(
    (['images', 'samples', 'rejected', 'dlq'] as TopicRole[]).map((role) => [role, { name: `test.${role}`, partitions }]),
  ) as CompiledTopology['topics'];
  const stages: StageConfig[] = [
    {
      kind: 'ingest',
      name: 'ingest-unlabeled',
      parallelism: 1,
      output: 'images',
      options: { prefix: 'corpus/unlabeled/images/', split: 'unlabeled', bucket: 'corpus', pageSize: 2, watch: false, watchIntervalMs: 50, limit: 0, cursorPrefix: 'state/ingest', ...parts.ingest },
    },
    {
      kind: 'teacher',
      name: 'teacher',
      parallelism: 1,
      input: 'images',
      options: { checkpoint: 'models/teacher', batchSize: 3, fetchConcurrency: 4, maxImagePixels: 1_000_000, maxObjectBytes: 10_000_000, maxBatchWaitMs: 0, filter: true, inferenceThread: false, ...parts.teacher },
    },
  ];
  return {
    name: 'test',
    description: 'stage tests',
    source: 'test/stages/ingest/topology_fixture.ts',
    backend: 'cpu',
    store: { kind: 'local', root: '.' },
    transport: { kind: 'memory', capacity: 1000 },
    runDir: 'runs/test',
    observability: { host: '127.0.0.1', port: 0 },
    topics,
    anchors: detectorAnchorConfig(teacher),
    teacher,
    student: { ...teacher, name: 'tiny-student' },
    thresholds: { ...TEST_THRESHOLDS, ...parts.thresholds },
    loss: DEFAULT_OBJECTIVE,
    stages,
  };
}

export function stageOf<K extends StageConfig['kind']>(topology: CompiledTopology, kind: K): Extract<StageConfig, { kind: K }> {
  const stage = topology.stages.find((s) => s.kind === kind);
  if (stage === undefined) throw new Error(`no ${kind} stage`);
  return stage as Extract<StageConfig, { kind: K }>;
}

/** A LocalStore in a fresh temp directory; `cleanup` removes it. */
export async function tempStore(): Promise<{ store: LocalStore; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-stage-'));
  return { store: new LocalStore({ root: dir }), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

// Benchmark: where the teacher stage's CPU goes per image — fetch, decode, letterbox, infer, NMS, soft labels, JPEG, produce.
//
// Runs the teacher stage's own steps one after another on batches of stored images, each timed by the process's
// CPU time (process.cpuUsage: every thread, so sharp's and TensorFlow's worker threads count) and wall time. Steps
// run in sequence here, unlike in the stage, so that each one's cost is its own. `decode + letterbox` is the stage's
// decodeLetterboxed (header read, decode, resize, pad); `decode alone` — a plain sharp decode of the same bytes —
// shows how much of it is the decode, and is not counted in the total. Produce is the memory transport's send (the
// Kafka client's own CPU is not included).
//
// --nms-strategy picks postprocess's NMS path (default: postprocess's own default), to compare them.
//
//   node --import tsx bench/teacher_breakdown.ts [--topology topologies/embedded.yaml] [--images 64] [--batch 8]
//     [--nms-strategy single-pass|per-class|offset]
import { parseArgs } from 'node:util';
import os from 'node:os';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/backend.ts';
import { decodeLetterboxed, encodeJpeg } from '../src/image/letterbox.ts';
import { listAll } from '../src/io/object_store.ts';
import { encodeSample } from '../src/messages/sample.ts';
import { quantizeSoftLabels } from '../src/messages/soft_labels.ts';
import { forward, preprocessImages } from '../src/model/detector.ts';
import { postprocess, type NmsStrategy } from '../src/postprocess/detections.ts';
import { openStore } from '../src/runner/embedded.ts';
import { buildSample, SAMPLE_JPEG_QUALITY, teacherLineage } from '../src/stages/teacher/outputs.ts';
import { loadTeacher } from '../src/stages/teacher/teacher_model.ts';
import { loadTopology } from '../src/topology/index.ts';
import { MemoryTransport } from '../src/transport/memory.ts';

const { values } = parseArgs({
  options: {
    topology: { type: 'string', default: 'topologies/embedded.yaml' },
    images: { type: 'string', default: '64' },
    batch: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
    'nms-strategy': { type: 'string' },
  },
});
const NMS_STRATEGIES: readonly NmsStrategy[] = ['single-pass', 'per-class', 'offset'];
const nmsStrategy = values['nms-strategy'] as NmsStrategy | undefined;
if (nmsStrategy !== undefined && !NMS_STRATEGIES.includes(nmsStrategy)) throw new Error(`--nms-strategy must be one of ${NMS_STRATEGIES.join(', ')}`);

const STEPS = ['fetch', 'decode alone', 'decode + letterbox', 'infer', 'nms', 'soft labels', 'jpeg', 'produce'] as const;
type Step = (typeof STEPS)[number];
/** Measured for information only: part of `decode + letterbox`. */
const NOT_IN_TOTAL: readonly Step[] = ['decode alone', 'infer'];
const cpuMs: Record<Step, number> = Object.fromEntries(STEPS.map((s) => [s, 0])) as Record<Step, number>;
const wallMs: Record<Step, number> = { ...cpuMs };

/** Runs `fn`, adding its process CPU time and wall time to `step`. */
async function timed<T>(step: Step, fn: () => Promise<T>): Promise<T> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  wallMs[step] += performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  cpuMs[step] += (cpu.user + cpu.system) / 1000;
  return result;
}

const topology = await loadTopology(values.topology);
const backend = await initBackend(topology.backend, { reason: topology.backendReason });
const store = openStore(topology);
const teacherStage = topology.stages.find((s) => s.kind === 'teacher');
if (teacherStage === undefined || teacherStage.kind !== 'teacher') throw new Error(`${values.topology} has no teacher stage`);
const teacher = await loadTeacher(store, teacherStage.options.checkpoint, { anchors: topology.anchors, teacher: topology.teacher });
const lineage = teacherLineage(teacher, topology.thresholds);
const thresholds = topology.thresholds;
const size = teacher.inputSize;

const wanted = Number(values.images);
const keys: string[] = [];
for await (const object of listAll(store, 'corpus/unlabeled/images/')) {
  keys.push(object.key);
  if (keys.length >= wanted) break;
}
if (keys.length === 0) throw new Error(`no images under corpus/unlabeled/images/ in ${store.describe()}; run \`npx distillery corpus generate\``);

const transport = new MemoryTransport({ topicDefaults: { capacity: keys.length + 1 } });
await transport.createTopics([{ topic: topology.topics.samples.name, partitions: 1 }]);
const producer = transport.producer();
await producer.connect();
const batchSize = Number(values.batch);
let samples = 0;
const started = performance.now();
for (let start = 0; start < keys.length; start += batchSize) {
  const batchKeys = keys.slice(start, start + batchSize);
  const bytes = await timed('fetch', () => Promise.all(batchKeys.map((k) => store.get(k))));
  await timed('decode alone', () => Promise.all(bytes.map((b) => sharp(b).removeAlpha().raw().toBuffer())));
  const letterboxed = await timed('decode + letterbox', () => Promise.all(bytes.map((b) => decodeLetterboxed(b, size))));
  // Every image's [size, size, 3] pixels in one int32 tensor, as inferTeacher does.
  const [logits, deltas, probs] = await timed('infer', async () => {
    const pixels = new Int32Array(letterboxed.length * size * size * 3);
    letterboxed.forEach((l, i) => pixels.set(l.pixels, i * size * size * 3));
    const out = tf.tidy(() => {
      const o = forward(teacher.detector, preprocessImages(tf.tensor4d(pixels, [letterboxed.length, size, size, 3], 'int32')));
      return [o.classLogits, o.boxDeltas, tf.sigmoid(o.classLogits)];
    });
    const q = (await out[2].data()) as Float32Array;
    return [out[0] as tf.Tensor3D, out[1] as tf.Tensor3D, q] as const;
  });
  const detections = await timed('nms', () =>
    postprocess(logits, deltas, teacher.anchors.boxes, teacher.anchors.levels, {
      scoreThreshold: thresholds.candidate,
      topKPerLevel: thresholds.topKPerLevel,
      nmsIou: thresholds.nmsIou,
      maxDetections: thresholds.maxDetections,
      imageSize: { height: size, width: size },
      nmsStrategy,
    }),
  );
  const [anchors, classes] = [logits.shape[1], logits.shape[2]];
  tf.dispose([logits, deltas]);
  const perImage = (k: number): Float32Array => probs.subarray(k * anchors * classes, (k + 1) * anchors * classes);
  await timed('soft labels', async () => letterboxed.map((_, k) => quantizeSoftLabels(perImage(k), anchors, classes, { epsilon: thresholds.softEpsilon })));
  await timed('jpeg', () => Promise.all(letterboxed.map((l) => encodeJpeg(l.pixels, size, SAMPLE_JPEG_QUALITY))));
  // The stage's sample assembly (which repeats the JPEG and soft-label encoding above) is not timed; produce is the
  // message encoding and the send.
  const built = await Promise.all(
    letterboxed.map((l, k) => {
      const ref = { v: 1 as const, imageId: batchKeys[k], bucket: 'corpus', key: batchKeys[k], etag: '', size: bytes[k].length, split: 'unlabeled' as const };
      const hard = detections[k].filter((d) => d.score >= thresholds.hardLabel).map((d) => ({ box: d.box, classId: d.classId, score: d.score }));
      return buildSample({ image: { kind: 'image', ref, pixels: l.pixels, transform: l.transform }, hard, probs: perImage(k), anchors, classes, lineage, softEpsilon: thresholds.softEpsilon });
    }),
  );
  await timed('produce', () => producer.send(topology.topics.samples.name, built.map((s) => ({ key: s.ref.imageId, value: encodeSample(s) }))));
  samples += built.length;
}
const totalWall = performance.now() - started;
teacher.dispose();
await producer.disconnect();
await transport.close();

const n = keys.length;
const rows = STEPS.map((s) => ({ step: s, cpuMsPerImage: cpuMs[s] / n, wallMsPerImage: wallMs[s] / n }));
const excludingInfer = rows.filter((r) => !NOT_IN_TOTAL.includes(r.step)).reduce((a, r) => a + r.cpuMsPerImage, 0);
const summary = {
  images: n,
  samples,
  batch: batchSize,
  backend: backend.name,
  nmsStrategy: nmsStrategy ?? 'default',
  store: store.describe(),
  cpuMsPerImageExcludingInference: excludingInfer,
  cpuMsPerImageInference: cpuMs.infer / n,
  wallSeconds: totalWall / 1000,
  rows,
};
if (values.json) {
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
} else {
  const lines = ['| step | CPU ms/image | wall ms/image |', '| --- | ---: | ---: |'];
  for (const r of rows) lines.push(`| ${r.step} | ${r.cpuMsPerImage.toFixed(2)} | ${r.wallMsPerImage.toFixed(2)} |`);
  lines.push('', `CPU ms per image excluding inference (decode alone not counted): ${excludingInfer.toFixed(2)}; inference: ${(cpuMs.infer / n).toFixed(2)}`);
  lines.push(`${n} images from ${store.describe()}, batch ${batchSize}, backend ${backend.name}, NMS ${nmsStrategy ?? 'default'}, ${os.cpus().length} cores, node ${process.version}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

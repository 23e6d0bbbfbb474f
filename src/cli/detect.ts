// `distillery detect`: runs a teacher, student checkpoint or exported model on images and writes COCO results (JSON or JSON lines).
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { BACKEND_NAMES, initBackend, type BackendName } from '../backend/backend.ts';
import { detectImages, type DetectResult } from '../detect/detect_images.ts';
import { loadDetectionModel } from '../detect/load_model.ts';
import { imageIdMatcher, resolveLocation, resolveSources } from '../detect/sources.ts';
import { drawDetections } from '../detect/draw.ts';
import { categoryMap } from '../eval/coco_categories.ts';
import { toCocoResults } from '../eval/coco_results.ts';
import { parseCocoGroundTruth } from '../eval/coco_types.ts';
import { openStore } from '../io/open_store.ts';
import type { ObjectStore } from '../io/object_store.ts';
import { loadTopology } from '../topology/index.ts';
import type { ThresholdConfig } from '../topology/types.ts';
import { lazyBar } from './progress_bar.ts';
import type { TrainCommandIo } from './train.ts';
import { integerArg, numberArg } from './args.ts';

export interface DetectFlags {
  model: string;
  out?: string;
  jsonl?: boolean;
  annotations?: string;
  draw?: string;
  threshold?: number;
  drawThreshold?: number;
  topology?: string;
  batchSize?: number;
  backend?: BackendName;
}

export interface DetectSummary {
  images: number;
  detections: number;
  errors: number;
}

/** Evaluation wants every candidate above 0.05; a picture with all of them is unreadable. */
const DEFAULT_DRAW_THRESHOLD = 0.3;
const DEFAULT_POSTPROCESS = { scoreThreshold: 0.05, topKPerLevel: 1000, nmsIou: 0.5, maxDetections: 100 };

/** Writes results as one JSON array (streamed entry by entry) or as JSON lines. */
class ResultsWriter {
  private first = true;
  private constructor(
    private readonly out: TrainCommandIo['stdout'],
    /** The file stream this writer opened and must end (never the process's stdout, which cannot be closed). */
    private readonly file: WriteStream | undefined,
    private readonly lines: boolean,
  ) {}

  static open(target: string | undefined, lines: boolean, stdout: TrainCommandIo['stdout']): ResultsWriter {
    const file = target === undefined ? undefined : createWriteStream(target);
    const writer = new ResultsWriter(file ?? stdout, file, lines);
    if (!lines) writer.out.write('[');
    return writer;
  }

  async write(entries: readonly object[]): Promise<void> {
    for (const entry of entries) {
      const text = JSON.stringify(entry);
      const ok = this.out.write(this.lines ? `${text}\n` : `${this.first ? '\n' : ',\n'}${text}`);
      this.first = false;
      // Respect back-pressure so a huge run never buffers its whole output.
      if (ok === false && this.file !== undefined) await new Promise<void>((resolve) => this.file?.once('drain', () => resolve()));
    }
  }

  async close(): Promise<void> {
    if (!this.lines) this.out.write(this.first ? ']\n' : '\n]\n');
    if (this.file !== undefined) {
      this.file.end();
      await finished(this.file);
    }
  }
}

async function readAnnotations(spec: string, store: ObjectStore | undefined): Promise<ReturnType<typeof parseCocoGroundTruth>> {
  let text: string;
  try {
    text = await readFile(spec, 'utf8');
  } catch (err) {
    if (store === undefined || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read annotations '${spec}': ${(err as Error).message}`);
    text = new TextDecoder().decode(await store.get(spec));
  }
  try {
    return parseCocoGroundTruth(JSON.parse(text));
  } catch (err) {
    throw new Error(`annotations '${spec}': ${(err as Error).message}`);
  }
}

/** The command's work, callable from tests with their own output streams. */
export async function runDetect(sourcesArgs: readonly string[], flags: DetectFlags, io: TrainCommandIo): Promise<DetectSummary> {
  await initBackend(flags.backend);
  const topology = flags.topology === undefined ? undefined : await loadTopology(flags.topology);
  const store = topology === undefined ? undefined : openStore(topology.store);
  const location = await resolveLocation(flags.model, store);
  const model = await loadDetectionModel(location.store, location.prefix);
  try {
    const sources = await resolveSources(sourcesArgs, store);
    const gt = flags.annotations === undefined ? undefined : await readAnnotations(flags.annotations, store);
    const categories = gt === undefined ? undefined : categoryMap(gt.categories);
    if (categories !== undefined && categories.categoryIds.length !== model.config.numClasses) {
      throw new Error(`annotations '${flags.annotations}' have ${categories.categoryIds.length} categories but the model has ${model.config.numClasses} classes`);
    }
    const categoryIds = categories?.categoryIds ?? model.card?.classes.map((c) => c.categoryId) ?? Array.from({ length: model.config.numClasses }, (_, i) => i + 1);
    const classNames = categories?.names ?? model.card?.classes.map((c) => c.name) ?? [];
    const idOf = gt === undefined ? undefined : imageIdMatcher(gt);
    const t: Partial<ThresholdConfig> = topology?.thresholds ?? model.card?.thresholds ?? {};
    const postprocess = {
      scoreThreshold: flags.threshold ?? t.candidate ?? DEFAULT_POSTPROCESS.scoreThreshold,
      topKPerLevel: t.topKPerLevel ?? DEFAULT_POSTPROCESS.topKPerLevel,
      nmsIou: t.nmsIou ?? DEFAULT_POSTPROCESS.nmsIou,
      maxDetections: t.maxDetections ?? DEFAULT_POSTPROCESS.maxDetections,
    };
    const lines = flags.jsonl === true || (flags.out?.endsWith('.jsonl') ?? false);
    if (flags.out !== undefined) await mkdir(path.dirname(path.resolve(flags.out)), { recursive: true });
    if (flags.draw !== undefined) await mkdir(flags.draw, { recursive: true });
    io.stderr.write(`detect: ${model.kind} '${model.config.name}' from ${location.store.describe()}/${model.prefix}, ${sources.length} images\n`);

    const writer = ResultsWriter.open(flags.out, lines, io.stdout);
    const bar = io.stderr.isTTY ? lazyBar(io.stderr, 'detect |{bar}| {value}/{total} images | {errors} errors') : undefined;
    const summary: DetectSummary = { images: 0, detections: 0, errors: 0 };
    let nextId = 1;
    const fail = (result: { source: { name: string } }, reason: string, detail: string): void => {
      summary.errors++;
      // One line per image, whatever the decoder printed (libvips reports several), after the bar's line.
      io.stderr.write(`${bar === undefined ? '' : '\n'}error: ${result.source.name}: ${reason}: ${detail.replace(/\s*\n\s*/g, '; ')}\n`);
    };
    try {
      for await (const result of detectImages(model, sources, { batchSize: flags.batchSize, postprocess })) {
        await handle(result);
        bar?.update(summary.images + summary.errors, sources.length, { errors: summary.errors });
      }
    } finally {
      bar?.stop();
      await writer.close();
    }

    async function handle(result: DetectResult): Promise<void> {
      if (result.kind === 'error') return fail(result, result.reason, result.detail);
      const imageId = idOf === undefined ? nextId++ : idOf(result.source.name);
      if (imageId === undefined) return fail(result, 'not-in-annotations', `no image with this file name in '${flags.annotations}'`);
      const entries = toCocoResults([[imageId, result.detections]], { categoryIds }).map((r) => ({ ...r, file_name: result.source.name }));
      await writer.write(entries);
      summary.images++;
      summary.detections += entries.length;
      if (flags.draw !== undefined) {
        try {
          const shown = result.detections.filter((d) => d.score >= (flags.drawThreshold ?? DEFAULT_DRAW_THRESHOLD));
          const drawn = await drawDetections(await result.source.store.get(result.source.key), shown, classNames);
          const file = path.join(flags.draw, result.source.name.replace(/\.[^./]+$/, '') + '.jpg');
          await mkdir(path.dirname(file), { recursive: true });
          await writeFile(file, drawn);
        } catch (err) {
          fail(result, 'draw-failed', (err as Error).message);
        }
      }
    }

    io.stderr.write(`detect: ${summary.images} images, ${summary.detections} detections, ${summary.errors} errors${flags.out ? ` → ${flags.out}` : ''}\n`);
    return summary;
  } finally {
    model.dispose();
    await store?.close?.();
  }
}

export function detectCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return new Command('detect')
    .description('run a detector (teacher, student checkpoint, best/ or exported model) on images; writes COCO results')
    .argument('<images...>', 'image files, directories of images, or (with --topology) key prefixes in its object store')
    .requiredOption('--model <dir|prefix>', 'model directory or store prefix: model.json (layers or graph model) or a checkpoint prefix (latest.json)')
    .option('--out <file>', 'results file (default stdout); JSON lines when it ends in .jsonl')
    .option('--jsonl', 'write JSON lines (one detection per line) instead of one JSON array')
    .option('--annotations <coco.json>', 'COCO file whose image ids (matched by file name) and category ids the results use, so they score with `distillery eval`')
    .option('--draw <dir>', 'also write each image with its boxes, class names and scores (JPEG) into this directory')
    .option('--draw-threshold <score>', `with --draw: draw detections scoring at least this (default ${DEFAULT_DRAW_THRESHOLD}; the results file keeps all)`, numberArg({ min: 0, max: 1 }))
    .option('--threshold <score>', 'keep detections scoring above this (default: the topology\'s candidate threshold, 0.05)', numberArg({ min: 0, max: 0.999999 }))
    .option('--topology <file>', 'read --model and store prefixes from this topology\'s object store; use its thresholds')
    .option('--batch-size <n>', 'images per forward pass', integerArg({ min: 1, max: 1024 }), 8)
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKEND_NAMES))
    .action(async (images: string[], flags: DetectFlags) => {
      const summary = await runDetect(images, flags, io);
      if (summary.errors > 0) throw new Error(`${summary.errors} of ${summary.errors + summary.images} images failed (see the error lines above); the others were processed`);
    });
}

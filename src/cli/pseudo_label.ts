// `distillery pseudo-label`: a detector's confident detections on stored images → a COCO annotation file in the same store,
// which `distillery train --labeled` can take beside the labeled split (self-training, e.g. adapting the teacher to a new domain).
import { Command, Option } from 'commander';
import { BACKEND_NAMES, initBackend, type BackendName } from '../backend/backend.ts';
import { readCocoAnnotations } from '../corpus/coco.ts';
import { detectImages } from '../detect/detect_images.ts';
import { loadDetectionModel } from '../detect/load_model.ts';
import { PseudoLabelWriter, relativeFileName } from '../detect/pseudo_labels.ts';
import { resolveSources } from '../detect/sources.ts';
import { openStore } from '../runner/embedded.ts';
import { BUNDLED_TEACHER_DIR, ensureTeacher, stageOf } from '../runner/main_job.ts';
import { loadTopology } from '../topology/index.ts';
import { lazyBar } from './progress_bar.ts';
import { DEFAULT_TOPOLOGY } from './run.ts';
import type { TrainCommandIo } from './train.ts';
import { integerArg, scoreArg } from './args.ts';

export interface PseudoLabelFlags {
  topology: string;
  model?: string;
  out: string;
  threshold?: number;
  ignoreFrom?: number;
  categories?: string;
  batchSize: number;
  backend?: BackendName;
  set?: string[];
}

export interface PseudoLabelSummary {
  images: number;
  withObjects: number;
  objects: number;
  ignoreRegions: number;
  errors: number;
}

/** The command's work, callable from tests with their own output streams. */
export async function runPseudoLabel(prefixes: readonly string[], flags: PseudoLabelFlags, io: TrainCommandIo): Promise<PseudoLabelSummary> {
  const topology = await loadTopology(flags.topology, { overrides: flags.set });
  await initBackend(flags.backend ?? topology.backend);
  const store = openStore(topology);
  try {
    const teacher = stageOf(topology, 'teacher');
    const modelPrefix = flags.model ?? teacher.options.checkpoint;
    if (flags.model === undefined) await ensureTeacher(store, modelPrefix, BUNDLED_TEACHER_DIR, flags.topology);
    const threshold = flags.threshold ?? topology.thresholds.hardLabel;
    if (flags.ignoreFrom !== undefined && flags.ignoreFrom >= threshold) throw new Error(`--ignore-from ${flags.ignoreFrom} must be below the threshold ${threshold}`);

    const labeledStage = topology.stages.find((s) => s.kind === 'ingest' && s.options.split === 'labeled');
    const categoriesKey = flags.categories ?? (labeledStage?.kind === 'ingest' ? labeledStage.options.annotations : undefined);
    if (categoriesKey === undefined) throw new Error(`${topology.source}: no labeled split to take the categories from; pass --categories <annotations key>`);
    const { categories } = await readCocoAnnotations(store, categoriesKey);
    const categoryIds = categories.map((c) => c.id).sort((a, b) => a - b);

    const sources = await resolveSources(prefixes, store);
    const outside = sources.find((s) => s.store !== store || relativeFileName(flags.out, s.key) === undefined);
    if (outside !== undefined) {
      throw new Error(`${outside.key}: the images must be objects of the store under the folder of --out (${flags.out}), so the annotation file can name them relative to itself`);
    }
    const model = await loadDetectionModel(store, modelPrefix);
    const writer = new PseudoLabelWriter({ threshold, ignoreFrom: flags.ignoreFrom, categoryIds });
    const summary: PseudoLabelSummary = { images: 0, withObjects: 0, objects: 0, ignoreRegions: 0, errors: 0 };
    try {
      if (categoryIds.length !== model.config.numClasses) {
        throw new Error(`${categoriesKey} has ${categoryIds.length} categories but the model has ${model.config.numClasses} classes`);
      }
      io.stderr.write(
        `pseudo-label: ${model.kind} '${model.config.name}' from ${store.describe()}/${modelPrefix}, ${sources.length} images; objects ≥ ${threshold}` +
          `${flags.ignoreFrom === undefined ? '' : `, ignore regions ≥ ${flags.ignoreFrom}`}\n`,
      );
      const t = topology.thresholds;
      const postprocess = { scoreThreshold: Math.min(writer.minScore, t.candidate), topKPerLevel: t.topKPerLevel, nmsIou: t.nmsIou, maxDetections: t.maxDetections };
      const bar = io.stderr.isTTY ? lazyBar(io.stderr, 'pseudo-label |{bar}| {value}/{total} images | {errors} errors') : undefined;
      try {
        for await (const result of detectImages(model, sources, { batchSize: flags.batchSize, postprocess, maxImagePixels: teacher.options.maxImagePixels })) {
          if (result.kind === 'error') {
            summary.errors++;
            io.stderr.write(`${bar === undefined ? '' : '\n'}error: ${result.source.key}: ${result.reason}: ${result.detail.replace(/\s*\n\s*/g, '; ')}\n`);
          } else {
            writer.add({ fileName: relativeFileName(flags.out, result.source.key) as string, width: result.width, height: result.height, detections: result.detections });
          }
          bar?.update(writer.counts.images + summary.errors, sources.length, { errors: summary.errors });
        }
      } finally {
        bar?.stop();
      }
    } finally {
      model.dispose();
    }
    const info = {
      description: 'pseudo-labels: detections ≥ threshold are objects, those in [ignoreFrom, threshold) crowd regions (ignored in training)',
      model: modelPrefix,
      threshold,
      ignoreFrom: flags.ignoreFrom ?? null,
      sources: prefixes,
      date_created: new Date().toISOString(),
    };
    await store.put(flags.out, JSON.stringify(writer.annotationFile(categories, info)));
    Object.assign(summary, writer.counts);
    io.stdout.write(
      `pseudo-label: ${summary.images} images, ${summary.withObjects} with objects (${percent(summary.withObjects, summary.images)}), ${summary.objects} objects, ` +
        `${summary.ignoreRegions} ignore regions, ${summary.errors} unreadable → ${store.describe()}/${flags.out}\n`,
    );
    return summary;
  } finally {
    await store.close?.();
  }
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${((100 * part) / whole).toFixed(1)}%`;
}

export function pseudoLabelCommand(io: TrainCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return new Command('pseudo-label')
    .description(
      "run a detector (by default the topology's teacher) over stored images and write its confident detections as a COCO annotation file next to them, for `distillery train --labeled` (self-training)",
    )
    .argument('<prefixes...>', 'key prefixes (or keys) of the images in the topology\'s object store, e.g. corpus/unlabeled/images/')
    .requiredOption('--out <key>', 'store key of the annotation file to write; the images must lie under its folder (e.g. corpus/unlabeled/pseudo-labels.json)')
    .option('--topology <file>', 'topology YAML (store, teacher checkpoint, thresholds, labeled split)', DEFAULT_TOPOLOGY)
    .option('--model <prefix>', "store prefix of the model [the teacher stage's checkpoint]")
    .option('--threshold <score>', "detections scoring at least this become objects [the topology's hard-label τ]", scoreArg)
    .option('--ignore-from <score>', 'detections scoring from this up to the threshold become crowd regions, ignored by training (default: none)', scoreArg)
    .option('--categories <key>', "COCO annotations whose categories the file uses [the labeled ingest stage's]")
    .option('--batch-size <n>', 'images per forward pass', integerArg({ min: 1, max: 1024 }), 8)
    .addOption(new Option('--backend <name>', "compute backend [the topology's]").choices(BACKEND_NAMES))
    .option('--set <path=value>', 'override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (prefixes: string[], flags: PseudoLabelFlags) => {
      const summary = await runPseudoLabel(prefixes, flags, io);
      if (summary.errors > 0) io.stderr.write(`${summary.errors} unreadable image(s) left out (see the error lines above)\n`);
    });
}

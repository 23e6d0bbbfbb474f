// `distillery corpus generate`: writes the synthetic shapes benchmark into a local directory or a topology's store.
import { lazyBar } from './progress_bar.ts';
import { Command } from 'commander';
import { generateCorpus, inspectCorpus, type CorpusManifest } from '../corpus/generate.ts';
import { resolveCorpusOptions, SPLITS, type CorpusOptions, type ProgressFn } from '../corpus/options.ts';
import { LocalStore } from '../io/local_store.ts';
import type { ObjectStore } from '../io/object_store.ts';
import { openStore } from '../io/open_store.ts';
import { loadTopology } from '../topology/index.ts';
import { withBucketHint } from './store.ts';
import { integerArg, numberArg } from './args.ts';

/** Where the command writes; tests pass buffers, the CLI the process streams. */
export interface CorpusCommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

interface GenerateFlags {
  out?: string;
  topology?: string;
  set?: string[];
  prefix?: string;
  seed?: number;
  labeled?: number;
  test?: number;
  unlabeled?: number;
  emptyShare?: number;
  workers?: number;
  force?: boolean;
}

/** `--out` without a value: the embedded topology's store root (`data`) with the corpus prefix the topologies expect. */
const DEFAULT_OUT = 'data/corpus';
/** `--topology` without `--prefix`: where the topologies' ingest stages and evalAnnotations look. */
const TOPOLOGY_PREFIX = 'corpus';

/** Without a TTY, one progress line per this share of the images. */
const LOG_EVERY = 0.1;

export function corpusCommand(io: CorpusCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const corpus = new Command('corpus').description('the synthetic "shapes" benchmark (labeled, test and shifted unlabeled splits)');
  corpus
    .command('generate')
    .description('generate the benchmark: images + COCO annotations per split and a manifest (deterministic for a seed)')
    .option('--out <dir>', `directory of the local object store to write into [${DEFAULT_OUT}]`)
    .option('--topology <file>', "instead of --out: write into this topology's store (config.store: local directory or S3 bucket)")
    .option('--set <path=value>', 'with --topology: override a topology field (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--prefix <key>', `key prefix inside the store ('' = its root) [--out: '', --topology: ${TOPOLOGY_PREFIX}]`)
    .option('--seed <n>', 'random seed', integerArg())
    .option('--labeled <n>', 'labeled (train) images, target distribution [300]', integerArg())
    .option('--test <n>', 'test images, target distribution [200]', integerArg())
    .option('--unlabeled <n>', 'unlabeled images, shifted distribution [3000]', integerArg())
    .option('--empty-share <f>', 'share of unlabeled images without any object [0.3]', numberArg({ min: 0, max: 1 }))
    .option('--workers <n>', 'render threads, 0 = main thread only [min(4, cores)]', integerArg())
    .option('--force', 'replace an existing corpus generated with a different config')
    .action(async (flags: GenerateFlags) => {
      await runGenerate(flags, io);
    });
  return corpus;
}

/** The store and prefix the flags name: `--out` (default) or the topology's store; both at once is an error. */
async function targetOf(flags: GenerateFlags): Promise<{ store: ObjectStore; prefix: string; explain: (err: unknown) => unknown }> {
  if (flags.topology !== undefined) {
    if (flags.out !== undefined) throw new Error('--out and --topology both name where to write: pass one of them');
    const topologyFlags = { topology: flags.topology, set: flags.set };
    const topology = await loadTopology(flags.topology, { overrides: flags.set });
    const store = openStore(topology.store);
    return { store, prefix: flags.prefix ?? TOPOLOGY_PREFIX, explain: (err) => withBucketHint(err, store, topology.store, topologyFlags) };
  }
  if (flags.set !== undefined) throw new Error('--set overrides a topology field: it needs --topology');
  return { store: new LocalStore({ root: flags.out ?? DEFAULT_OUT }), prefix: flags.prefix ?? '', explain: (err) => err };
}

async function runGenerate(flags: GenerateFlags, io: CorpusCommandIo): Promise<void> {
  const { store, prefix, explain } = await targetOf(flags);
  try {
    await generateInto(store, prefix, flags, io);
  } catch (err) {
    throw explain(err);
  } finally {
    await store.close?.();
  }
}

async function generateInto(store: ObjectStore, prefix: string, flags: GenerateFlags, io: CorpusCommandIo): Promise<void> {
  const options: CorpusOptions = {
    prefix,
    seed: flags.seed,
    images: { labeled: flags.labeled, test: flags.test, unlabeled: flags.unlabeled },
    emptyShare: flags.emptyShare,
    workers: flags.workers,
  };
  const { config } = resolveCorpusOptions(options);
  const where = prefix === '' ? store.describe() : `${store.describe()}/${prefix}`;
  const existing = await inspectCorpus(store, config);
  if (existing.state === 'same' && !flags.force) {
    io.stdout.write(`corpus at ${where} is up to date (same config); nothing to do\n`);
    io.stdout.write(`${formatCorpusSummary(existing.manifest)}\n`);
    return;
  }
  if ((existing.state === 'different' || existing.state === 'incomplete') && !flags.force) {
    throw new Error(`${where} already holds a ${existing.state} corpus (${existing.details}); rerun with --force to replace it`);
  }
  const progress = progressReporter(io);
  const started = performance.now();
  try {
    const manifest = await generateCorpus(store, { ...options, ifExists: 'replace', onProgress: progress.update });
    progress.stop();
    io.stdout.write(`${formatCorpusSummary(manifest, (performance.now() - started) / 1000)}\n`);
  } finally {
    progress.stop();
  }
}

function progressReporter(io: CorpusCommandIo): { update: ProgressFn; stop: () => void } {
  if (io.stderr.isTTY) {
    const bar = lazyBar(io.stderr, 'corpus [{bar}] {value}/{total} images | {split} | {duration_formatted} elapsed, eta {eta_formatted}');
    return { update: (done, total, split) => bar.update(done, total, { split }), stop: () => bar.stop() };
  }
  const t0 = performance.now();
  let nextLog = 0;
  return {
    update: (done, total, split) => {
      if (done < nextLog && done !== total) return;
      nextLog = done + Math.max(1, Math.ceil(total * LOG_EVERY));
      const pct = Math.round((100 * done) / total);
      io.stderr.write(`corpus: ${done}/${total} images (${pct}%), ${split} split, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    },
    stop: () => {},
  };
}

/** Counts, objects per image, empty share and bytes per split; `seconds` when the corpus was just generated. */
export function formatCorpusSummary(manifest: CorpusManifest, seconds?: number): string {
  const rows = [`${'split'.padEnd(10)}${'domain'.padEnd(9)}${'images'.padStart(7)}${'empty'.padStart(8)}${'objects'.padStart(9)}${'obj/img'.padStart(9)}${'MB'.padStart(8)}`];
  let images = 0;
  let empty = 0;
  let objects = 0;
  let bytes = 0;
  for (const split of SPLITS) {
    const s = manifest.splits[split];
    const b = s.imageBytes + s.annotationBytes;
    rows.push(
      `${split.padEnd(10)}${s.domain.padEnd(9)}${String(s.images).padStart(7)}${pct(s.emptyImages, s.images).padStart(8)}${String(s.annotations).padStart(9)}${ratio(s.annotations, s.images).padStart(9)}${mb(b).padStart(8)}`,
    );
    images += s.images;
    empty += s.emptyImages;
    objects += s.annotations;
    bytes += b;
  }
  rows.push(`${'total'.padEnd(19)}${String(images).padStart(7)}${pct(empty, images).padStart(8)}${String(objects).padStart(9)}${ratio(objects, images).padStart(9)}${mb(bytes).padStart(8)}`);
  const perClass = SPLITS.map((split) => {
    const counts = Object.entries(manifest.splits[split].objectsPerClass).map(([c, n]) => `${c} ${n}`);
    return `${split}: ${counts.join(', ')}`;
  });
  const head = `shapes corpus ${manifest.generator.version}, seed ${manifest.seed}${
    seconds === undefined ? '' : `, generated in ${seconds.toFixed(1)} s (${(images / Math.max(seconds, 1e-9)).toFixed(0)} images/s)`
  }`;
  return [head, ...rows, `objects per class — ${perClass.join('; ')}`].join('\n');
}

function pct(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((100 * part) / whole).toFixed(1)}%`;
}

function ratio(part: number, whole: number): string {
  return whole === 0 ? '-' : (part / whole).toFixed(2);
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}


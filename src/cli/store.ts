// `distillery store create-bucket|upload|ls`: manage the topology's object store without the aws CLI.
import type { Dirent } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { lazyBar } from './progress_bar.ts';
import { Argument, Command } from 'commander';
import pLimit from 'p-limit';
import { openStore } from '../io/open_store.ts';
import { joinKey, listAll, type ObjectStore } from '../io/object_store.ts';
import { S3Store, S3StoreError } from '../io/s3_store.ts';
import { loadTopology } from '../topology/index.ts';
import type { StoreConfig } from '../topology/types.ts';
import { DEFAULT_TOPOLOGY } from './run.ts';
import type { TrainCommandIo } from './train.ts';
import { positiveInteger } from './args.ts';

/** Where the command writes; tests pass buffers, the CLI the process streams. */
export type StoreCommandIo = TrainCommandIo;

/** Without a TTY, one progress line per this many milliseconds. */
const LOG_EVERY_MS = 5000;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.json': 'application/json',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
};

/** MIME type by extension for the files a dataset or model holds; undefined lets the store pick its default. */
export function contentTypeOf(file: string): string | undefined {
  return CONTENT_TYPES[path.extname(file).toLowerCase()];
}

export interface LocalFile {
  /** Absolute path on disk. */
  path: string;
  /** Path relative to the walked directory, '/'-separated whatever the OS. */
  relative: string;
  size: number;
}

/** Every regular file under `dir` (symlinks to files included), sorted by relative path; a missing dir is a clear error. */
export async function listLocalFiles(dir: string): Promise<LocalFile[]> {
  const root = path.resolve(dir);
  let rootStat;
  try {
    rootStat = await stat(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${dir}: no such directory`);
    throw err;
  }
  if (!rootStat.isDirectory()) throw new Error(`${dir}: not a directory (upload takes a directory; its files keep their relative paths)`);
  const entries: Dirent[] = await readdir(root, { recursive: true, withFileTypes: true });
  const files = await Promise.all(
    entries.map(async (entry): Promise<LocalFile | undefined> => {
      if (!entry.isFile() && !entry.isSymbolicLink()) return undefined;
      const full = path.join(entry.parentPath, entry.name);
      const st = await stat(full).catch(() => undefined);
      if (st === undefined || !st.isFile()) return undefined;
      return { path: full, relative: path.relative(root, full).split(path.sep).join('/'), size: st.size };
    }),
  );
  return files.filter((f): f is LocalFile => f !== undefined).sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0));
}

export interface UploadProgress {
  /** Files finished (uploaded or skipped) and their bytes. */
  files: number;
  bytes: number;
  totalFiles: number;
  totalBytes: number;
}

export interface UploadOptions {
  /** Files in flight at once. Default 8. */
  concurrency?: number;
  /** Skip files whose key already exists with the same size. */
  skipExisting?: boolean;
  /** Called after each file (uploaded or skipped). */
  onProgress?: (progress: UploadProgress) => void;
}

export interface UploadSummary {
  files: number;
  uploaded: number;
  skipped: number;
  /** Bytes sent (skipped files not counted). */
  bytes: number;
  seconds: number;
}

/** Lists `dir` and uploads its files (see uploadFiles). */
export async function uploadDirectory(store: ObjectStore, dir: string, prefix: string, options: UploadOptions = {}): Promise<UploadSummary> {
  return uploadFiles(store, await listLocalFiles(dir), prefix, options);
}

/**
 * Uploads each file to `<prefix>/<relative path>`. The first failure stops new uploads; those in flight finish,
 * then the error is thrown naming the file (the store has already retried transient failures).
 */
export async function uploadFiles(store: ObjectStore, files: readonly LocalFile[], prefix: string, options: UploadOptions = {}): Promise<UploadSummary> {
  const concurrency = options.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be an integer ≥ 1, got ${concurrency}`);
  const started = performance.now();
  const totalBytes = files.reduce((s, f) => s + f.size, 0);
  const limit = pLimit(concurrency);
  let done = 0;
  let doneBytes = 0;
  let uploaded = 0;
  let skipped = 0;
  let sent = 0;
  let failure: { file: LocalFile; err: unknown } | undefined;

  const one = async (file: LocalFile): Promise<void> => {
    if (failure !== undefined) return;
    const key = joinKey(prefix, file.relative);
    try {
      const existing = options.skipExisting ? await store.head(key) : undefined;
      if (existing !== undefined && existing.size === file.size) {
        skipped++;
      } else {
        await store.put(key, new Uint8Array(await readFile(file.path)), { contentType: contentTypeOf(file.relative) });
        uploaded++;
        sent += file.size;
      }
    } catch (err) {
      failure ??= { file, err };
      return;
    }
    done++;
    doneBytes += file.size;
    options.onProgress?.({ files: done, bytes: doneBytes, totalFiles: files.length, totalBytes });
  };
  await Promise.all(files.map((f) => limit(() => one(f))));
  if (failure !== undefined) {
    const { file, err } = failure;
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`upload of ${file.relative} failed (${uploaded} file(s) uploaded before): ${reason}`, { cause: err });
  }
  return { files: files.length, uploaded, skipped, bytes: sent, seconds: (performance.now() - started) / 1000 };
}

/** `1.2 MB`-style sizes (decimal units, as S3 consoles show them). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A bar on a TTY; otherwise a log line at most every `everyMs` (the summary line follows at the end either way). */
export function uploadProgressReporter(io: StoreCommandIo, everyMs = LOG_EVERY_MS): { update: (p: UploadProgress) => void; stop: () => void } {
  if (io.stderr.isTTY) {
    const bar = lazyBar(io.stderr, 'upload [{bar}] {value}/{total} files | {size} | {duration_formatted} elapsed, eta {eta_formatted}');
    return {
      update: (p) => bar.update(p.files, p.totalFiles, { size: `${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}` }),
      stop: () => bar.stop(),
    };
  }
  const t0 = performance.now();
  let last = t0;
  return {
    update: (p) => {
      const now = performance.now();
      if (now - last < everyMs) return;
      last = now;
      const pct = p.totalBytes === 0 ? 100 : Math.round((100 * p.bytes) / p.totalBytes);
      io.stderr.write(`upload: ${p.files}/${p.totalFiles} files, ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)} (${pct}%), ${((now - t0) / 1000).toFixed(1)} s\n`);
    },
    stop: () => {},
  };
}

export interface TopologyFlags {
  topology: string;
  set?: string[];
}

interface UploadFlags extends TopologyFlags {
  concurrency: number;
  skipExisting?: boolean;
}

interface LsFlags extends TopologyFlags {
  limit?: number;
}

function topologyOptions(command: Command): Command {
  return command
    .option('--topology <file>', "topology YAML whose config.store is used (distributed.yaml: the S3 bucket from S3_BUCKET / S3_ENDPOINT)", DEFAULT_TOPOLOGY)
    .option('--set <path=value>', 'override a topology field (repeatable), e.g. config.store.bucket=my-bucket', (v: string, prev: string[] = []) => [...prev, v]);
}

/** Opens the topology's store, runs `work`, closes the store; a missing bucket becomes the command that creates it. */
async function withStore<T>(flags: TopologyFlags, work: (store: ObjectStore, config: StoreConfig) => Promise<T>, tuning?: { concurrency: number }): Promise<T> {
  const topology = await loadTopology(flags.topology, { overrides: flags.set });
  const store = openStore(topology.store, tuning === undefined ? {} : { s3: { maxConcurrency: Math.max(16, tuning.concurrency) } });
  try {
    return await work(store, topology.store);
  } catch (err) {
    throw withBucketHint(err, store, topology.store, flags);
  } finally {
    await store.close?.();
  }
}

/**
 * `err` unchanged, unless it is (or wraps) S3's NoSuchBucket: then an error that names the bucket and the
 * `distillery store create-bucket` command (same topology and overrides) that creates it.
 */
export function withBucketHint(err: unknown, store: ObjectStore, config: StoreConfig, flags: TopologyFlags): unknown {
  const s3Error = err instanceof S3StoreError ? err : err instanceof Error && err.cause instanceof S3StoreError ? err.cause : undefined;
  if (s3Error?.code !== 'NoSuchBucket' || config.kind !== 's3') return err;
  const command = ['distillery store create-bucket', `--topology ${flags.topology}`, ...(flags.set ?? []).map((s) => `--set ${s}`)].join(' ');
  return new Error(`bucket ${config.bucket} does not exist at ${store.describe()}; create it with: ${command}`, { cause: err });
}

/** Normalises a user-given prefix: no leading or trailing slashes ('' = the store's root). */
function normalizePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '');
}

export function storeCommand(io: StoreCommandIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const command = new Command('store').description("the topology's object store (local directory or S3 bucket): create the bucket, upload a dataset or model, list keys");

  topologyOptions(command.command('create-bucket'))
    .description("create the topology's S3 bucket if it does not exist (a local store needs nothing: its directory is created on first write)")
    .action(async (flags: TopologyFlags) => {
      await withStore(flags, async (store, config) => {
        if (!(store instanceof S3Store) || config.kind !== 's3') {
          io.stdout.write(`${store.describe()} is a local store: nothing to create (the directory is created on first write)\n`);
          return;
        }
        const created = await store.ensureBucket();
        io.stdout.write(created ? `created bucket ${config.bucket} at ${store.describe()}\n` : `bucket ${config.bucket} already exists at ${store.describe()}\n`);
      });
    });

  topologyOptions(command.command('upload'))
    .description('upload every file under <local-dir> (recursively) to <prefix>/<relative path>, e.g. a COCO dataset or a TF.js model')
    .addArgument(new Argument('<local-dir>', 'directory to upload'))
    .addArgument(new Argument('<prefix>', "key prefix in the store, e.g. corpus or models/teacher ('' = the root)"))
    .option('--concurrency <n>', 'files uploaded at once', positiveInteger, 8)
    .option('--skip-existing', 'skip files whose key already exists with the same size (resume an interrupted upload)')
    .action(async (dir: string, prefix: string, flags: UploadFlags) => {
      const files = await listLocalFiles(dir); // a missing directory fails before the store is touched
      if (files.length === 0) throw new Error(`${dir}: no files to upload`);
      const keyPrefix = normalizePrefix(prefix);
      await withStore(
        flags,
        async (store) => {
          // One listing first: a missing bucket or bad credentials fail once here, not once per file.
          if (store instanceof S3Store) await store.list('', { maxKeys: 1 });
          const target = `${store.describe()}/${keyPrefix === '' ? '' : `${keyPrefix}/`}`;
          io.stderr.write(`upload: ${files.length} files (${formatBytes(files.reduce((s, f) => s + f.size, 0))}) from ${dir} to ${target}\n`);
          const progress = uploadProgressReporter(io);
          let summary: UploadSummary;
          try {
            summary = await uploadFiles(store, files, keyPrefix, { concurrency: flags.concurrency, skipExisting: flags.skipExisting, onProgress: progress.update });
          } finally {
            progress.stop();
          }
          const rate = summary.uploaded > 0 && summary.seconds > 0 ? `, ${(summary.uploaded / summary.seconds).toFixed(0)} files/s, ${formatBytes(summary.bytes / summary.seconds)}/s` : '';
          io.stdout.write(
            `uploaded ${summary.uploaded} of ${summary.files} files (${formatBytes(summary.bytes)}, ${summary.bytes} bytes) to ${target} in ${summary.seconds.toFixed(1)} s${rate}` +
              `${flags.skipExisting ? `; skipped ${summary.skipped} already present` : ''}\n`,
          );
        },
        { concurrency: flags.concurrency },
      );
    });

  topologyOptions(command.command('ls'))
    .description('list the keys under a prefix with their sizes, and a total')
    .addArgument(new Argument('[prefix]', "key prefix, e.g. corpus/labeled/ ('' = everything)").default(''))
    .option('--limit <n>', 'list at most n keys', positiveInteger)
    .action(async (prefix: string, flags: LsFlags) => {
      await withStore(flags, async (store) => {
        let count = 0;
        let bytes = 0;
        let more = false;
        for await (const o of listAll(store, prefix, flags.limit === undefined ? {} : { maxKeys: Math.min(1000, flags.limit + 1) })) {
          if (flags.limit !== undefined && count >= flags.limit) {
            more = true;
            break;
          }
          io.stdout.write(`${String(o.size).padStart(12)}  ${o.key}\n`);
          count++;
          bytes += o.size;
        }
        const where = `${store.describe()}/${prefix}`;
        io.stdout.write(
          count === 0
            ? `no objects under ${where}\n`
            : `${count} object${count === 1 ? '' : 's'}, ${formatBytes(bytes)} (${bytes} bytes) under ${where}${more ? ` — stopped at --limit ${flags.limit}, more follow` : ''}\n`,
        );
      });
    });

  return command;
}


// Object store over a local directory: the embedded default, and what tests use.
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ObjectNotFoundError, type ListOptions, type ListPage, type ObjectInfo, type ObjectStore, type PutOptions } from './object_store.ts';

export interface LocalStoreOptions {
  /** Directory that holds the objects; created on first write. */
  root: string;
}

const DEFAULT_PAGE = 1000;

export class LocalStore implements ObjectStore {
  readonly root: string;

  constructor(options: LocalStoreOptions) {
    this.root = path.resolve(options.root);
  }

  describe(): string {
    return pathToFileURL(this.root).href;
  }

  private pathOf(key: string): string {
    if (key.length === 0 || key.startsWith('/') || key.split('/').some((s) => s === '..' || s === '.' || s === '')) {
      throw new Error(`invalid object key ${JSON.stringify(key)}: keys are relative, slash-separated, without '.', '..' or empty segments`);
    }
    return path.join(this.root, ...key.split('/'));
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(this.describe(), key);
      throw err;
    }
  }

  async put(key: string, body: Uint8Array | string, _options?: PutOptions): Promise<void> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    // Write then rename so a reader never sees a half-written object.
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, body);
    await rename(tmp, file);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(key);
    try {
      const st = await stat(file);
      if (!st.isFile()) return undefined;
      return { key, size: st.size, etag: etagOf(st.size, st.mtimeMs), lastModified: st.mtime };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    const maxKeys = options.maxKeys ?? DEFAULT_PAGE;
    const after = options.continuationToken ?? options.startAfter ?? '';
    const keys = (await this.keysUnder(prefix)).filter((k) => k.startsWith(prefix) && k > after).sort();
    const pageKeys = keys.slice(0, maxKeys);
    // Stat the page's keys concurrently: one at a time costs an event-loop turn per key, and in the embedded job a
    // turn lasts a whole training step, so a 1000-key page took ~50 s while the teacher sat idle.
    const infos = await Promise.all(pageKeys.map((key) => this.head(key)));
    const objects = infos.filter((info): info is ObjectInfo => info !== undefined);
    const more = keys.length > maxKeys;
    return more ? { objects, nextToken: pageKeys[pageKeys.length - 1] } : { objects };
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  /** Keys under the deepest directory the prefix names, so listing `a/b/` never walks the rest of the tree. */
  private async keysUnder(prefix: string): Promise<string[]> {
    const dirKey = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const dir = dirKey === '' ? this.root : this.pathOf(dirKey);
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { recursive: true, withFileTypes: true });
    } catch (err) {
      if (isNotFound(err) || isNotDirectory(err)) return [];
      throw err;
    }
    const keys: string[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || entry.name.endsWith('.tmp')) continue;
      const rel = path.relative(this.root, path.join(entry.parentPath, entry.name));
      keys.push(rel.split(path.sep).join('/'));
    }
    return keys;
  }
}

function etagOf(size: number, mtimeMs: number): string {
  return createHash('md5').update(`${size}:${mtimeMs}`).digest('hex');
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && (err as { code: unknown }).code === 'ENOENT';
}

function isNotDirectory(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && (err as { code: unknown }).code === 'ENOTDIR';
}

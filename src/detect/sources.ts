// Command-line image arguments → DetectSources: local files, local directories, or key prefixes of an object store.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { listLocalFiles } from '../cli/store.ts';
import type { CocoGroundTruth } from '../eval/coco_types.ts';
import { LocalStore } from '../io/local_store.ts';
import { listAll, type ObjectStore } from '../io/object_store.ts';
import type { DetectSource } from './detect_images.ts';

/** Files taken from directories and prefixes (a file named explicitly is always tried, whatever its extension). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

const isImageName = (name: string): boolean => IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());

async function localKind(p: string): Promise<'file' | 'dir' | undefined> {
  const st = await stat(p).catch(() => undefined);
  return st === undefined ? undefined : st.isDirectory() ? 'dir' : 'file';
}

/** A local directory or a key prefix of `store` (tried when no such local path exists), for the model location. */
export async function resolveLocation(spec: string, store: ObjectStore | undefined): Promise<{ store: ObjectStore; prefix: string }> {
  const kind = await localKind(spec);
  if (kind === 'dir') return { store: new LocalStore({ root: path.resolve(spec) }), prefix: '' };
  if (kind === 'file') return { store: new LocalStore({ root: path.resolve(path.dirname(spec)) }), prefix: '' };
  if (store !== undefined) return { store, prefix: spec.replace(/\/+$/, '') };
  throw new Error(`${spec}: no such file or directory (pass --topology to read store keys)`);
}

/**
 * Expands the arguments in order: a file is one image, a directory every image file under it (sorted), and
 * anything else a key prefix in `store` (every image object under it). An argument that matches nothing is an error.
 */
export async function resolveSources(args: readonly string[], store: ObjectStore | undefined): Promise<DetectSource[]> {
  const out: DetectSource[] = [];
  for (const arg of args) {
    const kind = await localKind(arg);
    if (kind === 'file') {
      const name = path.basename(arg);
      out.push({ store: new LocalStore({ root: path.resolve(path.dirname(arg)) }), key: name, name });
    } else if (kind === 'dir') {
      const root = new LocalStore({ root: path.resolve(arg) });
      const files = (await listLocalFiles(arg)).filter((f) => isImageName(f.relative));
      if (files.length === 0) throw new Error(`${arg}: no image files (${[...IMAGE_EXTENSIONS].join(', ')})`);
      for (const f of files) out.push({ store: root, key: f.relative, name: f.relative });
    } else if (store !== undefined) {
      const base = arg.replace(/\/+$/, '');
      const before = out.length;
      for await (const obj of listAll(store, base)) {
        if (isImageName(obj.key)) out.push({ store, key: obj.key, name: obj.key.slice(base.length).replace(/^\/+/, '') || path.posix.basename(obj.key) });
      }
      if (out.length === before) throw new Error(`${store.describe()}/${arg}: no image objects under this prefix`);
    } else {
      throw new Error(`${arg}: no such file or directory (pass --topology to read store keys)`);
    }
  }
  return out;
}

/**
 * Maps an image name to its id in a COCO file: by `file_name` as written (`images/000001.jpg`), else by the
 * last path component when exactly one image has it. Undefined when the image is not in the file.
 */
export function imageIdMatcher(gt: Pick<CocoGroundTruth, 'images'>): (name: string) => number | undefined {
  const byPath = new Map<string, number>();
  const byBase = new Map<string, number | null>();
  for (const im of gt.images) {
    if (im.file_name === undefined) continue;
    byPath.set(im.file_name, im.id);
    const base = path.posix.basename(im.file_name);
    byBase.set(base, byBase.has(base) ? null : im.id);
  }
  return (name) => byPath.get(name) ?? byBase.get(path.posix.basename(name)) ?? undefined;
}

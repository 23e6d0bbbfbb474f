// Test fixtures: a tiny COCO split of JPEGs with coloured rectangles in a temporary LocalStore, and a tiny detector config.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { CocoGroundTruth } from '../../src/eval/coco_types.ts';
import { LocalStore } from '../../src/io/local_store.ts';
import { resolveDetectorConfig, type DetectorConfig } from '../../src/model/detector_config.ts';

/** Category ids are deliberately not 0…n−1 and not in file order: class 0 = id 3 (red), class 1 = id 7 (blue). */
export const CATEGORIES = [
  { id: 7, name: 'blue' },
  { id: 3, name: 'red' },
];
const COLOURS: Record<number, [number, number, number]> = { 3: [230, 30, 30], 7: [30, 30, 230] };
const BACKGROUND: [number, number, number] = [120, 120, 120];

export interface FixtureObject {
  /** COCO [x, y, w, h] in original pixels. */
  bbox: [number, number, number, number];
  categoryId: number;
}

export interface FixtureImage {
  id: number;
  width: number;
  height: number;
  objects: FixtureObject[];
}

/** A detector small enough for a training step in ~30 ms on the cpu backend. */
export const TINY_DETECTOR: DetectorConfig = resolveDetectorConfig({
  name: 'tiny',
  inputSize: 32,
  numClasses: 2,
  stemChannels: 4,
  stageChannels: [4, 8, 8, 8],
  fpnChannels: 8,
  headDepth: 1,
  blocksPerStage: 1,
  anchorSizeFactor: 2,
});

/** Deterministic scenes: landscape, portrait and square images with one or two rectangles each. */
export function makeScenes(count: number, firstId = 1): FixtureImage[] {
  const sizes: [number, number][] = [
    [64, 48],
    [48, 64],
    [64, 64],
    [80, 40],
  ];
  return Array.from({ length: count }, (_, i) => {
    const [width, height] = sizes[i % sizes.length];
    const objects: FixtureObject[] = [];
    const s = 14 + ((i * 5) % 12);
    objects.push({ bbox: [4 + ((i * 7) % (width - s - 8)), 4 + ((i * 3) % (height - s - 8)), s, s], categoryId: i % 2 === 0 ? 3 : 7 });
    if (i % 3 === 0) {
      const t = 12;
      objects.push({ bbox: [width - t - 3, height - t - 3, t, t], categoryId: i % 2 === 0 ? 7 : 3 });
    }
    return { id: firstId + i, width, height, objects };
  });
}

/** Renders a scene as JPEG bytes: grey background, filled rectangles in their category's colour. */
export async function renderJpeg(image: FixtureImage): Promise<Uint8Array> {
  const { width, height } = image;
  const raw = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) raw.set(BACKGROUND, p * 3);
  for (const o of image.objects) {
    const [x, y, w, h] = o.bbox;
    for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) raw.set(COLOURS[o.categoryId], (yy * width + xx) * 3);
  }
  const buf = await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
  return new Uint8Array(buf);
}

export function cocoOf(images: readonly FixtureImage[], fileName: (im: FixtureImage) => string | undefined = (im) => `images/${im.id}.jpg`): CocoGroundTruth {
  let annId = 0;
  return {
    images: images.map((im) => {
      const name = fileName(im);
      return { id: im.id, width: im.width, height: im.height, ...(name === undefined ? {} : { file_name: name }) };
    }),
    annotations: images.flatMap((im) =>
      im.objects.map((o) => ({ id: ++annId, image_id: im.id, category_id: o.categoryId, bbox: o.bbox, area: o.bbox[2] * o.bbox[3], iscrowd: 0 as const })),
    ),
    categories: CATEGORIES.map((c) => ({ ...c })),
  };
}

/** Writes `<split>/annotations.json` and `<split>/images/<id>.jpg`; returns the annotation key. */
export async function writeSplit(store: LocalStore, split: string, images: readonly FixtureImage[]): Promise<string> {
  for (const im of images) await store.put(`${split}/images/${im.id}.jpg`, await renderJpeg(im));
  const key = `${split}/annotations.json`;
  await store.put(key, JSON.stringify(cocoOf(images)));
  return key;
}

export interface TempStore {
  store: LocalStore;
  root: string;
  cleanup(): Promise<void>;
}

export async function tempStore(): Promise<TempStore> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-train-'));
  return { store: new LocalStore({ root }), root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

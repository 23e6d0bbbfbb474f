// Shared builders for teacher tests: a tiny saved teacher with a chosen class bias, and small encoded test images.
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { ObjectStore } from '../../../src/io/object_store.ts';
import { muteCpuBanner } from '../../../src/backend/backend.ts';
import { buildDetector } from '../../../src/model/detector.ts';
import { anchorsPerLocation, type DetectorConfig } from '../../../src/model/detector_config.ts';
import { saveDetector } from '../../../src/model/store_io.ts';
import { IMAGE_REF_VERSION, type ImageRef } from '../../../src/messages/image_ref.ts';
import { disposeLayersModel } from '../../../src/model/detector.ts';
import { tinyTeacherConfig } from '../ingest/topology_fixture.ts';

/** Logit that makes class 0 fire everywhere (σ(4) ≈ 0.98), so every image has detections. */
export const CONFIDENT_BIAS = 4;

/**
 * Saves a freshly initialized tiny teacher. The heads' kernels are ~N(0, 0.01), so the class logits are about the
 * class-head bias: with `class0Bias` set, class 0 scores ≈ σ(class0Bias) on every anchor; without it, every class
 * stays at the prior π = 0.01 and nothing passes a hard-label threshold.
 */
export async function saveTinyTeacher(store: ObjectStore, prefix: string, options: { class0Bias?: number; config?: DetectorConfig } = {}): Promise<DetectorConfig> {
  const config = options.config ?? tinyTeacherConfig();
  const detector = buildDetector(config);
  try {
    if (options.class0Bias !== undefined) {
      const layer = detector.model.getLayer('class_out');
      const [kernel, bias] = layer.getWeights();
      const values = (await bias.data()) as Float32Array;
      const next = Float32Array.from(values);
      const perLocation = anchorsPerLocation(config);
      // Output channels are [anchor shape, class] with class fastest.
      for (let a = 0; a < perLocation; a++) next[a * config.numClasses] = options.class0Bias;
      const newBias = tf.tensor1d(next);
      layer.setWeights([kernel, newBias]);
      newBias.dispose();
    }
    await saveDetector(detector, store, prefix);
  } finally {
    disposeLayersModel(detector.model);
  }
  return config;
}

/** A noisy RGB image (so JPEG has real content), encoded. */
export async function encodedImage(width: number, height: number, format: 'jpeg' | 'png', seed = 1): Promise<Uint8Array> {
  const raw = new Uint8Array(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < raw.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    raw[i] = s >>> 24;
  }
  const img = sharp(raw, { raw: { width, height, channels: 3 } });
  const buf = await (format === 'jpeg' ? img.jpeg({ quality: 80 }) : img.png()).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

export function imageRef(key: string, overrides: Partial<ImageRef> = {}): ImageRef {
  return { v: IMAGE_REF_VERSION, imageId: key, bucket: 'corpus', key, etag: 'etag', size: 1, split: 'unlabeled', ...overrides };
}

export async function useCpuBackend(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
  muteCpuBanner();
}

/**
 * A PNG that claims `width` × `height` in its header (CRC fixed up) but holds a tiny image's data: what a
 * decompression bomb looks like to a reader that checks dimensions first, without spending seconds encoding one.
 */
export async function pngClaimingSize(width: number, height: number): Promise<Uint8Array> {
  const png = Uint8Array.from(await encodedImage(8, 8, 'png'));
  const view = new DataView(png.buffer);
  // Signature (8) + IHDR length (4) + "IHDR" (4), then width and height; the chunk CRC follows the 13 data bytes.
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, crc32(png.subarray(12, 29)));
  return png;
}

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

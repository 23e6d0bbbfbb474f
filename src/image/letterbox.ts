// Decode an encoded image with sharp and letterbox it to the model's square input (aspect kept, grey padding).
import sharp, { type Metadata } from 'sharp';
import type { Box } from '../boxes/box.ts';

/** How an original image maps into the model input: input = original · scale + pad. */
export interface LetterboxTransform {
  scale: number;
  padX: number;
  padY: number;
  /** Original size in pixels. */
  width: number;
  height: number;
  /** Model input side. */
  size: number;
}

export interface LetterboxedImage {
  /** RGB, row-major, size × size × 3. */
  pixels: Uint8Array;
  transform: LetterboxTransform;
}

export interface DecodeLimits {
  /** Refuse images with more pixels than this before decoding them (decompression bombs). */
  maxPixels: number;
  /** Refuse images carrying more metadata than this (EXIF, ICC, XMP, IPTC, JPEG APPn/COM segments), in bytes. */
  maxMetadataBytes?: number;
}

/** Why an image could not be used; stages turn this into a rejection reason. */
export type ImageErrorReason = 'empty-object' | 'not-an-image' | 'corrupt-image' | 'too-large' | 'metadata-too-large';

export class ImageDecodeError extends Error {
  readonly retriable = false;
  constructor(
    readonly reason: ImageErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'ImageDecodeError';
  }
}

/**
 * Timing callback for metrics. sharp decodes inside its resize pipeline (libvips streams the pixels), so `decode`
 * is the header probe (format, size, limit check) and `letterbox` the pixel decode + resize + pad.
 */
export type DecodeStepTimer = (step: 'decode' | 'letterbox', seconds: number) => void;

/** Padding value: mid-grey, which preprocessing maps to ~0. */
export const PAD_VALUE = 114;

/**
 * Transparent pixels are composited on the padding grey: to the model a see-through region then looks like the
 * letterbox border (≈ 0 after preprocessing) instead of whatever colour the encoder left under alpha = 0.
 */
export const ALPHA_BACKGROUND = { r: PAD_VALUE, g: PAD_VALUE, b: PAD_VALUE } as const;

/** A camera's EXIF fits in one 64 KiB JPEG segment; megabytes of metadata around a picture are not a photo's. */
export const DEFAULT_MAX_METADATA_BYTES = 1024 * 1024;

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxPixels: 40_000_000, maxMetadataBytes: DEFAULT_MAX_METADATA_BYTES };

const SIGNATURES: number[][] = [
  [0xff, 0xd8, 0xff], // JPEG
  [0x89, 0x50, 0x4e, 0x47], // PNG
  [0x47, 0x49, 0x46, 0x38], // GIF
  [0x52, 0x49, 0x46, 0x46], // RIFF (WebP)
  [0x49, 0x49, 0x2a, 0x00], // TIFF little-endian
  [0x4d, 0x4d, 0x00, 0x2a], // TIFF big-endian
];

/** True when the bytes start like an image format, so a failed decode means damage rather than a wrong type. */
function hasImageSignature(bytes: Uint8Array): boolean {
  return SIGNATURES.some((sig) => sig.every((b, i) => bytes[i] === b));
}

/** Computes the letterbox transform of a width × height image into a size × size input. */
export function letterboxTransform(width: number, height: number, size: number): LetterboxTransform {
  const scale = Math.min(size / width, size / height);
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  return { scale, padX: Math.floor((size - w) / 2), padY: Math.floor((size - h) / 2), width, height, size };
}

/**
 * Decodes `bytes` (JPEG, PNG, WebP, GIF, TIFF; any colour space or bit depth) and letterboxes it. The image is
 * turned upright by its EXIF orientation first, so width, height and the pixels are those a viewer shows (and
 * annotations refer to); alpha is composited on ALPHA_BACKGROUND. Truncated or corrupt data, non-images,
 * zero-byte objects, images over the pixel limit and images drowning in metadata raise ImageDecodeError with a
 * reason, never a crash. The pixel limit is checked on the header alone, before a single pixel is decoded.
 */
export async function decodeLetterboxed(bytes: Uint8Array, size: number, limits: DecodeLimits = DEFAULT_DECODE_LIMITS, onStep?: DecodeStepTimer): Promise<LetterboxedImage> {
  if (bytes.length === 0) throw new ImageDecodeError('empty-object', 'object is empty (0 bytes)');
  let t0 = performance.now();
  let meta: Metadata;
  try {
    // Header only: sharp reads dimensions without decoding, so no pixel limit is needed for this call.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions');
  } catch (err) {
    const reason = hasImageSignature(bytes) ? 'corrupt-image' : 'not-an-image';
    throw new ImageDecodeError(reason, `${reason === 'corrupt-image' ? 'corrupt or truncated image' : 'not a decodable image'}: ${(err as Error).message}`);
  }
  // EXIF orientations 5–8 swap the axes.
  const { width, height } = meta.autoOrient ?? { width: meta.width, height: meta.height };
  if (width * height > limits.maxPixels) {
    throw new ImageDecodeError('too-large', `image is ${width}×${height} = ${width * height} pixels, over the limit of ${limits.maxPixels}`);
  }
  const maxMetadata = limits.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES;
  const metadataBytes = Math.max(sharpMetadataBytes(meta), jpegMetadataBytes(bytes));
  if (metadataBytes > maxMetadata) {
    throw new ImageDecodeError('metadata-too-large', `image carries ${metadataBytes} bytes of metadata (EXIF/ICC/XMP/IPTC/comments), over the limit of ${maxMetadata}`);
  }
  onStep?.('decode', (performance.now() - t0) / 1000);
  t0 = performance.now();
  const t = letterboxTransform(width, height, size);
  const w = Math.max(1, Math.round(width * t.scale));
  const h = Math.max(1, Math.round(height * t.scale));
  try {
    // failOn 'warning': a JPEG with a damaged entropy-coded stream decodes "successfully" into smeared garbage with
    // only a libjpeg warning; labeling that would teach the student noise, so any decoder complaint rejects it.
    const { data } = await sharp(bytes, { failOn: 'warning', limitInputPixels: limits.maxPixels })
      .rotate()
      .flatten({ background: ALPHA_BACKGROUND })
      .toColourspace('srgb')
      .resize(w, h, { fit: 'fill', kernel: 'linear' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (data.length !== w * h * 3) throw new Error(`decoded ${data.length} bytes, expected ${w * h * 3}`);
    const pixels = padInto(data, w, h, t);
    onStep?.('letterbox', (performance.now() - t0) / 1000);
    return { pixels, transform: t };
  } catch (err) {
    throw new ImageDecodeError('corrupt-image', `corrupt or truncated image: ${(err as Error).message}`);
  }
}

/**
 * The resized w × h RGB image placed at (padX, padY) on a size × size PAD_VALUE canvas. Done here rather than by
 * sharp's extend, which for these small images cost about as much as the decode (bench/teacher_breakdown.ts).
 */
function padInto(rgb: Uint8Array, w: number, h: number, t: LetterboxTransform): Uint8Array {
  const out = new Uint8Array(t.size * t.size * 3).fill(PAD_VALUE);
  const row = w * 3;
  for (let y = 0; y < h; y++) out.set(rgb.subarray(y * row, (y + 1) * row), ((t.padY + y) * t.size + t.padX) * 3);
  return out;
}

/** Metadata blocks sharp extracted (a PNG eXIf/iTXt chunk can be any size). */
function sharpMetadataBytes(meta: Metadata): number {
  return [meta.exif, meta.icc, meta.xmp, meta.iptc].reduce((sum, b) => sum + (b?.length ?? 0), 0);
}

/**
 * Bytes of a JPEG's APP1–APP15 and COM segments before the image data. sharp reports only the first EXIF block,
 * while a hostile file can repeat APPn segments (each ≤ 64 KiB) to any length; 0 for other formats.
 */
export function jpegMetadataBytes(bytes: Uint8Array): number {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return 0;
  let total = 0;
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end of image: no more header segments
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    if ((marker >= 0xe1 && marker <= 0xef) || marker === 0xfe) total += length;
    at += 2 + length;
  }
  return total;
}

/** Encodes model-input pixels as JPEG (what a Sample carries). */
export async function encodeJpeg(pixels: Uint8Array, size: number, quality = 90): Promise<Uint8Array> {
  const buf = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Decodes a model-input JPEG (from a Sample) back to RGB pixels. */
export async function decodeRgb(bytes: Uint8Array, size: number): Promise<Uint8Array> {
  const { data, info } = await sharp(bytes, { failOn: 'truncated' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new ImageDecodeError('corrupt-image', `expected a ${size}×${size} RGB image, got ${info.width}×${info.height}×${info.channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Maps a box from original-image pixels into model-input pixels. */
export function toInputBox(box: Box, t: LetterboxTransform): Box {
  return [box[0] * t.scale + t.padX, box[1] * t.scale + t.padY, box[2] * t.scale + t.padX, box[3] * t.scale + t.padY];
}

/** Maps a box from model-input pixels back to original-image pixels, clipped to the image. */
export function toOriginalBox(box: Box, t: LetterboxTransform): Box {
  const clip = (v: number, max: number): number => Math.min(Math.max(v, 0), max);
  return [
    clip((box[0] - t.padX) / t.scale, t.width),
    clip((box[1] - t.padY) / t.scale, t.height),
    clip((box[2] - t.padX) / t.scale, t.width),
    clip((box[3] - t.padY) / t.scale, t.height),
  ];
}

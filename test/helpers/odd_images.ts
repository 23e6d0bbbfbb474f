// Generates hostile and odd-but-valid image files (no binaries committed): bombs, damaged files, CMYK, 16-bit, EXIF …
import { createDeflate, crc32 } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';

/** A hostile or broken object, and the rejection reason the teacher must give it. */
export interface HostileImage {
  name: string;
  bytes: Uint8Array;
  reason: string;
}

/** A valid image that looks unusual; it must be labeled, not rejected. Sizes are as a viewer shows them (upright). */
export interface OddImage {
  name: string;
  bytes: Uint8Array;
  width: number;
  height: number;
}

const bytesOf = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

/** Seeded RGB noise, so JPEG and PNG have real content to compress. */
export function noisePixels(width: number, height: number, channels = 3, seed = 1): Uint8Array {
  const raw = new Uint8Array(width * height * channels);
  let s = seed >>> 0;
  for (let i = 0; i < raw.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    raw[i] = s >>> 24;
  }
  return raw;
}

function noise(width: number, height: number, seed = 1): Sharp {
  return sharp(noisePixels(width, height, 3, seed), { raw: { width, height, channels: 3 } });
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A real decompression bomb: a width × height 8-bit greyscale PNG of zeros. 20000 × 20000 is 400 M pixels
 * (400 MB as grey, 1.2 GB as RGB once decoded) in a file of ~390 KB; the rows are streamed through deflate so
 * building it never holds more than one row.
 */
export async function decompressionBomb(width = 20_000, height = 20_000): Promise<Uint8Array> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // bit depth 8, colour type 0 (grey), deflate, filter 0, no interlace
  const deflate = createDeflate({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (b: Buffer) => chunks.push(b));
  const ended = new Promise<void>((resolve, reject) => {
    deflate.on('end', resolve);
    deflate.on('error', reject);
  });
  const rows = Buffer.alloc((width + 1) * 16); // 16 rows of (filter byte 0 + zeros) per write
  for (let y = 0; y < height; y += 16) {
    const n = Math.min(16, height - y);
    if (!deflate.write(n === 16 ? rows : rows.subarray(0, (width + 1) * n))) await new Promise((r) => deflate.once('drain', r));
  }
  deflate.end();
  await ended;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return bytesOf(Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', Buffer.concat(chunks)), pngChunk('IEND', Buffer.alloc(0))]));
}

/** A JPEG whose entropy-coded data has bit flips: the header is fine, libjpeg complains mid-scan. */
async function corruptJpeg(): Promise<Uint8Array> {
  const jpeg = Buffer.from(await noise(40, 30, 3).jpeg({ quality: 80 }).toBuffer());
  const scan = jpeg.indexOf(Buffer.from([0xff, 0xda]));
  for (let i = scan + 40; i < jpeg.length - 4; i += 5) jpeg[i] ^= 0x55;
  return bytesOf(jpeg);
}

/** A PNG with damaged bytes inside its chunks (CRCs no longer match). */
async function corruptPng(): Promise<Uint8Array> {
  const png = Buffer.from(await noise(40, 30, 4).png().toBuffer());
  for (let i = 60; i < png.length - 20; i += 7) png[i] ^= 0x55;
  return bytesOf(png);
}

/** A small PNG with a `size`-byte eXIf chunk (big-endian TIFF header, then filler) before its image data. */
async function pngWithHugeExif(size = 4_000_000): Promise<Uint8Array> {
  const png = Buffer.from(await noise(40, 30, 5).png().toBuffer());
  const exif = Buffer.alloc(size, 7);
  exif.set([0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00]);
  const afterIhdr = 8 + 25; // signature + IHDR chunk
  return bytesOf(Buffer.concat([png.subarray(0, afterIhdr), pngChunk('eXIf', exif), png.subarray(afterIhdr)]));
}

/** A small JPEG preceded by `segments` APP1 "Exif" segments of ~64 KiB each (sharp reports only the first). */
async function jpegWithHugeExif(segments = 40): Promise<Uint8Array> {
  const jpeg = await noise(40, 30, 6).jpeg().toBuffer();
  const parts: Buffer[] = [jpeg.subarray(0, 2)];
  for (let i = 0; i < segments; i++) {
    const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8]), Buffer.alloc(65_000, i)]);
    const marker = Buffer.from([0xff, 0xe1, 0, 0]);
    marker.writeUInt16BE(body.length + 2, 2);
    parts.push(marker, body);
  }
  parts.push(jpeg.subarray(2));
  return bytesOf(Buffer.concat(parts));
}

/** Every hostile or broken case decodeLetterboxed (and so the teacher) must refuse, with its reason. */
export async function hostileImages(): Promise<HostileImage[]> {
  const jpeg = await noise(40, 30, 7).jpeg().toBuffer();
  const png = await noise(40, 30, 8).png().toBuffer();
  return [
    { name: 'bomb-20000x20000.png', bytes: await decompressionBomb(), reason: 'too-large' },
    { name: 'truncated.jpg', bytes: bytesOf(jpeg.subarray(0, Math.floor(jpeg.length / 2))), reason: 'corrupt-image' },
    { name: 'truncated.png', bytes: bytesOf(png.subarray(0, Math.floor(png.length / 2))), reason: 'corrupt-image' },
    { name: 'corrupt.jpg', bytes: await corruptJpeg(), reason: 'corrupt-image' },
    { name: 'corrupt.png', bytes: await corruptPng(), reason: 'corrupt-image' },
    { name: 'zero-bytes.jpg', bytes: new Uint8Array(0), reason: 'empty-object' },
    { name: 'text-named.jpg', bytes: new TextEncoder().encode('Dear user, this is a letter, not a JPEG.\n'), reason: 'not-an-image' },
    { name: 'huge-exif.png', bytes: await pngWithHugeExif(), reason: 'metadata-too-large' },
    { name: 'huge-exif.jpg', bytes: await jpegWithHugeExif(), reason: 'metadata-too-large' },
  ];
}

/** Left half red, right half blue, stored `width` × `height` with EXIF orientation 6 (viewers turn it 90° clockwise). */
export async function exifRotatedJpeg(width = 40, height = 20): Promise<Uint8Array> {
  const raw = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set(x < width / 2 ? [220, 20, 20] : [20, 20, 220], (y * width + x) * 3);
  }
  return bytesOf(await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer());
}

/** A 40 × 30 PNG whose left half is opaque green and right half fully transparent (with red hidden under alpha 0). */
export async function halfTransparentPng(): Promise<Uint8Array> {
  const raw = new Uint8Array(40 * 30 * 4);
  for (let y = 0; y < 30; y++) {
    for (let x = 0; x < 40; x++) raw.set(x < 20 ? [30, 200, 30, 255] : [255, 0, 0, 0], (y * 40 + x) * 4);
  }
  return bytesOf(await sharp(raw, { raw: { width: 40, height: 30, channels: 4 } }).png().toBuffer());
}

/** Valid images in unusual encodings and shapes. */
export async function oddImages(): Promise<OddImage[]> {
  const base = () => noise(48, 32, 9);
  return [
    { name: 'cmyk.jpg', bytes: bytesOf(await base().toColourspace('cmyk').jpeg().toBuffer()), width: 48, height: 32 },
    { name: 'rgb16.png', bytes: bytesOf(await base().toColourspace('rgb16').png().toBuffer()), width: 48, height: 32 },
    { name: 'grey.png', bytes: bytesOf(await base().greyscale().png().toBuffer()), width: 48, height: 32 },
    { name: 'grey.jpg', bytes: bytesOf(await base().greyscale().jpeg().toBuffer()), width: 48, height: 32 },
    { name: 'alpha.png', bytes: await halfTransparentPng(), width: 40, height: 30 },
    { name: 'exif-rotated.jpg', bytes: await exifRotatedJpeg(), width: 20, height: 40 },
    { name: 'image.webp', bytes: bytesOf(await base().webp().toBuffer()), width: 48, height: 32 },
    { name: 'one-pixel.png', bytes: bytesOf(await noise(1, 1, 10).png().toBuffer()), width: 1, height: 1 },
    { name: 'tiny-2x3.jpg', bytes: bytesOf(await noise(2, 3, 11).jpeg().toBuffer()), width: 2, height: 3 },
    { name: 'wide-4000x3.png', bytes: bytesOf(await noise(4000, 3, 12).png().toBuffer()), width: 4000, height: 3 },
    { name: 'tall-2x3000.jpg', bytes: bytesOf(await noise(2, 3000, 13).jpeg().toBuffer()), width: 2, height: 3000 },
    { name: 'ordinary-exif.jpg', bytes: bytesOf(await base().jpeg().withExif({ IFD0: { ImageDescription: 'x'.repeat(60_000) } }).toBuffer()), width: 48, height: 32 },
  ];
}

// Hostile inputs are refused with their reason; valid but unusual images (CMYK, 16-bit, alpha, EXIF …) decode right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ALPHA_BACKGROUND, decodeLetterboxed, ImageDecodeError, jpegMetadataBytes, PAD_VALUE } from '../../src/image/letterbox.ts';
import { exifRotatedJpeg, halfTransparentPng, hostileImages, oddImages } from '../helpers/odd_images.ts';

const SIZE = 64;

function pixelAt(pixels: Uint8Array, x: number, y: number): number[] {
  return [...pixels.subarray((y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3)];
}

test('every hostile or broken image is refused with its reason, the bomb on its header alone', async () => {
  const hostile = await hostileImages();
  const bomb = hostile[0];
  assert.ok(bomb.bytes.length < 1_000_000, `the bomb is a small file (${bomb.bytes.length} bytes)`);
  const rssBefore = process.resourceUsage().maxRSS;
  for (const { name, bytes, reason } of hostile) {
    await assert.rejects(
      decodeLetterboxed(bytes, SIZE),
      (err: unknown) => err instanceof ImageDecodeError && err.reason === reason && err.message.length > 0,
      `${name} should be refused as ${reason}`,
    );
  }
  const grownMb = (process.resourceUsage().maxRSS - rssBefore) / 1024;
  console.log(`peak RSS grew by ${grownMb.toFixed(1)} MB while refusing ${hostile.length} hostile images (a decoded 20000² grey bomb alone is 400 MB)`);
  assert.ok(grownMb < 200, `peak RSS grew by ${grownMb} MB`);
});

test('valid but unusual images decode to the model input instead of being rejected', async () => {
  for (const odd of await oddImages()) {
    const { pixels, transform } = await decodeLetterboxed(odd.bytes, SIZE);
    assert.equal(pixels.length, SIZE * SIZE * 3, odd.name);
    assert.deepEqual([transform.width, transform.height], [odd.width, odd.height], `${odd.name}: upright size`);
  }
});

test('a CMYK JPEG and a 16-bit PNG come out as the same sRGB picture as their 8-bit RGB original', async () => {
  // A smooth, muted gradient: inside the CMYK gamut, and without the noise JPEG subsampling would blur.
  const raw = new Uint8Array(64 * 64 * 3);
  for (let i = 0; i < 64 * 64; i++) raw.set([70 + (i % 64) * 2, 70 + Math.floor(i / 64) * 2, 120], i * 3);
  const original = sharp(raw, { raw: { width: 64, height: 64, channels: 3 } });
  const reference = (await decodeLetterboxed(new Uint8Array(await original.clone().png().toBuffer()), SIZE)).pixels;
  const variants = {
    cmyk: await original.clone().toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer(),
    rgb16: await original.clone().toColourspace('rgb16').png().toBuffer(),
  };
  for (const [name, bytes] of Object.entries(variants)) {
    const { pixels } = await decodeLetterboxed(new Uint8Array(bytes), SIZE);
    let sum = 0;
    for (let i = 0; i < pixels.length; i++) sum += Math.abs(pixels[i] - reference[i]);
    const meanError = sum / pixels.length;
    // CMYK round trips through ICC profiles lose a few levels; inverted or unconverted channels would be off by ~100.
    assert.ok(meanError < 8, `${name}: mean error ${meanError.toFixed(2)} against the RGB original`);
  }
});

test('transparent pixels are composited on the stated background, not on what hides under alpha 0', async () => {
  const { pixels } = await decodeLetterboxed(await halfTransparentPng(), SIZE);
  // 40×30 → scale 1.6, 64×48 with 8 rows of padding above.
  const opaque = pixelAt(pixels, 10, 32);
  const clear = pixelAt(pixels, 54, 32);
  assert.ok(opaque[1] > 180 && opaque[0] < 60, `opaque half stays green: ${opaque}`);
  assert.deepEqual(clear, [ALPHA_BACKGROUND.r, ALPHA_BACKGROUND.g, ALPHA_BACKGROUND.b], 'transparent half shows the background, not the hidden red');
  assert.equal(ALPHA_BACKGROUND.r, PAD_VALUE);
});

test('an EXIF-rotated JPEG is turned upright before letterboxing', async () => {
  // Stored 40×20 with red left / blue right; orientation 6 shows it 20×40 with red on top, blue below.
  const { pixels, transform } = await decodeLetterboxed(await exifRotatedJpeg(), SIZE);
  assert.deepEqual([transform.width, transform.height, transform.padX, transform.padY], [20, 40, 16, 0]);
  const top = pixelAt(pixels, 32, 8);
  const bottom = pixelAt(pixels, 32, 56);
  assert.ok(top[0] > 150 && top[2] < 90, `top is red: ${top}`);
  assert.ok(bottom[2] > 150 && bottom[0] < 90, `bottom is blue: ${bottom}`);
  assert.deepEqual(pixelAt(pixels, 4, 32), [PAD_VALUE, PAD_VALUE, PAD_VALUE], 'padding left and right of the upright picture');
});

test('metadata limits: a camera-sized EXIF passes, the limit is configurable, APPn segments are counted', async () => {
  const ordinary = (await oddImages()).find((o) => o.name === 'ordinary-exif.jpg');
  assert.ok(ordinary !== undefined);
  assert.ok(jpegMetadataBytes(ordinary.bytes) > 60_000);
  await decodeLetterboxed(ordinary.bytes, SIZE);
  await assert.rejects(decodeLetterboxed(ordinary.bytes, SIZE, { maxPixels: 1e6, maxMetadataBytes: 10_000 }), (err: unknown) => err instanceof ImageDecodeError && err.reason === 'metadata-too-large');
  assert.equal(jpegMetadataBytes(new Uint8Array([0x89, 0x50])), 0, 'not a JPEG');
  assert.equal(jpegMetadataBytes(new Uint8Array([0xff, 0xd8, 0xff, 0xe1, 0xff])), 0, 'a segment cut short counts nothing');
});

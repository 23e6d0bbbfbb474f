import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeLetterboxed, decodeRgb, encodeJpeg, ImageDecodeError, letterboxTransform, PAD_VALUE, toInputBox, toOriginalBox } from '../../src/image/letterbox.ts';

async function jpeg(width: number, height: number, rgb: [number, number, number]): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).jpeg().toBuffer());
}

test('a wide image is scaled to the width and padded top and bottom', async () => {
  const img = await decodeLetterboxed(await jpeg(200, 100, [200, 30, 30]), 128);
  assert.deepEqual(img.transform, { scale: 0.64, padX: 0, padY: 32, width: 200, height: 100, size: 128 });
  const at = (x: number, y: number): number[] => [...img.pixels.subarray((y * 128 + x) * 3, (y * 128 + x) * 3 + 3)];
  assert.deepEqual(at(64, 5), [PAD_VALUE, PAD_VALUE, PAD_VALUE]);
  assert.ok(Math.abs(at(64, 64)[0] - 200) < 6 && at(64, 64)[1] < 45);
  assert.deepEqual(at(64, 122), [PAD_VALUE, PAD_VALUE, PAD_VALUE]);
});

test('boxes map into the input and back', () => {
  const t = letterboxTransform(100, 300, 128);
  const box: [number, number, number, number] = [10, 20, 60, 280];
  const back = toOriginalBox(toInputBox(box, t), t);
  back.forEach((v, i) => assert.ok(Math.abs(v - box[i]) < 1e-9));
  assert.deepEqual(toOriginalBox([-50, -50, 500, 500], t), [0, 0, 100, 300]);
});

test('bad inputs raise ImageDecodeError with a reason', async () => {
  const good = await jpeg(64, 48, [10, 20, 30]);
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(0), 'empty-object'],
    [new TextEncoder().encode('{"not": "an image"}'), 'not-an-image'],
    [good.subarray(0, Math.floor(good.length * 0.6)), 'corrupt-image'],
  ];
  for (const [bytes, reason] of cases) {
    await assert.rejects(decodeLetterboxed(bytes, 128), (err: unknown) => err instanceof ImageDecodeError && err.reason === reason, reason);
  }
  await assert.rejects(decodeLetterboxed(good, 128, { maxPixels: 1000 }), (err: unknown) => err instanceof ImageDecodeError && err.reason === 'too-large');
});

test('JPEG round trip at model size keeps the pixels close', async () => {
  const img = await decodeLetterboxed(await jpeg(128, 128, [90, 160, 220]), 128);
  const back = await decodeRgb(await encodeJpeg(img.pixels, 128), 128);
  let maxErr = 0;
  for (let i = 0; i < back.length; i++) maxErr = Math.max(maxErr, Math.abs(back[i] - img.pixels[i]));
  assert.ok(maxErr <= 4, `max error ${maxErr}`);
  await assert.rejects(decodeRgb(await encodeJpeg(img.pixels, 128), 64), /expected a 64×64/);
});

test("the letterbox equals sharp's own extend of the resized image, byte for byte (the padding is done in JS)", async () => {
  // Noise, so every pixel of the resized area matters; sizes with odd padding on either side, alpha and grey inputs.
  const noise = (width: number, height: number, channels: 1 | 3 | 4): Promise<Buffer> => {
    const raw = Buffer.alloc(width * height * channels);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 73 + (i >> 5) * 151) % 256;
    return sharp(raw, { raw: { width, height, channels } }).png().toBuffer();
  };
  const inputs = [await noise(201, 97, 3), await noise(33, 170, 3), await noise(90, 91, 4), await noise(150, 64, 1), await jpeg(128, 128, [1, 2, 3])];
  for (const bytes of inputs) {
    const got = await decodeLetterboxed(bytes, 128);
    const t = got.transform;
    const w = Math.max(1, Math.round(t.width * t.scale));
    const h = Math.max(1, Math.round(t.height * t.scale));
    const grey = { r: PAD_VALUE, g: PAD_VALUE, b: PAD_VALUE };
    const reference = await sharp(bytes)
      .rotate()
      .flatten({ background: grey })
      .toColourspace('srgb')
      .resize(w, h, { fit: 'fill', kernel: 'linear' })
      .extend({ top: t.padY, bottom: 128 - h - t.padY, left: t.padX, right: 128 - w - t.padX, background: grey })
      .raw({ depth: 'uchar' })
      .toBuffer();
    assert.equal(got.pixels.length, reference.length);
    assert.ok(Buffer.from(got.pixels).equals(reference), `${t.width}×${t.height}: identical pixels`);
  }
});

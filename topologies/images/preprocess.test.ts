import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { ImageDecodeError, preprocessImage, tensorBytes, tensorFromBytes } from './preprocess.js';

const recipe = (width: number, height: number) => ({
  width,
  height,
  fit: 'fill' as const,
  limitInputPixels: 1e6,
});

/** A PNG of the given RGB bytes (row-major). */
const png = (rgb: number[], width: number, height: number, channels: 1 | 3 | 4 = 3) =>
  sharp(Buffer.from(rgb), { raw: { width, height, channels } }).png().toBuffer();

describe('preprocessImage', () => {
  it('scales each pixel by 1/255 to float32, row-major HWC, when no resize is needed', async () => {
    const rgb = Array.from({ length: 16 * 12 * 3 }, (_, i) => (i * 97 + 13) % 256);
    const { tensor, shape } = await preprocessImage(await png(rgb, 16, 12), recipe(16, 12));
    assert.deepEqual(shape, [12, 16, 3]);
    assert.equal(tensor.length, rgb.length);
    for (const [i, v] of rgb.entries()) assert.equal(tensor[i], Math.fround(v / 255), `element ${i}`);
  });

  it('resizes any image to the recipe size and summarises it for drift monitoring', async () => {
    const solid = await sharp({
      create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 100, b: 50 } },
    })
      .png()
      .toBuffer();
    const { tensor, shape, summary } = await preprocessImage(solid, recipe(24, 24));
    assert.deepEqual(shape, [24, 24, 3]);
    const [r, g, b] = [200, 100, 50].map((v) => Math.fround(v / 255));
    for (let i = 0; i < tensor.length; i += 3)
      assert.deepEqual([tensor[i], tensor[i + 1], tensor[i + 2]], [r, g, b]);
    assert.equal(summary.width, 40);
    assert.equal(summary.height, 30);
    assert.ok(Math.abs(summary.mean_r! - r!) < 1e-6 && Math.abs(summary.mean_b! - b!) < 1e-6);
    assert.ok(summary.std_r! < 1e-6 && summary.std_g! < 1e-6);
    assert.ok(Math.abs(summary.brightness! - (0.299 * r! + 0.587 * g! + 0.114 * b!)) < 1e-6);
  });

  it('computes per-channel population standard deviations', async () => {
    // Left half black, right half white: every channel has mean 0.5 and std 0.5.
    const rgb = Array.from({ length: 8 * 8 }, (_, p) => (p % 8 < 4 ? [0, 0, 0] : [255, 255, 255])).flat();
    const { summary } = await preprocessImage(await png(rgb, 8, 8), recipe(8, 8));
    for (const c of ['r', 'g', 'b']) {
      assert.ok(Math.abs(summary[`mean_${c}`]! - 0.5) < 1e-9, `mean_${c}`);
      assert.ok(Math.abs(summary[`std_${c}`]! - 0.5) < 1e-9, `std_${c}`);
    }
  });

  it('drops alpha and expands grey to three equal channels', async () => {
    const rgba = await preprocessImage(await png([10, 20, 30, 0, 40, 50, 60, 255], 2, 1, 4), recipe(2, 1));
    assert.deepEqual(
      [...rgba.tensor].map((v) => Math.round(v * 255)),
      [10, 20, 30, 40, 50, 60],
    );
    const grey = await preprocessImage(await png([7, 250], 2, 1, 1), recipe(2, 1));
    assert.deepEqual(
      [...grey.tensor].map((v) => Math.round(v * 255)),
      [7, 7, 7, 250, 250, 250],
    );
  });

  it('applies the EXIF orientation before anything else', async () => {
    // Stored 2x1 (red, blue) with orientation 6 (rotate 90° clockwise): upright it is 1x2, red on top.
    const rotated = await sharp(Buffer.from([255, 0, 0, 0, 0, 255]), {
      raw: { width: 2, height: 1, channels: 3 },
    })
      .withMetadata({ orientation: 6 })
      .png()
      .toBuffer();
    const { tensor, summary } = await preprocessImage(rotated, recipe(1, 2));
    assert.equal(summary.width, 1);
    assert.equal(summary.height, 2);
    assert.deepEqual(
      [...tensor].map((v) => Math.round(v * 255)),
      [255, 0, 0, 0, 0, 255],
    );
  });

  it('refuses corrupt images and images over the pixel limit with ImageDecodeError', async () => {
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'white' } })
      .jpeg()
      .toBuffer();
    await assert.rejects(preprocessImage(jpeg.subarray(0, jpeg.length / 2), recipe(8, 8)), ImageDecodeError);
    await assert.rejects(preprocessImage(Buffer.from('not an image'), recipe(8, 8)), ImageDecodeError);
    await assert.rejects(
      preprocessImage(jpeg, { ...recipe(8, 8), limitInputPixels: 64 * 64 - 1 }),
      (err: Error) => err instanceof ImageDecodeError && /pixel limit/i.test(err.message),
    );
  });

  it('stores tensors as little-endian float32 and reads them back exactly', () => {
    const t = Float32Array.from([0, 1 / 255, -2.5, 1e-30, Number.NaN]);
    const bytes = tensorBytes(t);
    assert.equal(bytes.length, 20);
    assert.equal(bytes.readFloatLE(8), -2.5);
    assert.deepEqual(tensorFromBytes(bytes), t);
    assert.throws(() => tensorFromBytes(Buffer.alloc(3)), RangeError);
  });
});

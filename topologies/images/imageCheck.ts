import sharp, { type Metadata } from 'sharp';
import { UploadRejectedError } from './uploadErrors.js';

export interface ImageLimits {
  /** Largest file accepted, in bytes. */
  maxFileBytes: number;
  /** Largest width x height accepted, read from the header before any decoding (sharp's limitInputPixels). */
  maxPixels: number;
}

export const defaultImageLimits: ImageLimits = {
  maxFileBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
};

/**
 * The raster formats accepted, by sharp's name, with the media type events carry. SVG is
 * refused though sharp reads it: it is a document (scripts, external references), not pixels.
 */
const mediaTypes: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  heif: 'image/heif',
};

export const acceptedFormats = Object.keys(mediaTypes);

/** A file that passed every check: safe to store and to decode downstream. */
export interface CheckedImage {
  /** sharp's name of the format, e.g. jpeg. */
  format: string;
  /** The media type detected from the bytes (not the one declared by the client). */
  contentType: string;
  width: number;
  height: number;
}

const firstLine = (err: unknown) => String((err as Error).message ?? err).split('\n')[0];

/**
 * Checks that `bytes` are an image Sluice accepts, cheapest test first, and decodes nothing
 * that could be a decompression bomb: size; format and dimensions from the header only (sharp
 * reads no pixel data for `metadata()`), refused above `maxPixels`; then a full decode that
 * fails on any error, truncation included. Throws UploadRejectedError: too-large,
 * not-an-image, too-many-pixels or corrupt.
 */
export async function checkImage(bytes: Uint8Array, limits: ImageLimits): Promise<CheckedImage> {
  const { maxFileBytes, maxPixels } = limits;
  if (bytes.byteLength > maxFileBytes) {
    throw new UploadRejectedError(
      'too-large',
      `file is ${bytes.byteLength} bytes, over the limit of ${maxFileBytes} bytes`,
    );
  }
  if (bytes.byteLength === 0) throw new UploadRejectedError('not-an-image', 'file is empty');
  const tooManyPixels = (what: string) =>
    new UploadRejectedError(
      'too-many-pixels',
      `${what} over the limit of ${maxPixels} pixels (${(maxPixels / 1e6).toFixed(1)} megapixels): refused before decoding`,
    );
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: maxPixels }).metadata();
  } catch (err) {
    const why = firstLine(err);
    if (/unsupported image format/i.test(why)) {
      throw new UploadRejectedError('not-an-image', 'file is not an image of a known format', null, err);
    }
    if (/pixel limit/i.test(why)) throw tooManyPixels('image dimensions are');
    throw new UploadRejectedError('corrupt', `image header cannot be read: ${why}`, null, err);
  }
  const contentType = meta.format === undefined ? undefined : mediaTypes[meta.format];
  if (contentType === undefined) {
    throw new UploadRejectedError(
      'not-an-image',
      `file is ${meta.format ?? 'of an unknown format'}, not one of the accepted image formats (${acceptedFormats.join(', ')})`,
    );
  }
  const { width, height } = meta;
  if (!width || !height) throw new UploadRejectedError('corrupt', 'image header has no dimensions');
  if (width * height > maxPixels)
    throw tooManyPixels(`image is ${width}x${height} = ${width * height} pixels,`);
  try {
    // Decodes every pixel of the first page into statistics: no output buffer the size of the image.
    await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' }).stats();
  } catch (err) {
    throw new UploadRejectedError('corrupt', `image cannot be decoded: ${firstLine(err)}`, null, err);
  }
  const avif = meta.format === 'heif' && meta.compression === 'av1';
  return {
    format: avif ? 'avif' : meta.format!,
    contentType: avif ? 'image/avif' : contentType,
    width,
    height,
  };
}

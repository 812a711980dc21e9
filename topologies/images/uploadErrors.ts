import { SluiceError } from '../../engine/errors.js';

/** Why an upload was refused; each has a stable code and the HTTP status the API answers. */
export type RejectReason =
  | 'no-file'
  | 'too-large'
  | 'too-many-files'
  | 'not-an-image'
  | 'too-many-pixels'
  | 'corrupt'
  | 'invalid-field'
  | 'not-multipart';

const reasons: Record<RejectReason, { code: string; statusCode: number }> = {
  'no-file': { code: 'SLUICE_INGEST_NO_FILE', statusCode: 400 },
  'too-large': { code: 'SLUICE_INGEST_FILE_TOO_LARGE', statusCode: 413 },
  'too-many-files': { code: 'SLUICE_INGEST_TOO_MANY_FILES', statusCode: 413 },
  'not-an-image': { code: 'SLUICE_INGEST_NOT_AN_IMAGE', statusCode: 415 },
  'too-many-pixels': { code: 'SLUICE_INGEST_TOO_MANY_PIXELS', statusCode: 413 },
  corrupt: { code: 'SLUICE_INGEST_CORRUPT_IMAGE', statusCode: 400 },
  'invalid-field': { code: 'SLUICE_INGEST_INVALID_FIELD', statusCode: 400 },
  'not-multipart': { code: 'SLUICE_INGEST_NOT_MULTIPART', statusCode: 415 },
};

/**
 * An upload refused before anything was written. `statusCode` is what the engine's HTTP error
 * handler answers; `file` is the 0-based index of the file at fault in its request, if any.
 */
export class UploadRejectedError extends SluiceError {
  readonly statusCode: number;

  constructor(
    readonly reason: RejectReason,
    message: string,
    readonly file: number | null = null,
    cause?: unknown,
  ) {
    super(reasons[reason].code, message, { cause });
    this.statusCode = reasons[reason].statusCode;
  }
}

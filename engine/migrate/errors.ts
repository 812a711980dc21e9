import { SluiceError } from '../errors.js';

export type MigrationErrorCode =
  /** A file name, a duplicate version or a `-- sluice:` marker is wrong; nothing was run. */
  | 'SLUICE_MIGRATION_INVALID'
  /** An applied file was edited after it ran. */
  | 'SLUICE_MIGRATION_CHECKSUM'
  /** An applied file is no longer in the directory (deleted or renamed). */
  | 'SLUICE_MIGRATION_MISSING'
  /** A new file sorts before one already applied (e.g. after a merge). */
  | 'SLUICE_MIGRATION_OUT_OF_ORDER'
  /** The database refused a migration's SQL; a transactional one was rolled back. */
  | 'SLUICE_MIGRATION_FAILED'
  /** Another `migrate` held the lock for longer than the lock timeout. */
  | 'SLUICE_MIGRATION_LOCK_TIMEOUT'
  /** The recorded TimescaleDB path cannot be followed on this database. */
  | 'SLUICE_MIGRATION_CAPABILITY';

/** A migration run that stopped; `file` names the migration at fault when there is one. */
export class MigrationError extends SluiceError {
  override readonly code: MigrationErrorCode;
  readonly file: string | undefined;

  constructor(code: MigrationErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause, retriable: code === 'SLUICE_MIGRATION_LOCK_TIMEOUT' });
    this.code = code;
    this.file = options.file;
  }
}

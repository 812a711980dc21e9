import { SluiceError } from '../errors.js';

export type ProjectionErrorCode =
  /** The definition is inconsistent (unknown column, key not in columns, bad name...). */
  | 'SLUICE_PROJECTION_INVALID_DEFINITION'
  /** A handler threw, or emitted a row for a target it does not declare. */
  | 'SLUICE_PROJECTION_HANDLER_FAILED'
  /** The database rejected the rows of one event (constraint, bad value). */
  | 'SLUICE_PROJECTION_ROW_REJECTED'
  /** The database is unreachable or asked for a retry (40001, 40P01, connection lost). */
  | 'SLUICE_PROJECTION_DB_UNAVAILABLE'
  /** The SQL checkpoint is behind the first buffered event: events would be skipped. */
  | 'SLUICE_PROJECTION_CHECKPOINT_MOVED'
  /** A source topic does not exist. */
  | 'SLUICE_PROJECTION_MISSING_TOPIC'
  /** A write failed in a way no retry or dead letter can fix (missing table, bad SQL type...). */
  | 'SLUICE_PROJECTION_WRITE_FAILED'
  /** A rebuild of a projection that serves no stable names to swap. */
  | 'SLUICE_PROJECTION_NOT_REBUILDABLE'
  /** A version to drop still runs somewhere (its consumer group has members). */
  | 'SLUICE_PROJECTION_VERSION_IN_USE'
  /** ProjectionThreads options are invalid (thread count). */
  | 'SLUICE_PROJECTION_THREADS_CONFIG'
  /** A thread of ProjectionThreads failed (its factory, its runner's start, or the runner stopped). */
  | 'SLUICE_PROJECTION_THREAD_FAILED';

/** Failures of the projection runner; `code` is stable, `retriable` says whether waiting can help. */
export class ProjectionError extends SluiceError {
  declare readonly code: ProjectionErrorCode;

  constructor(
    code: ProjectionErrorCode,
    message: string,
    options: { retriable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}

/** The database rejected one event's rows; carries the SQLSTATE so the dead letter names it. */
export class RowRejectedError extends ProjectionError {
  constructor(
    message: string,
    readonly sqlState: string | null,
    cause: unknown,
  ) {
    super('SLUICE_PROJECTION_ROW_REJECTED', message, { cause });
  }
}

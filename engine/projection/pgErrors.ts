import { ValueEncodeError } from './sqlText.js';

/**
 * What a failed write means for the batch:
 * - `transient`: the database cannot take the write now (connection lost, serialization failure,
 *   deadlock, shutdown, out of resources); retry the whole transaction after a backoff;
 * - `row`: some row's data is at fault (constraint violation, bad value); find the event by
 *   isolation and dead-letter it;
 * - `fatal`: the statement itself is wrong (missing table or column, no unique index for the
 *   conflict target, permissions); no event is to blame and no retry helps.
 */
export type FailureKind = 'transient' | 'row' | 'fatal';

const TRANSIENT_STATES = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '57014']);
const TRANSIENT_CLASSES = new Set(['08', '53', '58']);
/** 21000: the same key twice in one ON CONFLICT DO UPDATE (keys equal to SQL, not to the fold). */
const ROW_CLASSES = new Set(['21', '22', '23']);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);

export function sqlStateOf(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

export function classifyWriteError(err: unknown): FailureKind {
  if (err instanceof ValueEncodeError) return 'row';
  const state = sqlStateOf(err);
  if (state) {
    if (TRANSIENT_STATES.has(state) || TRANSIENT_CLASSES.has(state.slice(0, 2))) return 'transient';
    if (ROW_CLASSES.has(state.slice(0, 2))) return 'row';
    return 'fatal';
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'transient';
  const message = err instanceof Error ? err.message : String(err);
  // node-postgres reports a dropped socket with these messages and no code.
  if (
    /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect/i.test(
      message,
    )
  )
    return 'transient';
  return 'fatal';
}

/** Whether a pooled client must be destroyed rather than reused after `err`. */
export function brokenConnection(err: unknown): boolean {
  const state = sqlStateOf(err);
  if (state) return state.startsWith('08') || state.startsWith('57P');
  return classifyWriteError(err) === 'transient';
}

import type { ColumnType } from './definition.js';

/**
 * Text forms of row values, as PostgreSQL's input functions read them: the bulk paths send a
 * whole column as one array literal (`unnest($1::int8[])`) or whole rows as COPY text, so values
 * are turned into text here rather than by node-postgres one parameter at a time.
 */

/** A value the encoder cannot turn into the column's type; the write path blames its event. */
export class ValueEncodeError extends Error {
  override readonly name = 'ValueEncodeError';
}

type Scalar = (v: unknown) => string;

function numberText(v: unknown): string {
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return String(v);
    return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  }
  return String(v);
}

function toDate(v: unknown): Date {
  const d = v instanceof Date ? v : new Date(v as number);
  if (Number.isNaN(d.getTime())) throw new ValueEncodeError(`invalid timestamp ${String(v)}`);
  return d;
}

let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * `new Date(ms).toISOString()`, reusing the text up to the second: consecutive events mostly
 * share it, and formatting dates is a good part of encoding a row.
 */
export function isoFromMillis(value: number): string {
  const ms = Math.trunc(value);
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const iso = toDate(ms).toISOString();
    // Years outside 0000–9999 print as ±YYYYYY: not worth caching.
    if (iso.length !== 24) return iso;
    cachedSecond = second;
    cachedPrefix = iso.slice(0, 20);
  }
  const milli = ms - second * 1000;
  return `${cachedPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

const text: Scalar = (v) => (typeof v === 'string' ? v : String(v));
const bool: Scalar = (v) => (v === true ? 't' : v === false ? 'f' : String(v));
const timestamp: Scalar = (v) =>
  typeof v === 'string' ? v : isoFromMillis(v instanceof Date ? v.getTime() : (v as number));
const date: Scalar = (v) => (typeof v === 'string' ? v : toDate(v).toISOString().slice(0, 10));
/** As node-postgres does: a string is JSON text already; anything else is serialised. */
const json: Scalar = (v) => {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v);
  } catch (err) {
    throw new ValueEncodeError(`value is not JSON: ${(err as Error).message}`);
  }
};
const bytea: Scalar = (v) => {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array)
    return `\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  throw new ValueEncodeError('bytea values must be Buffers');
};

const scalars: Record<ColumnType, Scalar> = {
  text,
  uuid: text,
  numeric: numberText,
  int2: numberText,
  int4: numberText,
  int8: numberText,
  float4: numberText,
  float8: numberText,
  bool,
  timestamptz: timestamp,
  timestamp,
  date,
  json,
  jsonb: json,
  bytea,
};

/** Types whose text never needs quoting in an array literal (digits, signs, `e`, `NaN`, `t`/`f`). */
const bare = new Set<ColumnType>(['int2', 'int4', 'int8', 'float4', 'float8', 'bool']);

const ARRAY_SPECIAL = /[\\"]/g;
const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One column of rows as a PostgreSQL array literal, for `unnest($n::<type>[])`. */
export function arrayLiteral(type: ColumnType, values: readonly unknown[]): string {
  const scalar = scalars[type];
  const quote = !bare.has(type);
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      parts[i] = 'NULL';
      continue;
    }
    let s = scalar(v);
    // A number that came as a string, or an unexpected value: quote anything not plainly bare.
    if (quote || !/^[-+0-9.eEaNIifnty]+$/.test(s)) {
      if (s.includes('\\') || s.includes('"')) s = s.replace(ARRAY_SPECIAL, '\\$&');
      s = `"${s}"`;
    }
    parts[i] = s;
  }
  return `{${parts.join(',')}}`;
}

const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;

function escapeCopy(s: string): string {
  return COPY_SPECIAL.test(s) ? s.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]!) : s;
}

const NUMERIC = new Set<ColumnType>(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'bool']);

/**
 * The COPY text-format encoder of one column type (NULL is `\\N`). Numbers and booleans, the
 * common case, skip escaping: their text cannot hold a tab, newline or backslash.
 */
export function copyEncoder(type: ColumnType): (v: unknown) => string {
  const scalar = scalars[type];
  if (NUMERIC.has(type)) {
    return (v) => {
      if (v === null || v === undefined) return '\\N';
      if (typeof v === 'number') return Number.isFinite(v) ? String(v) : numberText(v);
      if (typeof v === 'boolean') return v ? 't' : 'f';
      return escapeCopy(scalar(v));
    };
  }
  if (type === 'timestamptz' || type === 'timestamp') {
    return (v) => {
      if (v === null || v === undefined) return '\\N';
      if (typeof v === 'number') return isoFromMillis(v);
      if (v instanceof Date) return isoFromMillis(v.getTime());
      return escapeCopy(scalar(v));
    };
  }
  return (v) => (v === null || v === undefined ? '\\N' : escapeCopy(scalar(v)));
}

const encoders = new Map<ColumnType, (v: unknown) => string>();

/** One field of a COPY text-format line. */
export function copyField(type: ColumnType, v: unknown): string {
  let enc = encoders.get(type);
  if (!enc) encoders.set(type, (enc = copyEncoder(type)));
  return enc(v);
}

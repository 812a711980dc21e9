import type { ColumnType, Row } from './definition.js';
import { ValueEncodeError } from './sqlText.js';

/**
 * PostgreSQL's binary COPY format (`COPY ... FROM STDIN WITH (FORMAT binary)`), written straight
 * into Buffers: no text to build, escape and convert, and less parsing for the database.
 *
 * It is an exact shortcut, never a change of meaning. A column is written in binary only for
 * the JS values whose stored result is known to equal what the text path's input function
 * would store (a JS number in a float8 column, an epoch-milliseconds number or a Date in a
 * timestamptz column, a canonical uuid string, ...). Any other value (a timestamp given as
 * text, a fractional number in an int column) makes the whole batch of that target go by
 * text COPY instead, where the database parses it, or rejects it, as before. `numeric` and
 * `float4` columns always go by text: their binary forms would need a decimal parser here, and
 * float4 rounding of a double could differ from rounding the decimal text.
 */

/** A value this encoder does not write in binary: the batch goes by text COPY. */
export class NotBinary extends Error {
  override readonly name = 'NotBinary';
}

const NOT_BINARY = new NotBinary('value needs the text path');

/** Column types whose binary form is written here (with the value checks of each). */
const BINARY_TYPES = new Set<ColumnType>([
  'text',
  'uuid',
  'int2',
  'int4',
  'int8',
  'float8',
  'bool',
  'timestamptz',
  'timestamp',
  'date',
  'json',
  'jsonb',
  'bytea',
]);

/** Whether a target with these column types can use binary COPY at all. */
export const binaryCapable = (types: readonly ColumnType[]): boolean =>
  types.every((t) => BINARY_TYPES.has(t));

/** 11-byte signature, flags, header extension length. */
const HEADER = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_MS = 946_684_800_000;
const DAY_MS = 86_400_000;
/** 0001-01-01 and 10000-01-01: the range the text path's ISO form covers; others go by text. */
const MIN_MS = -62_135_596_800_000;
const MAX_MS = 253_402_300_800_000;
const TWO_32 = 4_294_967_296;

/** A growable output buffer. */
export class BinaryOut {
  buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
  }

  null(): void {
    this.ensure(4);
    this.buf.writeInt32BE(-1, this.pos);
    this.pos += 4;
  }

  /** A length-prefixed UTF-8 field; `prefix` is a byte written before the text (jsonb's version). */
  text(s: string, prefix = -1): void {
    const extra = prefix >= 0 ? 1 : 0;
    const len = s.length;
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.ensure(4 + extra + len * 3);
    const b = this.buf;
    const start = this.pos + 4;
    if (extra) b[start] = prefix;
    let p = start + extra;
    // Short ASCII text, most keys and labels, is copied here: cheaper than a call into C++.
    if (len <= 32) {
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[p + i] = c;
      }
      p = i === len ? p + len : p + b.utf8Write(s, p);
    } else p += b.utf8Write(s, p);
    b.writeInt32BE(p - start, this.pos);
    this.pos = p;
  }

  bytes(b: Uint8Array): void {
    this.ensure(4 + b.length);
    this.buf.writeInt32BE(b.length, this.pos);
    this.buf.set(b, this.pos + 4);
    this.pos += 4 + b.length;
  }

  /** A signed 64-bit integer given as a safe-integer number. */
  int64(v: number): void {
    this.ensure(12);
    const b = this.buf;
    b.writeInt32BE(8, this.pos);
    const hi = Math.floor(v / TWO_32);
    b.writeInt32BE(hi, this.pos + 4);
    b.writeUInt32BE(v - hi * TWO_32, this.pos + 8);
    this.pos += 12;
  }
}

declare module 'node:buffer' {
  interface Buffer {
    /** Node's own fast path behind `write(s, offset, 'utf8')`; returns the bytes written. */
    utf8Write(s: string, offset: number): number;
  }
}

type FieldWriter = (out: BinaryOut, v: unknown) => void;

function intWriter(bytes: 2 | 4, min: number, max: number): FieldWriter {
  return (out, v) => {
    if (v === null || v === undefined) return out.null();
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw NOT_BINARY;
    out.ensure(4 + bytes);
    out.buf.writeInt32BE(bytes, out.pos);
    if (bytes === 2) out.buf.writeInt16BE(v, out.pos + 4);
    else out.buf.writeInt32BE(v, out.pos + 4);
    out.pos += 4 + bytes;
  };
}

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

const int8: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  if (typeof v === 'number' && Number.isSafeInteger(v)) return out.int64(v);
  if (typeof v === 'bigint' && v >= INT8_MIN && v <= INT8_MAX) {
    out.ensure(12);
    out.buf.writeInt32BE(8, out.pos);
    out.buf.writeBigInt64BE(v, out.pos + 4);
    out.pos += 12;
    return;
  }
  throw NOT_BINARY;
};

const float8: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  if (typeof v !== 'number') throw NOT_BINARY;
  out.ensure(12);
  out.buf.writeInt32BE(8, out.pos);
  // The text path sends String(-0) = "0": store +0 as it would.
  out.buf.writeDoubleBE(v === 0 ? 0 : v, out.pos + 4);
  out.pos += 12;
};

const bool: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  if (typeof v !== 'boolean') throw NOT_BINARY;
  out.ensure(5);
  out.buf.writeInt32BE(1, out.pos);
  out.buf[out.pos + 4] = v ? 1 : 0;
  out.pos += 5;
};

/** Epoch milliseconds of a timestamp value the binary path takes, or NOT_BINARY. */
function millis(v: unknown): number {
  // The text path formats Math.trunc(ms): fractions of a millisecond are dropped there too.
  const ms = typeof v === 'number' ? Math.trunc(v) : v instanceof Date ? v.getTime() : Number.NaN;
  if (!(ms >= MIN_MS && ms < MAX_MS)) throw NOT_BINARY;
  return ms;
}

const timestamp: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  const us = (millis(v) - PG_EPOCH_MS) * 1000;
  if (Number.isSafeInteger(us)) return out.int64(us);
  // Beyond about the year 2255 microseconds outgrow a double's integers.
  out.ensure(12);
  out.buf.writeInt32BE(8, out.pos);
  out.buf.writeBigInt64BE(BigInt(millis(v) - PG_EPOCH_MS) * 1000n, out.pos + 4);
  out.pos += 12;
};

const date: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  // The text path takes the UTC date of the instant.
  const days = Math.floor((millis(v) - PG_EPOCH_MS) / DAY_MS);
  out.ensure(8);
  out.buf.writeInt32BE(4, out.pos);
  out.buf.writeInt32BE(days, out.pos + 4);
  out.pos += 8;
};

const text: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  out.text(typeof v === 'string' ? v : String(v));
};

function jsonOf(v: unknown): string {
  if (typeof v === 'string') return v;
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch (err) {
    throw new ValueEncodeError(`value is not JSON: ${(err as Error).message}`);
  }
  // undefined for functions and symbols: the text path would send "undefined" and fail there.
  if (s === undefined) throw NOT_BINARY;
  return s;
}

const json: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  out.text(jsonOf(v));
};

const jsonb: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  out.text(jsonOf(v), 1);
};

const bytea: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  if (!(v instanceof Uint8Array)) throw NOT_BINARY;
  out.bytes(v);
};

/** Hex digit values by char code; -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

/**
 * The 36-character canonical form (any case), the common case; other spellings PostgreSQL
 * accepts (braces, no hyphens) go by text.
 */
const uuid: FieldWriter = (out, v) => {
  if (v === null || v === undefined) return out.null();
  if (typeof v !== 'string' || v.length !== 36) throw NOT_BINARY;
  out.ensure(20);
  const b = out.buf;
  b.writeInt32BE(16, out.pos);
  let p = out.pos + 4;
  for (let i = 0; i < 36; ) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (v.charCodeAt(i) !== 45) throw NOT_BINARY;
      i++;
      continue;
    }
    const c1 = v.charCodeAt(i);
    const c2 = v.charCodeAt(i + 1);
    const h = c1 < 128 ? HEX[c1]! : -1;
    const l = c2 < 128 ? HEX[c2]! : -1;
    if (h < 0 || l < 0) throw NOT_BINARY;
    b[p++] = (h << 4) | l;
    i += 2;
  }
  out.pos = p;
};

const writers: Partial<Record<ColumnType, FieldWriter>> = {
  text,
  uuid,
  int2: intWriter(2, -32768, 32767),
  int4: intWriter(4, -2147483648, 2147483647),
  int8,
  float8,
  bool,
  timestamptz: timestamp,
  timestamp,
  date,
  json,
  jsonb,
  bytea,
};

/** Writes rows [from, to) of a target as binary COPY tuples; throws NotBinary for a value it leaves to text. */
export type BinaryRows = (out: BinaryOut, rows: readonly Row[], from: number, to: number) => void;

/**
 * A tuple writer specialised to one target's columns (see compileCopyLines in targetWriter.ts
 * for why it is compiled).
 */
export function compileBinaryRows(columns: readonly string[], types: readonly ColumnType[]): BinaryRows {
  const fns = types.map((t) => {
    const w = writers[t];
    if (!w) throw new Error(`no binary COPY writer for ${t}`);
    return w;
  });
  const body = `
    ${columns.map((_, i) => `const w${i} = fns[${i}];`).join('\n')}
    return (out, rows, from, to) => {
      for (let r = from; r < to; r++) {
        const row = rows[r];
        out.int16(${columns.length});
        ${columns.map((c, i) => `w${i}(out, row[${JSON.stringify(c)}]);`).join('\n        ')}
      }
    };`;
  return new Function('fns', body)(fns) as BinaryRows;
}

/** The COPY binary header, for the first chunk. */
export const binaryHeader = (): Buffer => HEADER;

/** The file trailer: a field count of -1. */
export const binaryTrailer = (): Buffer => Buffer.from([0xff, 0xff]);

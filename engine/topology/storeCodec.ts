import type { Serde } from './contracts.js';
import { SerdeError } from './errors.js';
import { readInt64, writeInt64 } from './serdes.js';

/*
 * Byte layouts of what the built-in operators keep in stores. Keys are always the key serde's
 * bytes; values are the aggregate serde's bytes, framed as below where the operator needs more.
 *   time windows:    [aggregate]
 *   sessions:        [end int64][aggregate]
 *   sliding windows: [flags u8][min int64][max int64][aggregate]   (flags bit 0: final emitted)
 *   join buffers:    [count u32] then per record [flags u8][length u32][value]  (bit 0: joined)
 */

export function toBytes<T>(serde: Serde<T>, value: T, topic: string, what: string): Buffer {
  const bytes = serde.serialize(value, topic);
  if (bytes === null) throw new SerdeError(`the ${what} serde returned null for a non-null value`);
  return bytes;
}

export interface SessionValue {
  end: number;
  agg: Buffer;
}

export function encodeSession(v: SessionValue): Buffer {
  return Buffer.concat([writeInt64(v.end), v.agg]);
}

export function decodeSession(bytes: Buffer): SessionValue {
  return { end: readInt64(bytes, 0), agg: bytes.subarray(8) };
}

export interface SlidingValue {
  emitted: boolean;
  /** Timestamps of the earliest and latest record in the window: they say which records it holds. */
  min: number;
  max: number;
  agg: Buffer;
}

export function encodeSliding(v: SlidingValue): Buffer {
  return Buffer.concat([Buffer.from([v.emitted ? 1 : 0]), writeInt64(v.min), writeInt64(v.max), v.agg]);
}

export function decodeSliding(bytes: Buffer): SlidingValue {
  return {
    emitted: (bytes[0]! & 1) === 1,
    min: readInt64(bytes, 1),
    max: readInt64(bytes, 9),
    agg: bytes.subarray(17),
  };
}

export interface BufferedRecord {
  joined: boolean;
  value: Buffer;
}

export function encodeBuffered(records: readonly BufferedRecord[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0]!.writeUInt32BE(records.length);
  for (const r of records) {
    const head = Buffer.alloc(5);
    head[0] = r.joined ? 1 : 0;
    head.writeUInt32BE(r.value.length, 1);
    parts.push(head, r.value);
  }
  return Buffer.concat(parts);
}

export function decodeBuffered(bytes: Buffer): BufferedRecord[] {
  const count = bytes.readUInt32BE(0);
  const out: BufferedRecord[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    const joined = (bytes[at]! & 1) === 1;
    const length = bytes.readUInt32BE(at + 1);
    out.push({ joined, value: bytes.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

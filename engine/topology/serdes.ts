import type { Serde } from './contracts.js';
import { SerdeError } from './errors.js';
import type { Windowed } from './windows.js';

/**
 * Serdes for the common value types. As in Kafka, null bytes stand for a null value and back
 * (a tombstone or an absent key), so every serde here maps null <-> null.
 */
export const Serdes = {
  /** UTF-8 text. */
  string(): Serde<string> {
    return {
      serialize: (value) => (value === null || value === undefined ? null : Buffer.from(value, 'utf8')),
      deserialize: (bytes) => (bytes === null ? (null as unknown as string) : bytes.toString('utf8')),
    };
  },

  /** JSON text, UTF-8. */
  json<T>(): Serde<T> {
    return {
      serialize: (value) =>
        value === null || value === undefined ? null : Buffer.from(JSON.stringify(value)),
      deserialize: (bytes) => {
        if (bytes === null) return null as T;
        try {
          return JSON.parse(bytes.toString('utf8')) as T;
        } catch (err) {
          throw new SerdeError(`not JSON: ${(err as Error).message}`, err);
        }
      },
    };
  },

  /** The bytes themselves. */
  bytes(): Serde<Buffer> {
    return {
      serialize: (value) => value ?? null,
      deserialize: (bytes) => bytes as Buffer,
    };
  },

  /** A safe integer as a signed 64-bit big-endian number (Kafka's LongSerde). */
  int64(): Serde<number> {
    return {
      serialize: (value) => (value === null || value === undefined ? null : writeInt64(value)),
      deserialize: (bytes) => {
        if (bytes === null) return null as unknown as number;
        if (bytes.length !== 8) throw new SerdeError(`int64 needs 8 bytes, got ${bytes.length}`);
        return readInt64(bytes, 0);
      },
    };
  },

  /** A double as 8 bytes, big-endian (Kafka's DoubleSerde). */
  float64(): Serde<number> {
    return {
      serialize: (value) => {
        if (value === null || value === undefined) return null;
        const out = Buffer.allocUnsafe(8);
        out.writeDoubleBE(value);
        return out;
      },
      deserialize: (bytes) => {
        if (bytes === null) return null as unknown as number;
        if (bytes.length !== 8) throw new SerdeError(`float64 needs 8 bytes, got ${bytes.length}`);
        return bytes.readDoubleBE(0);
      },
    };
  },

  /**
   * A windowed key: the inner key's bytes, then the window start and end as signed 64-bit
   * big-endian numbers (16 bytes). Self-describing, unlike Kafka's time-windowed serde, so a
   * reader needs no window size.
   */
  windowed<K>(inner: Serde<K>): Serde<Windowed<K>> {
    return {
      serialize: (w, topic) => {
        if (w === null || w === undefined) return null;
        const key = inner.serialize(w.key, topic) ?? Buffer.alloc(0);
        return Buffer.concat([key, writeInt64(w.start), writeInt64(w.end)]);
      },
      deserialize: (bytes, topic) => {
        if (bytes === null) return null as unknown as Windowed<K>;
        if (bytes.length < 16)
          throw new SerdeError(`windowed key needs at least 16 bytes, got ${bytes.length}`);
        const keyBytes = bytes.subarray(0, bytes.length - 16);
        return {
          key: inner.deserialize(keyBytes, topic),
          start: readInt64(bytes, bytes.length - 16),
          end: readInt64(bytes, bytes.length - 8),
        };
      },
      prepare: inner.prepare
        ? (bytes, topic) =>
            inner.prepare!(bytes === null ? null : bytes.subarray(0, bytes.length - 16), topic)
        : undefined,
    };
  },
};

export function writeInt64(value: number): Buffer {
  if (!Number.isSafeInteger(value)) throw new SerdeError(`int64 needs a safe integer, got ${value}`);
  const out = Buffer.allocUnsafe(8);
  out.writeBigInt64BE(BigInt(value));
  return out;
}

export function readInt64(bytes: Buffer, offset: number): number {
  const n = bytes.readBigInt64BE(offset);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new SerdeError(`int64 ${n} is outside the safe integer range`);
  }
  return Number(n);
}

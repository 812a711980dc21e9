import { SluiceError } from '../errors.js';
import type { Bytes, ChangeRecord, KeyValueStore, WindowStore } from './types.js';

/**
 * Stable codes of the state-store failure family:
 * - `SLUICE_STATE_INVALID_NAME`: a store name that cannot name a directory;
 * - `SLUICE_STATE_OPEN_FAILED`: the persistent engine cannot open the store's directory;
 * - `SLUICE_STATE_ALREADY_OPEN`: a persistent store opened twice in one process;
 * - `SLUICE_STATE_CLOSED`: a store used after `close()` or `destroy()`;
 * - `SLUICE_STATE_KEY_TOO_LARGE`: a key longer than the engine allows (lmdb: 1978 bytes, framing included);
 * - `SLUICE_STATE_INVALID_WINDOW_START`: a window start that is not a safe integer;
 * - `SLUICE_STATE_INVALID_WINDOW_KEY`: changelog key bytes that are not an encoded window key;
 * - `SLUICE_STATE_INVALID_CHECKPOINT`: a checkpoint offset that is not a non-negative safe integer.
 */
export type StateStoreErrorCode =
  | 'SLUICE_STATE_INVALID_NAME'
  | 'SLUICE_STATE_OPEN_FAILED'
  | 'SLUICE_STATE_ALREADY_OPEN'
  | 'SLUICE_STATE_CLOSED'
  | 'SLUICE_STATE_KEY_TOO_LARGE'
  | 'SLUICE_STATE_INVALID_WINDOW_START'
  | 'SLUICE_STATE_INVALID_WINDOW_KEY'
  | 'SLUICE_STATE_INVALID_CHECKPOINT';

export class StateStoreError extends SluiceError {
  declare readonly code: StateStoreErrorCode;

  constructor(code: StateStoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

const TWO_32 = 2 ** 32;
/** Bytes around the key in an encoded window key: 4-byte key length before, 8-byte start after. */
export const WINDOW_KEY_OVERHEAD = 12;

/** Writes `start` as 8 bytes that sort bytewise like the numbers (big-endian, sign bit flipped). */
export function writeWindowStart(target: Buffer, start: number, offset: number): void {
  if (!Number.isSafeInteger(start)) {
    throw new StateStoreError(
      'SLUICE_STATE_INVALID_WINDOW_START',
      `window start ${start} is not a safe integer`,
    );
  }
  const high = Math.floor(start / TWO_32);
  target.writeUInt32BE((high + 0x80000000) >>> 0, offset);
  target.writeUInt32BE(start - high * TWO_32, offset + 4);
}

export function readWindowStart(source: Buffer, offset: number): number {
  return (source.readUInt32BE(offset) - 0x80000000) * TWO_32 + source.readUInt32BE(offset + 4);
}

/**
 * The bytes of a (key, window start) pair: 4-byte big-endian key length, the key, then the start
 * as 8 order-preserving bytes. Used as the changelog key of window stores and as lmdb's key, so
 * the windows of one key are contiguous and ascend by start, and no key is a prefix of another's.
 */
export function encodeWindowKey(key: Bytes, windowStart: number): Bytes {
  const out = Buffer.allocUnsafe(key.length + WINDOW_KEY_OVERHEAD);
  out.writeUInt32BE(key.length, 0);
  key.copy(out, 4);
  writeWindowStart(out, windowStart, 4 + key.length);
  return out;
}

/** Inverse of `encodeWindowKey`; the returned key is a view into `encoded`. */
export function decodeWindowKey(encoded: Bytes): { key: Bytes; windowStart: number } {
  const keyLength = encoded.length >= WINDOW_KEY_OVERHEAD ? encoded.readUInt32BE(0) : -1;
  if (keyLength < 0 || keyLength + WINDOW_KEY_OVERHEAD !== encoded.length) {
    throw new StateStoreError(
      'SLUICE_STATE_INVALID_WINDOW_KEY',
      `${encoded.length} bytes are not a window key (4-byte length, key, 8-byte start)`,
    );
  }
  return { key: encoded.subarray(4, 4 + keyLength), windowStart: readWindowStart(encoded, 4 + keyLength) };
}

/**
 * A key-value store whose every put and delete is also reported, once, as a changelog record.
 * Records are handed to `onChange` and not kept: batching them for the changelog topic is the
 * runtime's job. A record holds the caller's buffers, so a consumer that keeps it past the call
 * copies them (the runtime does). A write the inner store refuses (throws) is not reported.
 * `restore` replays changelog records into the inner store without reporting them.
 */
export class ChangeLoggingKeyValueStore implements KeyValueStore {
  constructor(
    private readonly inner: KeyValueStore,
    private readonly onChange: (change: ChangeRecord) => void,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get(key: Bytes): Bytes | undefined {
    return this.inner.get(key);
  }

  put(key: Bytes, value: Bytes): void {
    this.inner.put(key, value);
    this.onChange({ key, value });
  }

  delete(key: Bytes): void {
    this.inner.delete(key);
    this.onChange({ key, value: null });
  }

  range(from?: Bytes, to?: Bytes): Iterable<[Bytes, Bytes]> {
    return this.inner.range(from, to);
  }

  approximateSize(): number {
    return this.inner.approximateSize();
  }

  flush(): void {
    this.inner.flush();
  }

  close(): void {
    this.inner.close();
  }

  restore(changes: Iterable<ChangeRecord>): void {
    for (const { key, value } of changes) {
      if (value === null) this.inner.delete(key);
      else this.inner.put(key, value);
    }
  }
}

/** The window-store counterpart: changelog keys are `encodeWindowKey(key, windowStart)`. */
export class ChangeLoggingWindowStore implements WindowStore {
  constructor(
    private readonly inner: WindowStore,
    private readonly onChange: (change: ChangeRecord) => void,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get(key: Bytes, windowStart: number): Bytes | undefined {
    return this.inner.get(key, windowStart);
  }

  put(key: Bytes, windowStart: number, value: Bytes): void {
    const changelogKey = encodeWindowKey(key, windowStart);
    this.inner.put(key, windowStart, value);
    this.onChange({ key: changelogKey, value });
  }

  delete(key: Bytes, windowStart: number): void {
    const changelogKey = encodeWindowKey(key, windowStart);
    this.inner.delete(key, windowStart);
    this.onChange({ key: changelogKey, value: null });
  }

  fetch(key: Bytes, fromStart: number, toStart: number): Iterable<[number, Bytes]> {
    return this.inner.fetch(key, fromStart, toStart);
  }

  expiredBefore(beforeStart: number): Iterable<[Bytes, number, Bytes]> {
    return this.inner.expiredBefore(beforeStart);
  }

  approximateSize(): number {
    return this.inner.approximateSize();
  }

  flush(): void {
    this.inner.flush();
  }

  close(): void {
    this.inner.close();
  }

  restore(changes: Iterable<ChangeRecord>): void {
    for (const change of changes) {
      const decoded = decodeWindowKey(change.key);
      const key = Buffer.from(decoded.key); // a view would pin the whole changelog key
      if (change.value === null) this.inner.delete(key, decoded.windowStart);
      else this.inner.put(key, decoded.windowStart, change.value);
    }
  }
}

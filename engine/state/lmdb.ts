import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Database, open, type RangeOptions, type RootDatabase, TransactionFlags } from 'lmdb';
import {
  encodeWindowKey,
  readWindowStart,
  StateStoreError,
  WINDOW_KEY_OVERHEAD,
  writeWindowStart,
} from './changelogging.js';
import type { Bytes, KeyValueStore, WindowStore } from './types.js';

/*
 * Persistent stores on lmdb, one environment (directory) per store: `<dir>/<name>`.
 *
 * lmdb-js reads are synchronous, but its fast writes are asynchronous and invisible to reads
 * until committed, and a synchronous loop never lets them commit. The contracts want a put that
 * the next get sees and a flush() that returns durable, so writes go to a write buffer (a Map
 * that get() reads first) which moves into lmdb in one synchronous transaction when it fills, before
 * a range scan, and at flush(). Buffer moves are committed without waiting to be durable; under
 * lmdb-js's overlapping sync (its default on Linux) the file stays crash-safe throughout, and
 * flush() commits the checkpoint with a full sync.
 */

export interface LmdbOpenOptions {
  /** Wipe whatever the directory holds first (the task restores the store from its changelog). */
  fresh?: boolean;
  /** Address space mapped up front; lmdb grows it on demand. Default 1 GiB (virtual, not RSS). */
  mapSize?: number;
  /** Buffered entries that trigger a move into lmdb without fsync. Default 16,384. */
  writeBufferEntries?: number;
  /** Buffered key and value bytes that trigger the same. Default 16 MiB. */
  writeBufferBytes?: number;
  /**
   * Whether flush() waits for the disk (default true). A runtime that rebuilds the store from
   * its changelog whenever it opens it (`fresh`) has no use for a local copy that survives a
   * crash, and skips the fsync per commit.
   */
  durableFlush?: boolean;
}

/** lmdb-js's largest key, framing included: 1 prefix byte for key-value stores, 12 for windows. */
const MAX_LMDB_KEY = 1978;
const SPILL =
  TransactionFlags.ABORTABLE | TransactionFlags.SYNCHRONOUS_COMMIT | TransactionFlags.NO_SYNC_FLUSH;
const DURABLE = TransactionFlags.ABORTABLE | TransactionFlags.SYNCHRONOUS_COMMIT;
const CHECKPOINT_KEY = Buffer.from('checkpoint');
const NO_CHECKPOINT = Buffer.alloc(0);
const EMPTY = Buffer.alloc(0);
/** Map and entry overhead per buffered write, so small entries also count toward the byte bound. */
const ENTRY_OVERHEAD = 128;
const STORE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const openPaths = new Set<string>();

function reservePath(dir: string, name: string, options: LmdbOpenOptions): string {
  if (!STORE_NAME.test(name)) {
    throw new StateStoreError('SLUICE_STATE_INVALID_NAME', `store name '${name}' cannot name a directory`);
  }
  const path = resolve(dir, name);
  if (openPaths.has(path)) {
    throw new StateStoreError('SLUICE_STATE_ALREADY_OPEN', `store '${name}' is already open at ${path}`);
  }
  if (options.fresh) rmSync(path, { recursive: true, force: true });
  return path;
}

function encodeCheckpoint(offset: number | null): Bytes {
  if (offset === null) return NO_CHECKPOINT;
  const out = Buffer.allocUnsafe(8);
  out.writeBigInt64BE(BigInt(offset));
  return out;
}

function decodeCheckpoint(stored: Bytes | undefined): number | null {
  return stored === undefined || stored.length !== 8 ? null : Number(stored.readBigInt64BE());
}

/** Shared by both stores: the environment, the write buffer's bounds, commits and the checkpoint. */
abstract class LmdbStore {
  protected readonly root: RootDatabase<Bytes, Bytes>;
  protected readonly entries: Database<Bytes, Bytes>;
  private readonly meta: Database<Bytes, Bytes>;
  protected bufferedEntries = 0;
  private bufferedBytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  /** The changelog offset the contents reflect; any write after setCheckpoint() clears it. */
  private checkpoint: number | null;
  private storedCheckpoint: number | null;
  /** Buffer moves since the last flush(), committed without asking lmdb for durability. */
  private unsynced = false;
  private closed = false;
  private readonly durableFlush: boolean;

  protected constructor(
    readonly name: string,
    /** The store's directory. */
    readonly path: string,
    options: LmdbOpenOptions,
  ) {
    try {
      this.root = open<Bytes, Bytes>({
        path,
        maxDbs: 4,
        mapSize: options.mapSize ?? 2 ** 30,
        noMemInit: true,
        keyEncoding: 'binary',
        encoding: 'binary',
      });
    } catch (cause) {
      throw new StateStoreError('SLUICE_STATE_OPEN_FAILED', `cannot open store '${name}' at ${path}`, {
        cause,
      });
    }
    openPaths.add(path);
    this.entries = this.root.openDB<Bytes, Bytes>('entries', { keyEncoding: 'binary', encoding: 'binary' });
    this.meta = this.root.openDB<Bytes, Bytes>('meta', { keyEncoding: 'binary', encoding: 'binary' });
    this.maxEntries = options.writeBufferEntries ?? 16_384;
    this.durableFlush = options.durableFlush ?? true;
    this.maxBytes = options.writeBufferBytes ?? 16 * 2 ** 20;
    this.checkpoint = this.storedCheckpoint = decodeCheckpoint(this.meta.get(CHECKPOINT_KEY));
  }

  /** Moves the write buffer into lmdb; `writeBuffered` runs inside the transaction. */
  protected abstract writeBuffered(): void;
  protected abstract clearBuffered(): void;

  /**
   * The changelog offset of the last record the contents reflect, as given to setCheckpoint()
   * and made durable by flush(); null when unknown, i.e. the store was written since. On open it
   * is the value of the last flush(), so a restart replays the changelog from the next offset.
   */
  getCheckpoint(): number | null {
    this.live();
    return this.checkpoint;
  }

  /** Records that the contents reflect the changelog up to `offset`; written by the next flush(). */
  setCheckpoint(offset: number): void {
    this.live();
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new StateStoreError('SLUICE_STATE_INVALID_CHECKPOINT', `checkpoint ${offset} is not an offset`);
    }
    this.checkpoint = offset;
  }

  approximateSize(): number {
    this.live();
    this.spill();
    return (this.entries.getStats() as { entryCount: number }).entryCount;
  }

  flush(): void {
    this.live();
    if (!this.durableFlush) {
      if (this.bufferedEntries > 0 || this.checkpoint !== this.storedCheckpoint) this.commit(false);
      return;
    }
    if (this.bufferedEntries === 0 && !this.unsynced && this.checkpoint === this.storedCheckpoint) return;
    this.commit(true);
  }

  /** Flushes, then releases the environment; idempotent. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      this.release();
    }
  }

  /** Closes without flushing and removes the store's directory. */
  destroy(): void {
    if (!this.closed) this.release();
    if (openPaths.has(this.path)) {
      throw new StateStoreError(
        'SLUICE_STATE_ALREADY_OPEN',
        `store '${this.name}' was reopened at ${this.path}`,
      );
    }
    rmSync(this.path, { recursive: true, force: true });
  }

  protected live(): void {
    if (this.closed) throw new StateStoreError('SLUICE_STATE_CLOSED', `store '${this.name}' is closed`);
  }

  protected checkKeyLength(key: Bytes, framing: number): void {
    if (key.length + framing > MAX_LMDB_KEY) {
      throw new StateStoreError(
        'SLUICE_STATE_KEY_TOO_LARGE',
        `store '${this.name}': a ${key.length}-byte key exceeds lmdb's ${MAX_LMDB_KEY - framing} bytes`,
      );
    }
  }

  /** Accounts for one buffered write; a write always invalidates the checkpoint. */
  protected buffered(isNewEntry: boolean, bytes: number): void {
    this.checkpoint = null;
    if (isNewEntry) this.bufferedEntries++;
    this.bufferedBytes += bytes + ENTRY_OVERHEAD;
    if (this.bufferedEntries >= this.maxEntries || this.bufferedBytes >= this.maxBytes) this.commit(false);
  }

  /** Makes the write buffer visible to lmdb reads (ranges), without waiting for the disk. */
  protected spill(): void {
    if (this.bufferedEntries > 0) this.commit(false);
  }

  private commit(durable: boolean): void {
    const checkpoint = this.checkpoint;
    this.root.transactionSync(
      () => {
        this.writeBuffered();
        // A durable commit always writes something, so lmdb does commit (and fsync) it.
        if (durable || checkpoint !== this.storedCheckpoint) {
          this.meta.putSync(CHECKPOINT_KEY, encodeCheckpoint(checkpoint));
        }
      },
      durable ? DURABLE : SPILL,
    );
    this.storedCheckpoint = checkpoint;
    this.unsynced = !durable;
    this.clearBuffered();
    this.bufferedEntries = 0;
    this.bufferedBytes = 0;
  }

  private release(): void {
    this.closed = true;
    this.clearBuffered();
    openPaths.delete(this.path);
    // lmdb-js closes synchronously when no asynchronous write is queued, and these stores queue none.
    void this.root.close();
  }
}

/** Key-value store on lmdb: each key is stored behind a 0x00 byte, since lmdb rejects empty keys. */
export class LmdbKeyValueStore extends LmdbStore implements KeyValueStore {
  /** Keys as latin1 strings (one char per byte, so string order is byte order); null = deleted. */
  private writes = new Map<string, Bytes | null>();

  static open(dir: string, name: string, options: LmdbOpenOptions = {}): LmdbKeyValueStore {
    return new LmdbKeyValueStore(name, reservePath(dir, name, options), options);
  }

  get(key: Bytes): Bytes | undefined {
    this.live();
    if (this.writes.size > 0) {
      const buffered = this.writes.get(key.toString('latin1'));
      if (buffered !== undefined) return buffered ?? undefined;
    }
    return key.length < MAX_LMDB_KEY ? this.entries.get(storedKey(key)) : undefined;
  }

  put(key: Bytes, value: Bytes): void {
    this.write(key, value);
  }

  delete(key: Bytes): void {
    this.write(key, null);
  }

  *range(from?: Bytes, to?: Bytes): Iterable<[Bytes, Bytes]> {
    this.live();
    if (from !== undefined && to !== undefined && Buffer.compare(from, to) >= 0) return;
    this.spill();
    for (const { key, value } of this.entries.getRange(rangeBounds(from, to))) yield [key.subarray(1), value];
  }

  protected writeBuffered(): void {
    for (const [key, value] of this.writes) {
      const stored = Buffer.allocUnsafe(key.length + 1);
      stored[0] = 0;
      stored.write(key, 1, 'latin1');
      if (value === null) this.entries.removeSync(stored);
      else this.entries.putSync(stored, value);
    }
  }

  protected clearBuffered(): void {
    this.writes = new Map();
  }

  private write(key: Bytes, value: Bytes | null): void {
    this.live();
    this.checkKeyLength(key, 1);
    const before = this.writes.size;
    this.writes.set(key.toString('latin1'), value && Buffer.from(value));
    this.buffered(this.writes.size > before, key.length + (value?.length ?? 0));
  }
}

/**
 * lmdb bounds for [from, to). A bound longer than any storable key is cut to the longest storable
 * prefix P: stored keys are never longer than P, so `k >= from` is `k > P` and `k < to` is `k <= P`.
 */
function rangeBounds(from?: Bytes, to?: Bytes): RangeOptions {
  const longest = MAX_LMDB_KEY - 1;
  const bounds: RangeOptions = {};
  if (from !== undefined) {
    bounds.start = storedKey(from.subarray(0, longest));
    bounds.exclusiveStart = from.length > longest;
  }
  if (to !== undefined) {
    bounds.end = storedKey(to.subarray(0, longest));
    bounds.inclusiveEnd = to.length > longest;
  }
  return bounds;
}

function storedKey(key: Bytes): Bytes {
  const out = Buffer.allocUnsafe(key.length + 1);
  out[0] = 0;
  key.copy(out, 1);
  return out;
}

/**
 * Window store on lmdb. `entries` is keyed by `encodeWindowKey(key, start)`, so fetch() is one
 * range scan; `expiry` indexes the same windows by start first (8-byte start, then the key), so
 * expiredBefore() reads only the expired windows instead of the whole store.
 */
export class LmdbWindowStore extends LmdbStore implements WindowStore {
  /** Buffered windows by key (latin1) then start; null = deleted. */
  private writes = new Map<string, Map<number, Bytes | null>>();
  private readonly expiry: Database<Bytes, Bytes>;

  static open(dir: string, name: string, options: LmdbOpenOptions = {}): LmdbWindowStore {
    return new LmdbWindowStore(name, reservePath(dir, name, options), options);
  }

  private constructor(name: string, path: string, options: LmdbOpenOptions) {
    super(name, path, options);
    this.expiry = this.root.openDB<Bytes, Bytes>('expiry', { keyEncoding: 'binary', encoding: 'binary' });
  }

  get(key: Bytes, windowStart: number): Bytes | undefined {
    this.live();
    if (this.writes.size > 0) {
      const buffered = this.writes.get(key.toString('latin1'))?.get(windowStart);
      if (buffered !== undefined) return buffered ?? undefined;
    }
    if (key.length + WINDOW_KEY_OVERHEAD > MAX_LMDB_KEY || !Number.isSafeInteger(windowStart))
      return undefined;
    return this.entries.get(encodeWindowKey(key, windowStart));
  }

  put(key: Bytes, windowStart: number, value: Bytes): void {
    this.write(key, windowStart, value);
  }

  delete(key: Bytes, windowStart: number): void {
    this.write(key, windowStart, null);
  }

  *fetch(key: Bytes, fromStart: number, toStart: number): Iterable<[number, Bytes]> {
    this.live();
    const from = Math.max(Math.ceil(fromStart), Number.MIN_SAFE_INTEGER);
    const to = Math.min(Math.floor(toStart), Number.MAX_SAFE_INTEGER);
    if (!(from <= to) || key.length + WINDOW_KEY_OVERHEAD > MAX_LMDB_KEY) return;
    const buffered = [...(this.writes.get(key.toString('latin1')) ?? [])]
      .filter(([start]) => start >= from && start <= to)
      .sort((a, b) => a[0] - b[0]);
    let next = 0;
    const stored = this.entries.getRange({
      start: encodeWindowKey(key, from),
      end: encodeWindowKey(key, to),
      inclusiveEnd: true,
    });
    for (const { key: storedKey, value } of stored) {
      const start = readWindowStart(storedKey, storedKey.length - 8);
      for (; next < buffered.length && buffered[next][0] <= start; next++) {
        const [bufferedStart, bufferedValue] = buffered[next];
        if (bufferedValue !== null) yield [bufferedStart, bufferedValue];
      }
      if (next > 0 && buffered[next - 1][0] === start) continue;
      yield [start, value];
    }
    for (; next < buffered.length; next++) {
      const [bufferedStart, bufferedValue] = buffered[next];
      if (bufferedValue !== null) yield [bufferedStart, bufferedValue];
    }
  }

  /**
   * Merges the write buffer's windows below the bound with lmdb's expiry index (both by start,
   * then key bytes) instead of spilling the buffer first: a window that opens and closes between
   * two flushes then never reaches lmdb at all, and expiry does not force a write transaction.
   * Each window's value is read when it is yielded, so windows deleted meanwhile are skipped.
   */
  *expiredBefore(beforeStart: number): Iterable<[Bytes, number, Bytes]> {
    this.live();
    const before = Math.ceil(beforeStart);
    if (!(before > Number.MIN_SAFE_INTEGER)) return;
    const buffered: [number, Buffer][] = [];
    for (const [latin1Key, windows] of this.writes) {
      for (const start of windows.keys()) {
        if (start < before) buffered.push([start, Buffer.from(latin1Key, 'latin1')]);
      }
    }
    buffered.sort((a, b) => a[0] - b[0] || Buffer.compare(a[1], b[1]));
    const bound = before > Number.MAX_SAFE_INTEGER ? {} : { end: startBytes(before) };
    let next = 0;
    for (const indexed of this.expiry.getKeys(bound)) {
      const start = readWindowStart(indexed, 0);
      const key = Buffer.from(indexed.subarray(8));
      for (; next < buffered.length; next++) {
        const [bufferedStart, bufferedKey] = buffered[next]!;
        const order = bufferedStart - start || Buffer.compare(bufferedKey, key);
        if (order === 0) next++;
        if (order >= 0) break;
        const value = this.get(bufferedKey, bufferedStart);
        if (value !== undefined) yield [bufferedKey, bufferedStart, value];
      }
      const value = this.get(key, start);
      if (value !== undefined) yield [key, start, value];
    }
    for (; next < buffered.length; next++) {
      const [start, key] = buffered[next]!;
      const value = this.get(key, start);
      if (value !== undefined) yield [key, start, value];
    }
  }

  protected writeBuffered(): void {
    for (const [latin1Key, windows] of this.writes) {
      const key = Buffer.from(latin1Key, 'latin1');
      for (const [start, value] of windows) {
        const indexed = Buffer.concat([startBytes(start), key]);
        if (value === null) {
          this.entries.removeSync(encodeWindowKey(key, start));
          this.expiry.removeSync(indexed);
        } else {
          this.entries.putSync(encodeWindowKey(key, start), value);
          this.expiry.putSync(indexed, EMPTY, { noOverwrite: true });
        }
      }
    }
  }

  protected clearBuffered(): void {
    this.writes = new Map();
  }

  private write(key: Bytes, windowStart: number, value: Bytes | null): void {
    this.live();
    this.checkKeyLength(key, WINDOW_KEY_OVERHEAD);
    if (!Number.isSafeInteger(windowStart)) {
      throw new StateStoreError(
        'SLUICE_STATE_INVALID_WINDOW_START',
        `window start ${windowStart} is not a safe integer`,
      );
    }
    const latin1Key = key.toString('latin1');
    let windows = this.writes.get(latin1Key);
    if (windows === undefined) this.writes.set(latin1Key, (windows = new Map()));
    const before = windows.size;
    windows.set(windowStart, value && Buffer.from(value));
    this.buffered(windows.size > before, key.length + 8 + (value?.length ?? 0));
  }
}

function startBytes(start: number): Bytes {
  const out = Buffer.allocUnsafe(8);
  writeWindowStart(out, start, 0);
  return out;
}

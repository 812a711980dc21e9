import { StateStoreError } from './changelogging.js';
import type { Bytes, KeyValueStore, WindowStore } from './types.js';

/*
 * Record caches, as Kafka Streams' caching layer (statestore.cache.max.bytes): a store of a task
 * sits behind a cache of its latest writes, so a key updated many times between two commits
 * reaches the store below, and through it the changelog, once. The runtime puts the cache above
 * the changelogging store and calls `flushCache()` before it collects a commit's changelog
 * records. Reads see the cache first; scans (range, fetch, expiry) flush it first, since they
 * are rare next to gets and puts. A cache holding `maxEntries` entries flushes and starts over.
 */

/** Entries a cache holds before it writes them down and starts over (default). */
export const DEFAULT_CACHE_ENTRIES = 10_000;
/**
 * Keys at least this long are written through, uncached, so that a store's key-length limit
 * (lmdb: 1978 bytes) still fails the put that breaks it, not a later commit.
 */
const WRITE_THROUGH_KEY_BYTES = 1024;

/** What both caches share: the store below, closing, and the operations that write the cache down. */
abstract class CachingStore<S extends KeyValueStore | WindowStore> implements Cached {
  protected closed = false;

  constructor(
    protected readonly inner: S,
    protected readonly maxEntries: number,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  abstract flushCache(): void;

  /** Forgets every cached entry. */
  protected abstract drop(): void;

  approximateSize(): number {
    this.flushCache();
    return this.inner.approximateSize();
  }

  flush(): void {
    this.flushCache();
    this.inner.flush();
  }

  close(): void {
    if (this.closed) return;
    try {
      this.flushCache();
    } finally {
      this.closed = true;
      this.drop();
      this.inner.close();
    }
  }

  protected checkOpen(): void {
    if (this.closed) throw new StateStoreError('SLUICE_STATE_CLOSED', `store '${this.name}' is closed`);
  }
}

/** A store with a write cache: `flushCache()` writes the cached changes to the store below. */
export interface Cached {
  flushCache(): void;
}

export class CachingKeyValueStore extends CachingStore<KeyValueStore> implements KeyValueStore {
  /** Writes since the last flush, per key (latin1); null = deleted. */
  private dirty = new Map<string, Bytes | null>();
  /** What flushes wrote, kept for reads until the cache is full; null = known absent. */
  private clean = new Map<string, Bytes | null>();

  constructor(inner: KeyValueStore, maxEntries = DEFAULT_CACHE_ENTRIES) {
    super(inner, maxEntries);
  }

  get(key: Bytes): Bytes | undefined {
    this.checkOpen();
    const latin1Key = key.toString('latin1');
    let cached = this.dirty.get(latin1Key);
    if (cached === undefined) cached = this.clean.get(latin1Key);
    if (cached !== undefined) return cached ?? undefined;
    return this.inner.get(key);
  }

  put(key: Bytes, value: Bytes): void {
    this.write(key, Buffer.from(value));
  }

  delete(key: Bytes): void {
    this.write(key, null);
  }

  range(from?: Bytes, to?: Bytes): Iterable<[Bytes, Bytes]> {
    this.flushCache();
    return this.inner.range(from, to);
  }

  flushCache(): void {
    if (this.dirty.size === 0) return;
    const dirty = this.dirty;
    this.dirty = new Map();
    if (this.clean.size >= this.maxEntries) this.clean = new Map();
    for (const [latin1Key, value] of dirty) {
      const key = Buffer.from(latin1Key, 'latin1');
      if (value === null) this.inner.delete(key);
      else this.inner.put(key, value);
      this.clean.set(latin1Key, value);
    }
  }

  protected drop(): void {
    this.dirty = new Map();
    this.clean = new Map();
  }

  private write(key: Bytes, value: Bytes | null): void {
    this.checkOpen();
    const latin1Key = key.toString('latin1');
    if (key.length >= WRITE_THROUGH_KEY_BYTES) {
      // The store below validates (and refuses) at once.
      if (value === null) this.inner.delete(key);
      else this.inner.put(key, value);
      this.dirty.delete(latin1Key);
      this.clean.delete(latin1Key);
      return;
    }
    this.dirty.set(latin1Key, value);
    if (this.dirty.size >= this.maxEntries) this.flushCache();
  }
}

export class CachingWindowStore extends CachingStore<WindowStore> implements WindowStore {
  /** Writes since the last flush, per key (latin1) and window start; null = deleted. */
  private dirty = new Map<string, Map<number, Bytes | null>>();
  private dirtyEntries = 0;
  /** What flushes wrote, kept for reads until the cache is full; null = known absent. */
  private clean = new Map<string, Map<number, Bytes | null>>();
  private cleanEntries = 0;

  constructor(inner: WindowStore, maxEntries = DEFAULT_CACHE_ENTRIES) {
    super(inner, maxEntries);
  }

  get(key: Bytes, windowStart: number): Bytes | undefined {
    this.checkOpen();
    const latin1Key = key.toString('latin1');
    let cached = this.dirty.get(latin1Key)?.get(windowStart);
    if (cached === undefined) cached = this.clean.get(latin1Key)?.get(windowStart);
    if (cached !== undefined) return cached ?? undefined;
    const stored = this.inner.get(key, windowStart);
    if (Number.isSafeInteger(windowStart)) this.remember(latin1Key, windowStart, stored ?? null);
    return stored;
  }

  /** Keeps what the store below holds for a window (null: nothing) for later reads. */
  private remember(latin1Key: string, start: number, value: Bytes | null): void {
    if (this.cleanEntries >= this.maxEntries) {
      this.clean = new Map();
      this.cleanEntries = 0;
    }
    let clean = this.clean.get(latin1Key);
    if (clean === undefined) this.clean.set(latin1Key, (clean = new Map()));
    const before = clean.size;
    clean.set(start, value);
    this.cleanEntries += clean.size - before;
  }

  put(key: Bytes, windowStart: number, value: Bytes): void {
    this.write(key, windowStart, Buffer.from(value));
  }

  delete(key: Bytes, windowStart: number): void {
    this.write(key, windowStart, null);
  }

  fetch(key: Bytes, fromStart: number, toStart: number): Iterable<[number, Bytes]> {
    this.flushCache();
    return this.inner.fetch(key, fromStart, toStart);
  }

  /**
   * The store's expired windows merged with the cached writes below the bound, without writing
   * the cache down: a window that opens and closes within one commit interval never reaches the
   * store or its changelog. Values are read when yielded (windows deleted meanwhile are skipped).
   */
  *expiredBefore(beforeStart: number): Iterable<[Bytes, number, Bytes]> {
    this.checkOpen();
    const found = new Map<string, [Bytes, number]>();
    for (const [key, start] of this.inner.expiredBefore(beforeStart)) {
      found.set(`${start}:${key.toString('latin1')}`, [Buffer.from(key), start]);
    }
    for (const [latin1Key, windows] of this.dirty) {
      for (const [start, value] of windows) {
        if (start < beforeStart && value !== null) {
          found.set(`${start}:${latin1Key}`, [Buffer.from(latin1Key, 'latin1'), start]);
        }
      }
    }
    const ordered = [...found.values()].sort((a, b) => a[1] - b[1] || Buffer.compare(a[0], b[0]));
    for (const [key, start] of ordered) {
      const value = this.get(key, start);
      if (value !== undefined) yield [key, start, value];
    }
  }

  flushCache(): void {
    if (this.dirtyEntries === 0) return;
    const dirty = this.dirty;
    this.dirty = new Map();
    this.dirtyEntries = 0;
    for (const [latin1Key, windows] of dirty) {
      const key = Buffer.from(latin1Key, 'latin1');
      for (const [start, value] of windows) {
        if (value === null) this.inner.delete(key, start);
        else this.inner.put(key, start, value);
        this.remember(latin1Key, start, value);
      }
    }
  }

  protected drop(): void {
    this.dirty = new Map();
    this.clean = new Map();
    this.dirtyEntries = 0;
    this.cleanEntries = 0;
  }

  private write(key: Bytes, windowStart: number, value: Bytes | null): void {
    this.checkOpen();
    const latin1Key = key.toString('latin1');
    if (key.length >= WRITE_THROUGH_KEY_BYTES || !Number.isSafeInteger(windowStart)) {
      // The store below validates (and refuses) at once.
      if (value === null) this.inner.delete(key, windowStart);
      else this.inner.put(key, windowStart, value);
      if (this.dirty.get(latin1Key)?.delete(windowStart)) this.dirtyEntries--;
      if (this.clean.get(latin1Key)?.delete(windowStart)) this.cleanEntries--;
      return;
    }
    let windows = this.dirty.get(latin1Key);
    if (value === null && this.clean.get(latin1Key)?.get(windowStart) === null) {
      // The store below has never had this window: deleting it there would only write a
      // tombstone to the changelog. Windows that open and close between two commits end here.
      if (windows?.delete(windowStart)) this.dirtyEntries--;
      return;
    }
    if (windows === undefined) this.dirty.set(latin1Key, (windows = new Map()));
    const before = windows.size;
    windows.set(windowStart, value);
    this.dirtyEntries += windows.size - before;
    if (this.dirtyEntries >= this.maxEntries) this.flushCache();
  }
}

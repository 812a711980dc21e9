/**
 * A least-recently-used cache on a Map (whose iteration order is insertion order): a read
 * moves its entry to the end, a write beyond `maxEntries` evicts from the front. Entries older
 * than `ttlMs` (when set) read as absent.
 */
export interface LruCacheOptions {
  /** Most entries kept (>= 1). */
  maxEntries: number;
  /** Milliseconds an entry lives; default forever. */
  ttlMs?: number;
  /** The clock (milliseconds); default Date.now. */
  now?: () => number;
}

export class LruCache<K, V> {
  private readonly entries = new Map<K, { value: V; expiresAt: number }>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(opts: LruCacheOptions) {
    if (!Number.isSafeInteger(opts.maxEntries) || opts.maxEntries < 1)
      throw new RangeError(`maxEntries must be an integer >= 1, got ${opts.maxEntries}`);
    if (opts.ttlMs !== undefined && !(opts.ttlMs > 0))
      throw new RangeError(`ttlMs must be > 0, got ${opts.ttlMs}`);
    this.maxEntries = opts.maxEntries;
    this.ttlMs = opts.ttlMs ?? Number.POSITIVE_INFINITY;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  has(key: K): boolean {
    const entry = this.entries.get(key);
    return entry !== undefined && entry.expiresAt > this.now();
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as K);
    }
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

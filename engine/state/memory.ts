import type { Bytes, KeyValueStore, WindowStore } from './types.js';

/*
 * In-memory stores, used by the test driver and for stores declared `kind: 'memory'`.
 * Keys are held as latin1 strings: one char per byte, so JavaScript's string order is the
 * bytewise order of the keys. Keys and values are copied on the way in, so callers may reuse
 * their buffers. Iterators return snapshots: a caller may write to the store while iterating.
 */

const toId = (key: Bytes): string => key.toString('latin1');

/** Index of the first element >= `needle` in a sorted array. */
function lowerBound<T>(sorted: readonly T[], needle: T): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < needle) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted<T>(sorted: T[], value: T): void {
  const at = lowerBound(sorted, value);
  if (sorted[at] !== value) sorted.splice(at, 0, value);
}

function removeSorted<T>(sorted: T[], value: T): void {
  const at = lowerBound(sorted, value);
  if (sorted[at] === value) sorted.splice(at, 1);
}

function checkOpen(name: string, closed: boolean): void {
  if (closed) throw new Error(`store ${name} is closed`);
}

/** A key-value store ordered by key bytes. */
export class MemoryKeyValueStore implements KeyValueStore {
  private readonly entries = new Map<string, [Bytes, Bytes]>();
  /** Ids in key order, rebuilt only when a range is read after keys came or went: puts stay O(1). */
  private sortedIds: string[] | null = [];
  private closed = false;

  constructor(readonly name: string) {}

  get(key: Bytes): Bytes | undefined {
    checkOpen(this.name, this.closed);
    return this.entries.get(toId(key))?.[1];
  }

  put(key: Bytes, value: Bytes): void {
    checkOpen(this.name, this.closed);
    const id = toId(key);
    const known = this.entries.get(id);
    if (known) {
      known[1] = Buffer.from(value);
      return;
    }
    this.entries.set(id, [Buffer.from(key), Buffer.from(value)]);
    this.sortedIds = null;
  }

  delete(key: Bytes): void {
    checkOpen(this.name, this.closed);
    if (this.entries.delete(toId(key))) this.sortedIds = null;
  }

  range(from?: Bytes, to?: Bytes): Iterable<[Bytes, Bytes]> {
    checkOpen(this.name, this.closed);
    // Latin-1 ids compare like their bytes.
    this.sortedIds ??= [...this.entries.keys()].sort();
    const ids = this.sortedIds;
    const start = from === undefined ? 0 : lowerBound(ids, toId(from));
    const end = to === undefined ? ids.length : lowerBound(ids, toId(to));
    const out: [Bytes, Bytes][] = [];
    for (let i = start; i < end; i++) {
      const [k, v] = this.entries.get(ids[i]!)!;
      out.push([k, v]);
    }
    return out;
  }

  approximateSize(): number {
    return this.entries.size;
  }

  flush(): void {}

  close(): void {
    this.closed = true;
  }
}

interface KeyWindows {
  key: Bytes;
  starts: number[];
  values: Map<number, Bytes>;
}

/**
 * A window store: values by (key, window start). Besides the per-key index it keeps keys by
 * start, so `expiredBefore` costs the expired entries, not the whole store.
 * `expiredBefore` yields ascending by start, then by key bytes.
 */
export class MemoryWindowStore implements WindowStore {
  private readonly byKey = new Map<string, KeyWindows>();
  private readonly keysByStart = new Map<number, Set<string>>();
  private readonly starts: number[] = [];
  private size = 0;
  private closed = false;

  constructor(readonly name: string) {}

  get(key: Bytes, windowStart: number): Bytes | undefined {
    checkOpen(this.name, this.closed);
    return this.byKey.get(toId(key))?.values.get(windowStart);
  }

  put(key: Bytes, windowStart: number, value: Bytes): void {
    checkOpen(this.name, this.closed);
    const id = toId(key);
    let windows = this.byKey.get(id);
    if (!windows) {
      windows = { key: Buffer.from(key), starts: [], values: new Map() };
      this.byKey.set(id, windows);
    }
    if (!windows.values.has(windowStart)) {
      insertSorted(windows.starts, windowStart);
      let ids = this.keysByStart.get(windowStart);
      if (!ids) {
        ids = new Set();
        this.keysByStart.set(windowStart, ids);
        insertSorted(this.starts, windowStart);
      }
      ids.add(id);
      this.size++;
    }
    windows.values.set(windowStart, Buffer.from(value));
  }

  delete(key: Bytes, windowStart: number): void {
    checkOpen(this.name, this.closed);
    const id = toId(key);
    const windows = this.byKey.get(id);
    if (!windows?.values.delete(windowStart)) return;
    this.size--;
    removeSorted(windows.starts, windowStart);
    if (windows.starts.length === 0) this.byKey.delete(id);
    const ids = this.keysByStart.get(windowStart)!;
    ids.delete(id);
    if (ids.size === 0) {
      this.keysByStart.delete(windowStart);
      removeSorted(this.starts, windowStart);
    }
  }

  fetch(key: Bytes, fromStart: number, toStart: number): Iterable<[number, Bytes]> {
    checkOpen(this.name, this.closed);
    const windows = this.byKey.get(toId(key));
    const out: [number, Bytes][] = [];
    if (!windows) return out;
    for (let i = lowerBound(windows.starts, fromStart); i < windows.starts.length; i++) {
      const start = windows.starts[i]!;
      if (start > toStart) break;
      out.push([start, windows.values.get(start)!]);
    }
    return out;
  }

  expiredBefore(beforeStart: number): Iterable<[Bytes, number, Bytes]> {
    checkOpen(this.name, this.closed);
    const out: [Bytes, number, Bytes][] = [];
    for (const start of this.starts) {
      if (start >= beforeStart) break;
      for (const id of [...this.keysByStart.get(start)!].sort()) {
        const windows = this.byKey.get(id)!;
        out.push([windows.key, start, windows.values.get(start)!]);
      }
    }
    return out;
  }

  approximateSize(): number {
    return this.size;
  }

  flush(): void {}

  close(): void {
    this.closed = true;
  }
}

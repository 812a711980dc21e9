/**
 * State store contracts. Operators see these interfaces only; the runtime decides whether a
 * store is in memory or in lmdb, and wraps it so every change is also written to the
 * store's changelog topic (restored from it when a task starts or moves).
 */

/** Keys and values in stores are bytes; typed views come from serdes at the operator. */
export type Bytes = Buffer;

export interface KeyValueStore {
  readonly name: string;
  get(key: Bytes): Bytes | undefined;
  put(key: Bytes, value: Bytes): void;
  delete(key: Bytes): void;
  /** Entries with from <= key < to (bytewise order); either bound may be omitted. */
  range(from?: Bytes, to?: Bytes): Iterable<[Bytes, Bytes]>;
  /** Number of entries (exact for memory, may be estimated by persistent stores). */
  approximateSize(): number;
  /** Makes writes durable locally (persistent stores); called at commit. */
  flush(): void;
  close(): void;
}

/**
 * A window store: values keyed by (key, window start). Window end is implied by the
 * operator's window definition; the store only orders by key then start.
 */
export interface WindowStore {
  readonly name: string;
  get(key: Bytes, windowStart: number): Bytes | undefined;
  put(key: Bytes, windowStart: number, value: Bytes): void;
  delete(key: Bytes, windowStart: number): void;
  /** Windows of `key` with fromStart <= start <= toStart, ascending by start. */
  fetch(key: Bytes, fromStart: number, toStart: number): Iterable<[number, Bytes]>;
  /** Every (key, start, value) with start < beforeStart, for expiry. */
  expiredBefore(beforeStart: number): Iterable<[Bytes, number, Bytes]>;
  approximateSize(): number;
  flush(): void;
  close(): void;
}

export type StoreKind = 'memory' | 'lmdb';

export interface StoreSpec {
  name: string;
  type: 'keyValue' | 'window';
  kind: StoreKind;
  /** Changelog-backed unless false (then the store is lost when a task moves). */
  changelog: boolean;
}

/** One change to a store, as written to its changelog (null value = delete). */
export interface ChangeRecord {
  key: Bytes;
  value: Bytes | null;
}

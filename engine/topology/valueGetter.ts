import type { Serde } from './contracts.js';
import { type InternalContext, prepareAll } from './internalContext.js';

/** Reads a table's current value for a key (a KTable that is not materialised reads through its parent). */
export interface ValueGetter<K, V> {
  /** Pending serde preparation for the bytes `get(key)` would decode, if any. */
  prepare(key: K): Promise<void> | undefined;
  get(key: K): V | null;
}

export interface ValueGetterSupplier<K, V> {
  /** The stores the getter reads: a processor using it must declare them. */
  readonly stores: readonly string[];
  init(ctx: InternalContext<unknown, unknown>): ValueGetter<K, V>;
}

export function keyValueStoreGetter<K, V>(
  store: string,
  keySerde: Serde<K>,
  valueSerde: Serde<V>,
): ValueGetterSupplier<K, V> {
  return {
    stores: [store],
    init(ctx) {
      const kv = ctx.keyValueStore(store);
      const topic = ctx.storeTopic(store);
      const bytesOf = (key: K): Buffer | undefined => {
        if (key === null || key === undefined) return undefined;
        const kb = keySerde.serialize(key, topic);
        return kb === null ? undefined : kv.get(kb);
      };
      return {
        prepare: (key) => prepareAll([[valueSerde as Serde<unknown>, bytesOf(key)]], topic),
        get: (key) => {
          const bytes = bytesOf(key);
          return bytes === undefined ? null : valueSerde.deserialize(bytes, topic);
        },
      };
    },
  };
}

/** A getter that transforms its parent's values (a filter or mapValues that is not materialised). */
export function mappedGetter<K, V, VR>(
  parent: ValueGetterSupplier<K, V>,
  fn: (value: V, key: K) => VR | null,
): ValueGetterSupplier<K, VR> {
  return {
    stores: parent.stores,
    init(ctx) {
      const inner = parent.init(ctx);
      return {
        prepare: (key) => inner.prepare(key),
        get: (key) => {
          const value = inner.get(key);
          return value === null ? null : fn(value, key);
        },
      };
    },
  };
}

/** A getter combining two tables' values (a table-table join that is not materialised). */
export function joinedGetter<K, V1, V2, VR>(
  left: ValueGetterSupplier<K, V1>,
  right: ValueGetterSupplier<K, V2>,
  combine: (left: V1 | null, right: V2 | null, key: K) => VR | null,
): ValueGetterSupplier<K, VR> {
  return {
    stores: [...left.stores, ...right.stores],
    init(ctx) {
      const l = left.init(ctx);
      const r = right.init(ctx);
      return {
        prepare: (key) => {
          const pending = [l.prepare(key), r.prepare(key)].filter((p) => p !== undefined);
          return pending.length === 0 ? undefined : Promise.all(pending).then(() => undefined);
        },
        get: (key) => combine(l.get(key), r.get(key), key),
      };
    },
  };
}

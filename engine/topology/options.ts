import type { StoreKind, StoreSpec } from '../state/types.js';
import type { Serde } from './contracts.js';

/** Names the node an operator creates (otherwise generated, Kafka style). */
export interface Named {
  name?: string;
}

/** A store a `process()` operator creates; defaults: memory, changelog-backed. */
export interface StoreDeclaration {
  name: string;
  type: 'keyValue' | 'window';
  kind?: StoreKind;
  changelog?: boolean;
}

export function storeSpec(d: StoreDeclaration): StoreSpec {
  return { name: d.name, type: d.type, kind: d.kind ?? 'memory', changelog: d.changelog ?? true };
}

/** Options of an operator that materialises its result in a key-value store. */
export interface Materialized extends Named {
  store: string;
  storeKind?: StoreKind;
}

/** Serdes a repartition needs; omitted ones are taken from upstream when it knows them. */
export interface RepartitionOptions<K, V> {
  /** The internal topic is `<name>-repartition` (prefixed with the application id at run time). */
  name: string;
  key?: Serde<K>;
  value?: Serde<V>;
}

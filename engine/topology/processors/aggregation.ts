import type { ProcessorContext, Serde, StreamRecord } from '../contracts.js';
import { RecordRejectedError } from '../errors.js';

/** How values fold into an aggregate: count, reduce and aggregate all reduce to this. */
export interface Aggregation<K, V, VA> {
  /** Adds a value to an aggregate (undefined: the key or window has none yet). */
  add(key: K, value: V, agg: VA | undefined): VA;
  /** Combines two aggregates, for merging sessions. */
  merge(key: K, a: VA, b: VA): VA;
}

export function countAggregation<K, V>(): Aggregation<K, V, number> {
  return { add: (_k, _v, agg) => (agg ?? 0) + 1, merge: (_k, a, b) => a + b };
}

export function reduceAggregation<K, V>(reducer: (agg: V, value: V) => V): Aggregation<K, V, V> {
  return {
    add: (_k, value, agg) => (agg === undefined ? value : reducer(agg, value)),
    merge: (_k, a, b) => reducer(a, b),
  };
}

export function aggregateAggregation<K, V, VA>(
  init: () => VA,
  aggregator: (key: K, value: V, agg: VA) => VA,
  merger?: (key: K, a: VA, b: VA) => VA,
): Aggregation<K, V, VA> {
  return {
    add: (key, value, agg) => aggregator(key, value, agg === undefined ? init() : agg),
    merge: (key, a, b) => {
      if (!merger) throw new Error('merging aggregates needs a merger');
      return merger(key, a, b);
    },
  };
}

/** What every aggregation operator needs to know. */
export interface AggregationOptions<K, V, VA> {
  store: string;
  keySerde: Serde<K>;
  aggSerde: Serde<VA>;
  aggregation: Aggregation<K, V, VA>;
}

/** Rejects (as invalid) records an aggregation or join cannot take: null key or null value. */
export function acceptKeyValue<KO, VO>(
  ctx: ProcessorContext<KO, VO>,
  record: StreamRecord<unknown, unknown>,
): boolean {
  if (record.key === null || record.key === undefined) {
    ctx.reject(
      record,
      'invalid',
      new RecordRejectedError(
        'invalid',
        `${nodeOf(ctx)}: a record with a null key cannot be grouped or joined`,
      ),
    );
    return false;
  }
  if (record.value === null || record.value === undefined) {
    ctx.reject(
      record,
      'invalid',
      new RecordRejectedError(
        'invalid',
        `${nodeOf(ctx)}: a record with a null value cannot be aggregated or joined`,
      ),
    );
    return false;
  }
  return true;
}

function nodeOf<KO, VO>(ctx: ProcessorContext<KO, VO>): string {
  return (ctx as { nodeName?: string }).nodeName ?? 'operator';
}

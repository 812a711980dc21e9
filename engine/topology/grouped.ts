import type { ProcessorSupplier, Serde } from './contracts.js';
import type { TopologyGraph } from './graph.js';
import { KTable, WindowedKTable } from './ktable.js';
import type { Materialized } from './options.js';
import { aggregateProcessor } from './processors/aggregate.js';
import {
  type Aggregation,
  aggregateAggregation,
  countAggregation,
  reduceAggregation,
} from './processors/aggregation.js';
import { sessionGetter, sessionWindowAggregateProcessor } from './processors/sessionWindowAggregate.js';
import { slidingWindowAggregateProcessor, slidingWindowGetter } from './processors/slidingWindowAggregate.js';
import { timeWindowAggregateProcessor, timeWindowGetter } from './processors/timeWindowAggregate.js';
import type { WindowedAggregationOptions } from './processors/windowedAggregate.js';
import { Serdes } from './serdes.js';
import { keyValueStoreGetter, type ValueGetterSupplier } from './valueGetter.js';
import { SessionWindows, type SlidingWindows, type TimeWindows, type Windowed } from './windows.js';

/** What a grouped stream knows (internal to the DSL). */
export interface GroupedState<K, V> {
  graph: TopologyGraph;
  node: string;
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
}

type AggregateOptions<VA> = Materialized & { value: Serde<VA> };
type ReduceOptions<V> = Materialized & { value?: Serde<V> };

/** A stream grouped by key, ready to aggregate (records with a null key or value are rejected as invalid). */
export class KGroupedStream<K, V> {
  /** @internal */
  constructor(readonly internals: GroupedState<K, V>) {}

  count(opts: Materialized): KTable<K, number, never> {
    return this.aggregateInto('KSTREAM-AGGREGATE', countAggregation(), Serdes.int64(), opts);
  }

  reduce(reducer: (agg: V, value: V) => V, opts: ReduceOptions<V>): KTable<K, V, never> {
    const serde = this.internals.graph.requireSerde(
      opts.value ?? this.internals.valueSerde,
      'value',
      `reduce into '${opts.store}'`,
    );
    return this.aggregateInto('KSTREAM-REDUCE', reduceAggregation(reducer), serde, opts);
  }

  aggregate<VA>(
    init: () => VA,
    aggregator: (key: K, value: V, agg: VA) => VA,
    opts: AggregateOptions<VA>,
  ): KTable<K, VA, never> {
    return this.aggregateInto('KSTREAM-AGGREGATE', aggregateAggregation(init, aggregator), opts.value, opts);
  }

  windowedBy(windows: TimeWindows | SlidingWindows): TimeWindowedKStream<K, V>;
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>;
  windowedBy(
    windows: TimeWindows | SlidingWindows | SessionWindows,
  ): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> {
    return windows instanceof SessionWindows
      ? new SessionWindowedKStream(this.internals, windows)
      : new TimeWindowedKStream(this.internals, windows);
  }

  private aggregateInto<VA>(
    prefix: string,
    aggregation: Aggregation<K, V, VA>,
    aggSerde: Serde<VA>,
    opts: Materialized,
  ): KTable<K, VA, never> {
    const { graph } = this.internals;
    const name = graph.newName(prefix, opts.name);
    const keySerde = graph.requireSerde(this.internals.keySerde, 'key', `aggregation into '${opts.store}'`);
    graph.declareStore(
      { name: opts.store, type: 'keyValue', kind: opts.storeKind ?? 'memory', changelog: true },
      name,
    );
    graph.addProcessor(
      name,
      aggregateProcessor({ store: opts.store, keySerde, aggSerde, aggregation }),
      [this.internals.node],
      [opts.store],
    );
    return new KTable<K, VA, never>({
      graph,
      node: name,
      keySerde,
      valueSerde: aggSerde,
      getter: keyValueStoreGetter(opts.store, keySerde, aggSerde),
      store: opts.store,
    });
  }
}

/** Builds the node and table of one windowed aggregation. */
function windowedAggregation<K, V, VA, T extends null>(
  g: GroupedState<K, V>,
  prefix: string,
  opts: Materialized,
  aggregation: Aggregation<K, V, VA>,
  aggSerde: Serde<VA>,
  windows: TimeWindows | SlidingWindows | SessionWindows,
): WindowedKTable<K, VA, T> {
  const { graph } = g;
  const name = graph.newName(prefix, opts.name);
  const keySerde = graph.requireSerde(g.keySerde, 'key', `windowed aggregation into '${opts.store}'`);
  graph.declareStore(
    { name: opts.store, type: 'window', kind: opts.storeKind ?? 'memory', changelog: true },
    name,
  );
  const finals: string[] = [];
  const o: WindowedAggregationOptions<K, V, VA> = {
    store: opts.store,
    keySerde,
    aggSerde,
    aggregation,
    finals,
  };
  let supplier: ProcessorSupplier<K, V, Windowed<K>, VA | null>;
  let getter: ValueGetterSupplier<Windowed<K>, VA>;
  if (windows.kind === 'time') {
    supplier = timeWindowAggregateProcessor(o, windows);
    getter = timeWindowGetter(opts.store, keySerde, aggSerde);
  } else if (windows.kind === 'sliding') {
    supplier = slidingWindowAggregateProcessor(o, windows);
    getter = slidingWindowGetter(opts.store, keySerde, aggSerde);
  } else {
    supplier = sessionWindowAggregateProcessor(o, windows);
    getter = sessionGetter(opts.store, keySerde, aggSerde);
  }
  graph.addProcessor(name, supplier, [g.node], [opts.store]);
  return new WindowedKTable<K, VA, T>(
    {
      graph,
      node: name,
      keySerde: Serdes.windowed(keySerde),
      valueSerde: aggSerde,
      getter,
      store: opts.store,
    },
    finals,
    windows,
  );
}

/**
 * A grouped stream over tumbling, hopping or sliding windows. Records whose windows have all
 * closed (end + grace, relative to the operator's stream time) are rejected as late; closed
 * windows leave the store. The result emits every update unless suppressed.
 */
export class TimeWindowedKStream<K, V> {
  /** @internal */
  constructor(
    readonly internals: GroupedState<K, V>,
    readonly windows: TimeWindows | SlidingWindows,
  ) {}

  count(opts: Materialized): WindowedKTable<K, number, never> {
    return windowedAggregation(
      this.internals,
      'KSTREAM-AGGREGATE',
      opts,
      countAggregation(),
      Serdes.int64(),
      this.windows,
    );
  }

  reduce(reducer: (agg: V, value: V) => V, opts: ReduceOptions<V>): WindowedKTable<K, V, never> {
    const serde = this.internals.graph.requireSerde(
      opts.value ?? this.internals.valueSerde,
      'value',
      `reduce into '${opts.store}'`,
    );
    return windowedAggregation(
      this.internals,
      'KSTREAM-REDUCE',
      opts,
      reduceAggregation(reducer),
      serde,
      this.windows,
    );
  }

  aggregate<VA>(
    init: () => VA,
    aggregator: (key: K, value: V, agg: VA) => VA,
    opts: AggregateOptions<VA>,
  ): WindowedKTable<K, VA, never> {
    return windowedAggregation(
      this.internals,
      'KSTREAM-AGGREGATE',
      opts,
      aggregateAggregation(init, aggregator),
      opts.value,
      this.windows,
    );
  }
}

/**
 * A grouped stream over session windows. Merging sessions emits tombstones for the sessions
 * merged away (unless suppressed), so the result table's update stream can carry nulls.
 */
export class SessionWindowedKStream<K, V> {
  /** @internal */
  constructor(
    readonly internals: GroupedState<K, V>,
    readonly windows: SessionWindows,
  ) {}

  count(opts: Materialized): WindowedKTable<K, number, null> {
    return windowedAggregation(
      this.internals,
      'KSTREAM-AGGREGATE',
      opts,
      countAggregation(),
      Serdes.int64(),
      this.windows,
    );
  }

  reduce(reducer: (agg: V, value: V) => V, opts: ReduceOptions<V>): WindowedKTable<K, V, null> {
    const serde = this.internals.graph.requireSerde(
      opts.value ?? this.internals.valueSerde,
      'value',
      `reduce into '${opts.store}'`,
    );
    return windowedAggregation(
      this.internals,
      'KSTREAM-REDUCE',
      opts,
      reduceAggregation(reducer),
      serde,
      this.windows,
    );
  }

  /** `merger` combines the aggregates of two sessions a record bridges. */
  aggregate<VA>(
    init: () => VA,
    aggregator: (key: K, value: V, agg: VA) => VA,
    merger: (key: K, a: VA, b: VA) => VA,
    opts: AggregateOptions<VA>,
  ): WindowedKTable<K, VA, null> {
    return windowedAggregation(
      this.internals,
      'KSTREAM-AGGREGATE',
      opts,
      aggregateAggregation(init, aggregator, merger),
      opts.value,
      this.windows,
    );
  }
}

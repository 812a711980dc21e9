import type { Serde } from './contracts.js';
import type { TopologyGraph } from './graph.js';
import { KStream } from './kstream.js';
import type { Materialized, Named } from './options.js';
import { passThroughProcessor } from './processors/stateless.js';
import {
  type Materialization,
  tableFilterProcessor,
  tableJoinSideProcessor,
  tableMapValuesProcessor,
  tableMaterializeProcessor,
} from './processors/table.js';
import { joinedGetter, keyValueStoreGetter, mappedGetter, type ValueGetterSupplier } from './valueGetter.js';
import type { SessionWindows, SlidingWindows, TimeWindows, Windowed } from './windows.js';

/** What a KTable knows about itself (internal to the DSL). */
export interface TableState<K, V> {
  graph: TopologyGraph;
  node: string;
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
  /** Reads the table's current value for a key, from its store or through its parents'. */
  getter: ValueGetterSupplier<K, V>;
  /** The store the table is materialised in, when it is. */
  store?: string;
}

/** Options of a table operator that may materialise its result (a store is needed to join it cheaply or query it). */
export type MaybeMaterialized<V> = Partial<Materialized> & { value?: Serde<V> };

type AnyTable<K, V> = KTable<K, V, null> | KTable<K, V, never>;

/**
 * A changelog stream seen as a table, as Kafka Streams' KTable. Its update stream carries
 * (key, value), value null meaning deletion; `T` is `null` for tables whose update stream can
 * carry deletions and `never` for those that cannot (aggregations).
 */
export class KTable<K, V, T extends null = null> {
  /** @internal */
  constructor(readonly internals: TableState<K, V>) {}

  private get graph(): TopologyGraph {
    return this.internals.graph;
  }

  /** The store holding this table, if it is materialised. */
  get queryableStoreName(): string | undefined {
    return this.internals.store;
  }

  /** The table's update stream. */
  toStream(named?: Named): KStream<K, V | T> {
    const name = this.graph.newName('KTABLE-TOSTREAM', named?.name);
    this.graph.addProcessor(name, passThroughProcessor(), [this.internals.node]);
    return new KStream<K, V | T>({
      graph: this.graph,
      node: name,
      keyChanged: false,
      keySerde: this.internals.keySerde,
      valueSerde: this.internals.valueSerde as Serde<V | T> | undefined,
      repartitioned: new Map(),
    });
  }

  private materialization<VR>(
    node: string,
    opts: MaybeMaterialized<VR> | undefined,
    valueSerde: Serde<VR> | undefined,
  ): Materialization<K, VR> | undefined {
    if (!opts?.store) return undefined;
    const where = `store '${opts.store}' of ${node}`;
    this.graph.declareStore(
      { name: opts.store, type: 'keyValue', kind: opts.storeKind ?? 'memory', changelog: true },
      node,
    );
    return {
      store: opts.store,
      keySerde: this.graph.requireSerde(this.internals.keySerde, 'key', where),
      valueSerde: this.graph.requireSerde(opts.value ?? valueSerde, 'value', where),
    };
  }

  private derived<VR, TR extends null>(
    node: string,
    m: Materialization<K, VR> | undefined,
    getter: ValueGetterSupplier<K, VR>,
    valueSerde: Serde<VR> | undefined,
  ): KTable<K, VR, TR> {
    return new KTable<K, VR, TR>({
      graph: this.graph,
      node,
      keySerde: this.internals.keySerde,
      valueSerde: m?.valueSerde ?? valueSerde,
      getter: m ? keyValueStoreGetter(m.store, m.keySerde, m.valueSerde) : getter,
      store: m?.store,
    });
  }

  /** Keeps rows matching the predicate; a row that stops matching is deleted downstream. */
  filter(predicate: (key: K, value: V) => boolean, opts?: MaybeMaterialized<V>): KTable<K, V, null> {
    const name = this.graph.newName('KTABLE-FILTER', opts?.name);
    const m = this.materialization(name, opts, this.internals.valueSerde);
    this.graph.addProcessor(
      name,
      tableFilterProcessor(predicate, m),
      [this.internals.node],
      m ? [m.store] : [],
    );
    const getter = mappedGetter<K, V, V>(this.internals.getter, (v, k) => (predicate(k, v) ? v : null));
    return this.derived<V, null>(name, m, getter, this.internals.valueSerde);
  }

  mapValues<VR>(fn: (value: V, key: K) => VR, opts?: MaybeMaterialized<VR>): KTable<K, VR, T> {
    const name = this.graph.newName('KTABLE-MAPVALUES', opts?.name);
    const m = this.materialization<VR>(name, opts, undefined);
    this.graph.addProcessor(name, tableMapValuesProcessor(fn, m), [this.internals.node], m ? [m.store] : []);
    return this.derived<VR, T>(name, m, mappedGetter(this.internals.getter, fn), opts?.value);
  }

  /** Table-table inner join: a row exists while both sides have the key. */
  join<VO, VR>(
    other: AnyTable<K, VO>,
    joiner: (value: V, otherValue: VO, key: K) => VR,
    opts?: MaybeMaterialized<VR>,
  ): KTable<K, VR, null> {
    return this.tableJoin(
      'inner',
      other,
      (a, b, k) => (a !== null && b !== null ? joiner(a, b, k) : null),
      opts,
    );
  }

  /** Table-table left join: a row exists while this side has the key. */
  leftJoin<VO, VR>(
    other: AnyTable<K, VO>,
    joiner: (value: V, otherValue: VO | null, key: K) => VR,
    opts?: MaybeMaterialized<VR>,
  ): KTable<K, VR, null> {
    return this.tableJoin('left', other, (a, b, k) => (a !== null ? joiner(a, b, k) : null), opts);
  }

  /** Table-table outer join: a row exists while either side has the key. */
  outerJoin<VO, VR>(
    other: AnyTable<K, VO>,
    joiner: (value: V | null, otherValue: VO | null, key: K) => VR,
    opts?: MaybeMaterialized<VR>,
  ): KTable<K, VR, null> {
    return this.tableJoin(
      'outer',
      other,
      (a, b, k) => (a !== null || b !== null ? joiner(a, b, k) : null),
      opts,
    );
  }

  private tableJoin<VO, VR>(
    kind: 'inner' | 'left' | 'outer',
    other: AnyTable<K, VO>,
    combine: (value: V | null, otherValue: VO | null, key: K) => VR | null,
    opts: MaybeMaterialized<VR> | undefined,
  ): KTable<K, VR, null> {
    if (other.internals.graph !== this.graph) {
      this.graph.issues.push(`table ${kind} join: ${other.internals.node} belongs to another StreamsBuilder`);
      return this as unknown as KTable<K, VR, null>;
    }
    const prefix = { inner: 'KTABLE-JOIN', left: 'KTABLE-LEFTJOIN', outer: 'KTABLE-OUTERJOIN' }[kind];
    const thisName = this.graph.newName(`${prefix}THIS`);
    const otherName = this.graph.newName(`${prefix}OTHER`);
    const mergeName = this.graph.newName('KTABLE-MERGE', opts?.name);
    const otherGetter = other.internals.getter;
    this.graph.addProcessor(
      thisName,
      tableJoinSideProcessor<K, V, VO, VR>(otherGetter, combine),
      [this.internals.node],
      otherGetter.stores,
    );
    this.graph.addProcessor(
      otherName,
      tableJoinSideProcessor<K, VO, V, VR>(this.internals.getter, (b, a, k) => combine(a, b, k)),
      [other.internals.node],
      this.internals.getter.stores,
    );
    const m = this.materialization<VR>(mergeName, opts, undefined);
    this.graph.addProcessor(
      mergeName,
      tableMaterializeProcessor(m),
      [thisName, otherName],
      m ? [m.store] : [],
    );
    this.graph.joins.push({ node: mergeName, inputs: [this.internals.node, other.internals.node] });
    return this.derived<VR, null>(
      mergeName,
      m,
      joinedGetter(this.internals.getter, otherGetter, combine),
      opts?.value,
    );
  }
}

/** The result of a windowed aggregation: a table keyed by (key, window). */
export class WindowedKTable<K, V, T extends null = null> extends KTable<Windowed<K>, V, T> {
  /** @internal */
  constructor(
    internals: TableState<Windowed<K>, V>,
    private readonly finals: string[],
    readonly windows: TimeWindows | SlidingWindows | SessionWindows,
  ) {
    super(internals);
  }

  /**
   * Emit-on-window-close: each window once, with its final value, when stream time passes its
   * close time (time windows: end + grace; sliding: end + grace + 1; sessions: end + gap +
   * grace + 1); nothing is emitted for windows still open. Implemented inside the windowed
   * aggregation (as Kafka's emitStrategy(onWindowClose)), so it needs no buffer store.
   */
  suppress(mode: 'untilWindowCloses', named?: Named): KTable<Windowed<K>, V, never> {
    const graph = this.internals.graph;
    if (mode !== 'untilWindowCloses') graph.issues.push(`unsupported suppression '${mode}'`);
    const name = graph.newName('KTABLE-SUPPRESS', named?.name);
    graph.addProcessor(name, passThroughProcessor(), [this.internals.node]);
    this.finals.push(name);
    return new KTable<Windowed<K>, V, never>({ ...this.internals, node: name });
  }
}

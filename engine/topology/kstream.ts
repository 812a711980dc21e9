import type { ProcessorSupplier, Serde } from './contracts.js';
import type { TopologyGraph } from './graph.js';
import { KGroupedStream } from './grouped.js';
import { KTable } from './ktable.js';
import { type Named, type RepartitionOptions, type StoreDeclaration, storeSpec } from './options.js';
import { mapAsyncProcessor } from './processors/mapAsync.js';
import {
  branchProcessor,
  filterProcessor,
  flatMapProcessor,
  flatMapValuesProcessor,
  type KeyValue,
  mapProcessor,
  mapValuesProcessor,
  passThroughProcessor,
  peekProcessor,
  selectKeyProcessor,
} from './processors/stateless.js';
import {
  type StreamJoinOptions as SideOptions,
  streamJoinSideProcessor,
} from './processors/streamStreamJoin.js';
import { streamTableJoinProcessor } from './processors/streamTableJoin.js';
import type { JoinWindows } from './windows.js';

/** What a KStream knows about itself (internal to the DSL). */
export interface StreamState<K, V> {
  graph: TopologyGraph;
  node: string;
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
  /** The key may no longer match the partitioning: a stateful operator must repartition first. */
  keyChanged: boolean;
  /** Repartition name given where the key changed (selectKey), used by the next stateful operator. */
  repartitionName?: string;
  /** Repartitions already made from this stream, by name (two stateful operators share one). */
  repartitioned: Map<string, KStream<K, V>>;
}

/** A table of any kind a stream can join with. */
export type JoinableTable<K, V> = KTable<K, V, null> | KTable<K, V, never>;

export interface StreamStreamJoinOptions<K, V, VO> extends Named {
  /** Window store buffering this stream's records. */
  thisStore: string;
  /** Window store buffering the other stream's records. */
  otherStore: string;
  storeKind?: 'memory' | 'lmdb';
  key?: Serde<K>;
  value?: Serde<V>;
  otherValue?: Serde<VO>;
}

type JoinKind = 'inner' | 'left' | 'outer';

/** A record stream, as Kafka Streams' KStream. Every operator returns a new stream. */
export class KStream<K, V> {
  /** @internal */
  constructor(readonly internals: StreamState<K, V>) {}

  private get graph(): TopologyGraph {
    return this.internals.graph;
  }

  private derive<KR, VR>(
    prefix: string,
    supplier: ProcessorSupplier<K, V, KR, VR>,
    named: Named | undefined,
    next: Partial<Pick<StreamState<KR, VR>, 'keySerde' | 'valueSerde' | 'keyChanged' | 'repartitionName'>>,
  ): KStream<KR, VR> {
    const name = this.graph.newName(prefix, named?.name);
    this.graph.addProcessor(name, supplier, [this.internals.node]);
    return new KStream<KR, VR>({
      graph: this.graph,
      node: name,
      keyChanged: next.keyChanged ?? this.internals.keyChanged,
      keySerde: next.keySerde,
      valueSerde: next.valueSerde,
      repartitionName: next.repartitionName,
      repartitioned: new Map(),
    });
  }

  private same(): Pick<StreamState<K, V>, 'keySerde' | 'valueSerde' | 'repartitionName'> {
    const { keySerde, valueSerde, repartitionName } = this.internals;
    return { keySerde, valueSerde, repartitionName };
  }

  filter(predicate: (key: K, value: V) => boolean, named?: Named): KStream<K, V> {
    return this.derive('KSTREAM-FILTER', filterProcessor(predicate), named, this.same());
  }

  filterNot(predicate: (key: K, value: V) => boolean, named?: Named): KStream<K, V> {
    return this.derive(
      'KSTREAM-FILTER',
      filterProcessor<K, V>((k, v) => !predicate(k, v)),
      named,
      this.same(),
    );
  }

  /** New key and value: the key may change, so a stateful operator after it must repartition. */
  map<KR, VR>(fn: (key: K, value: V) => KeyValue<KR, VR>, named?: Named): KStream<KR, VR> {
    return this.derive('KSTREAM-MAP', mapProcessor(fn), named, { keyChanged: true });
  }

  mapValues<VR>(fn: (value: V, key: K) => VR, named?: Named): KStream<K, VR> {
    const { keySerde, repartitionName } = this.internals;
    return this.derive('KSTREAM-MAPVALUES', mapValuesProcessor(fn), named, { keySerde, repartitionName });
  }

  flatMap<KR, VR>(fn: (key: K, value: V) => Iterable<KeyValue<KR, VR>>, named?: Named): KStream<KR, VR> {
    return this.derive('KSTREAM-FLATMAP', flatMapProcessor(fn), named, { keyChanged: true });
  }

  flatMapValues<VR>(fn: (value: V, key: K) => Iterable<VR>, named?: Named): KStream<K, VR> {
    const { keySerde, repartitionName } = this.internals;
    return this.derive('KSTREAM-FLATMAPVALUES', flatMapValuesProcessor(fn), named, {
      keySerde,
      repartitionName,
    });
  }

  peek(fn: (key: K, value: V) => void, named?: Named): KStream<K, V> {
    return this.derive('KSTREAM-PEEK', peekProcessor(fn), named, this.same());
  }

  /**
   * Maps values with an async function, at most `concurrency` calls in flight; results are
   * forwarded in input order. Commits (flush) wait for calls in flight.
   */
  mapAsync<VR>(fn: (value: V, key: K) => Promise<VR>, opts: { concurrency: number } & Named): KStream<K, VR> {
    if (!Number.isSafeInteger(opts.concurrency) || opts.concurrency < 1) {
      this.graph.issues.push(`mapAsync concurrency must be an integer >= 1, got ${opts.concurrency}`);
    }
    const { keySerde, repartitionName } = this.internals;
    return this.derive('KSTREAM-MAPASYNC', mapAsyncProcessor(fn, Math.max(1, opts.concurrency | 0)), opts, {
      keySerde,
      repartitionName,
    });
  }

  /** One stream per predicate; a record goes to the first predicate it matches (none: dropped). */
  branch(...predicates: ((key: K, value: V) => boolean)[]): KStream<K, V>[] {
    const name = this.graph.newName('KSTREAM-BRANCH');
    const children = predicates.map(() => this.graph.newName('KSTREAM-BRANCHCHILD'));
    this.graph.addProcessor(name, branchProcessor(predicates, children), [this.internals.node]);
    return children.map((child) => {
      this.graph.addProcessor(child, passThroughProcessor(), [name]);
      return new KStream<K, V>({ ...this.internals, ...this.same(), node: child, repartitioned: new Map() });
    });
  }

  merge(other: KStream<K, V>, named?: Named): KStream<K, V> {
    if (!this.sameBuilder(other, 'merge')) return this;
    const name = this.graph.newName('KSTREAM-MERGE', named?.name);
    this.graph.addProcessor(name, passThroughProcessor(), [this.internals.node, other.internals.node]);
    const o = other.internals;
    const s = this.internals;
    return new KStream<K, V>({
      graph: this.graph,
      node: name,
      keyChanged: s.keyChanged || o.keyChanged,
      keySerde: s.keySerde === o.keySerde ? s.keySerde : undefined,
      valueSerde: s.valueSerde === o.valueSerde ? s.valueSerde : undefined,
      repartitionName: s.repartitionName,
      repartitioned: new Map(),
    });
  }

  /**
   * A new key. A stateful operator after it repartitions through `<repartition>-repartition`
   * (the name is required then; `key` gives the new key's serde).
   */
  selectKey<KR>(
    fn: (key: K, value: V) => KR,
    opts: { repartition?: string; key?: Serde<KR> } & Named = {},
  ): KStream<KR, V> {
    return this.derive('KSTREAM-KEY-SELECT', selectKeyProcessor(fn), opts, {
      keyChanged: true,
      keySerde: opts.key,
      valueSerde: this.internals.valueSerde,
      repartitionName: opts.repartition,
    });
  }

  /** Writes the stream through the internal topic `<name>-repartition`, partitioned by the current key. */
  repartition(opts: RepartitionOptions<K, V>): KStream<K, V> {
    const known = this.internals.repartitioned.get(opts.name);
    if (known) return known;
    const key = this.requireSerde(opts.key ?? this.internals.keySerde, 'key', `repartition '${opts.name}'`);
    const value = this.requireSerde(
      opts.value ?? this.internals.valueSerde,
      'value',
      `repartition '${opts.name}'`,
    );
    const topic = `${opts.name}-repartition`;
    const serdes = { key: key as Serde<unknown>, value: value as Serde<unknown> };
    this.graph.addSink(
      { name: this.graph.newName('KSTREAM-SINK'), topic, internal: true, ...serdes },
      this.internals.node,
    );
    const source = this.graph.addSource({
      name: this.graph.newName('KSTREAM-SOURCE'),
      topic,
      internal: true,
      ...serdes,
      tombstones: false,
    });
    const out = new KStream<K, V>({
      graph: this.graph,
      node: source,
      keyChanged: false,
      keySerde: key,
      valueSerde: value,
      repartitioned: new Map(),
    });
    this.internals.repartitioned.set(opts.name, out);
    return out;
  }

  /** This stream, repartitioned first if its key changed (stateful operators call this). */
  private copartitioned(
    op: string,
    opts: { repartition?: string; key?: Serde<K>; value?: Serde<V> } = {},
  ): KStream<K, V> {
    if (!this.internals.keyChanged) return this;
    const name = opts.repartition ?? this.internals.repartitionName;
    if (name === undefined) {
      this.graph.issues.push(
        `${op} after a key-changing operation (${this.internals.node}) needs a repartition topic: ` +
          `pass { repartition: '<name>' } to selectKey()/groupBy()/groupByKey(), or call repartition({ name }) first`,
      );
      return this;
    }
    return this.repartition({ name, key: opts.key, value: opts.value });
  }

  private requireSerde<T>(serde: Serde<T> | undefined, what: string, op: string): Serde<T> {
    return this.graph.requireSerde(serde, what, `${op} at ${this.internals.node}`);
  }

  private sameBuilder(other: { internals: { graph: TopologyGraph; node: string } }, op: string): boolean {
    if (other.internals.graph === this.graph) return true;
    this.graph.issues.push(`${op}: ${other.internals.node} belongs to another StreamsBuilder`);
    return false;
  }

  /** Groups by the current key (repartitioning first if the key changed). */
  groupByKey(opts: { key?: Serde<K>; value?: Serde<V>; repartition?: string } = {}): KGroupedStream<K, V> {
    const s = this.copartitioned('groupByKey', opts);
    return new KGroupedStream<K, V>({
      graph: this.graph,
      node: s.internals.node,
      keySerde: opts.key ?? s.internals.keySerde,
      valueSerde: opts.value ?? s.internals.valueSerde,
    });
  }

  /** Groups by a new key, always through `<repartition>-repartition`. */
  groupBy<KR>(
    fn: (key: K, value: V) => KR,
    opts: { key: Serde<KR>; value?: Serde<V>; repartition: string } & Named,
  ): KGroupedStream<KR, V> {
    return this.selectKey(fn, { key: opts.key, repartition: opts.repartition, name: opts.name }).groupByKey({
      key: opts.key,
      value: opts.value,
    });
  }

  /** Writes every record to `topic`. */
  to(topic: string, opts: { key?: Serde<K>; value?: Serde<V> } & Named = {}): void {
    const key = this.requireSerde(opts.key ?? this.internals.keySerde, 'key', `to('${topic}')`);
    const value = this.requireSerde(opts.value ?? this.internals.valueSerde, 'value', `to('${topic}')`);
    this.graph.addSink(
      {
        name: this.graph.newName('KSTREAM-SINK', opts.name),
        topic,
        internal: false,
        key: key as Serde<unknown>,
        value: value as Serde<unknown>,
      },
      this.internals.node,
    );
  }

  /**
   * The low-level processor API. `stores` declares stores the processor creates, or names
   * stores declared elsewhere (e.g. a table's) that it reads. A stateful processor after a key
   * change repartitions first, as other stateful operators do.
   */
  process<KO, VO>(
    supplier: ProcessorSupplier<K, V, KO, VO>,
    opts: { stores?: (StoreDeclaration | string)[] } & Named = {},
  ): KStream<KO, VO> {
    const stores = opts.stores ?? [];
    const s = stores.length > 0 ? this.copartitioned('process() with stores') : this;
    const name = this.graph.newName('KSTREAM-PROCESSOR', opts.name);
    for (const d of stores) if (typeof d !== 'string') this.graph.declareStore(storeSpec(d), name);
    this.graph.addProcessor(
      name,
      supplier,
      [s.internals.node],
      stores.map((d) => (typeof d === 'string' ? d : d.name)),
    );
    return new KStream<KO, VO>({ graph: this.graph, node: name, keyChanged: true, repartitioned: new Map() });
  }

  /** Stream-table inner join: each record is joined with the table's current value for its key. */
  join<VT, VR>(
    table: JoinableTable<K, VT>,
    joiner: (value: V, tableValue: VT, key: K) => VR,
    named?: Named,
  ): KStream<K, VR>;
  /** Windowed stream-stream inner join. */
  join<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO, key: K) => VR,
    windows: JoinWindows,
    opts: StreamStreamJoinOptions<K, V, VO>,
  ): KStream<K, VR>;
  join<VO, VR>(
    other: KStream<K, VO> | JoinableTable<K, VO>,
    joiner: (value: V, other: VO, key: K) => VR,
    windowsOrNamed?: JoinWindows | Named,
    opts?: StreamStreamJoinOptions<K, V, VO>,
  ): KStream<K, VR> {
    return this.dispatchJoin('inner', other, joiner as never, windowsOrNamed, opts);
  }

  /** Stream-table left join: a record whose key is not in the table joins with null. */
  leftJoin<VT, VR>(
    table: JoinableTable<K, VT>,
    joiner: (value: V, tableValue: VT | null, key: K) => VR,
    named?: Named,
  ): KStream<K, VR>;
  /** Windowed stream-stream left join: a record that joined nothing is emitted with null once its window has closed. */
  leftJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO | null, key: K) => VR,
    windows: JoinWindows,
    opts: StreamStreamJoinOptions<K, V, VO>,
  ): KStream<K, VR>;
  leftJoin<VO, VR>(
    other: KStream<K, VO> | JoinableTable<K, VO>,
    joiner: (value: V, other: VO | null, key: K) => VR,
    windowsOrNamed?: JoinWindows | Named,
    opts?: StreamStreamJoinOptions<K, V, VO>,
  ): KStream<K, VR> {
    return this.dispatchJoin('left', other, joiner as never, windowsOrNamed, opts);
  }

  /** Windowed stream-stream outer join: unjoined records of either side are emitted once their window has closed. */
  outerJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V | null, otherValue: VO | null, key: K) => VR,
    windows: JoinWindows,
    opts: StreamStreamJoinOptions<K, V, VO>,
  ): KStream<K, VR> {
    return this.streamJoin('outer', other, joiner, windows, opts);
  }

  private dispatchJoin<VO, VR>(
    kind: 'inner' | 'left',
    other: KStream<K, VO> | JoinableTable<K, VO>,
    joiner: (value: V | null, other: VO | null, key: K) => VR,
    windowsOrNamed: JoinWindows | Named | undefined,
    opts: StreamStreamJoinOptions<K, V, VO> | undefined,
  ): KStream<K, VR> {
    if (other instanceof KTable)
      return this.tableJoin(kind, other, joiner, windowsOrNamed as Named | undefined);
    if (!opts || !windowsOrNamed || !('timeDifferenceMs' in windowsOrNamed)) {
      this.graph.issues.push(`a stream-stream ${kind} join needs JoinWindows and { thisStore, otherStore }`);
      return this as unknown as KStream<K, VR>;
    }
    return this.streamJoin(kind, other, joiner, windowsOrNamed, opts);
  }

  private tableJoin<VT, VR>(
    kind: 'inner' | 'left',
    table: JoinableTable<K, VT>,
    joiner: (value: V, tableValue: VT | null, key: K) => VR,
    named: Named | undefined,
  ): KStream<K, VR> {
    if (!this.sameBuilder(table, 'join')) return this as unknown as KStream<K, VR>;
    const s = this.copartitioned(`${kind} join with a table`);
    const getter = table.internals.getter;
    const name = this.graph.newName(kind === 'inner' ? 'KSTREAM-JOIN' : 'KSTREAM-LEFTJOIN', named?.name);
    this.graph.addProcessor(
      name,
      streamTableJoinProcessor(getter, joiner, kind === 'left'),
      [s.internals.node],
      getter.stores,
    );
    this.graph.joins.push({ node: name, inputs: [s.internals.node, table.internals.node] });
    return new KStream<K, VR>({
      graph: this.graph,
      node: name,
      keyChanged: false,
      keySerde: s.internals.keySerde,
      repartitioned: new Map(),
    });
  }

  private streamJoin<VO, VR>(
    kind: JoinKind,
    other: KStream<K, VO>,
    joiner: (value: V | null, other: VO | null, key: K) => VR,
    windows: JoinWindows,
    opts: StreamStreamJoinOptions<K, V, VO>,
  ): KStream<K, VR> {
    if (!this.sameBuilder(other, 'join')) return this as unknown as KStream<K, VR>;
    const left = this.copartitioned(`${kind} join`, { key: opts.key, value: opts.value });
    const right = other.copartitioned(`${kind} join`, { key: opts.key, value: opts.otherValue });
    const what = `${kind} join ${opts.thisStore}/${opts.otherStore}`;
    const keySerde = this.requireSerde(
      opts.key ?? left.internals.keySerde ?? right.internals.keySerde,
      'key',
      what,
    );
    const sideOptions: SideOptions<K, V, VO, VR> = {
      id: '',
      leftStore: opts.thisStore,
      rightStore: opts.otherStore,
      keySerde,
      leftSerde: this.requireSerde(opts.value ?? left.internals.valueSerde, 'value', what),
      rightSerde: this.requireSerde(opts.otherValue ?? right.internals.valueSerde, 'otherValue', what),
      windows,
      leftOuter: kind !== 'inner',
      rightOuter: kind === 'outer',
      joiner,
    };
    const prefix = kind === 'outer' ? 'KSTREAM-OUTER' : 'KSTREAM-JOIN';
    const thisName = this.graph.newName(`${prefix}THIS`);
    const otherName = this.graph.newName(`${prefix}OTHER`);
    const mergeName = this.graph.newName('KSTREAM-MERGE', opts.name);
    sideOptions.id = mergeName;
    const storeKind = opts.storeKind ?? 'memory';
    this.graph.declareStore(
      { name: opts.thisStore, type: 'window', kind: storeKind, changelog: true },
      thisName,
    );
    this.graph.declareStore(
      { name: opts.otherStore, type: 'window', kind: storeKind, changelog: true },
      otherName,
    );
    const stores = [opts.thisStore, opts.otherStore];
    this.graph.addProcessor(
      thisName,
      streamJoinSideProcessor(sideOptions, 'left'),
      [left.internals.node],
      stores,
    );
    this.graph.addProcessor(
      otherName,
      streamJoinSideProcessor(sideOptions, 'right'),
      [right.internals.node],
      stores,
    );
    this.graph.addProcessor(mergeName, passThroughProcessor(), [thisName, otherName]);
    this.graph.joins.push({ node: mergeName, inputs: [left.internals.node, right.internals.node] });
    return new KStream<K, VR>({
      graph: this.graph,
      node: mergeName,
      keyChanged: false,
      keySerde,
      repartitioned: new Map(),
    });
  }
}

import type { StoreKind } from '../state/types.js';
import type { Serde, StreamRecord } from './contracts.js';
import { type TimestampExtractor, TopologyGraph } from './graph.js';
import { KStream } from './kstream.js';
import { KTable } from './ktable.js';
import type { Named } from './options.js';
import { tableSourceProcessor } from './processors/table.js';
import { Topology } from './topology.js';
import { keyValueStoreGetter } from './valueGetter.js';

export interface StreamOptions<K, V> extends Named {
  key: Serde<K>;
  value: Serde<V>;
  /** Event time of a record (default: the Kafka record timestamp). Must be a non-negative integer. */
  timestampExtractor?: (record: StreamRecord<K, V>) => number;
}

export interface TableOptions<K, V> extends StreamOptions<K, V> {
  /** The store the table is materialised in; it gets its own changelog `<store>-changelog`. */
  store: string;
  storeKind?: StoreKind;
}

/** Builds a topology with the DSL, as Kafka Streams' StreamsBuilder. */
export class StreamsBuilder {
  private readonly graph = new TopologyGraph(this);

  /** The records of `topic`. */
  stream<K, V>(topic: string, opts: StreamOptions<K, V>): KStream<K, V> {
    const node = this.graph.addSource({
      name: this.graph.newName('KSTREAM-SOURCE', opts.name),
      topic,
      internal: false,
      key: opts.key as Serde<unknown>,
      value: opts.value as Serde<unknown>,
      timestampExtractor: opts.timestampExtractor as TimestampExtractor | undefined,
      tombstones: false,
    });
    return new KStream<K, V>({
      graph: this.graph,
      node,
      keySerde: opts.key,
      valueSerde: opts.value,
      keyChanged: false,
      repartitioned: new Map(),
    });
  }

  /**
   * `topic` read as a changelog: the latest value per key, null values deleting. Materialised in
   * `store`, which has its own changelog topic (the source topic is not reused as changelog).
   */
  table<K, V>(topic: string, opts: TableOptions<K, V>): KTable<K, V, null> {
    const source = this.graph.addSource({
      name: this.graph.newName('KSTREAM-SOURCE'),
      topic,
      internal: false,
      key: opts.key as Serde<unknown>,
      value: opts.value as Serde<unknown>,
      timestampExtractor: opts.timestampExtractor as TimestampExtractor | undefined,
      tombstones: true,
    });
    const name = this.graph.newName('KTABLE-SOURCE', opts.name);
    this.graph.declareStore(
      { name: opts.store, type: 'keyValue', kind: opts.storeKind ?? 'memory', changelog: true },
      name,
    );
    const m = { store: opts.store, keySerde: opts.key, valueSerde: opts.value };
    this.graph.addProcessor(name, tableSourceProcessor(m), [source], [opts.store]);
    return new KTable<K, V, null>({
      graph: this.graph,
      node: name,
      keySerde: opts.key,
      valueSerde: opts.value,
      getter: keyValueStoreGetter(opts.store, opts.key, opts.value),
      store: opts.store,
    });
  }

  /** The topology built so far; throws a TopologyError listing every problem found. */
  build(): Topology {
    return new Topology(this.graph);
  }
}

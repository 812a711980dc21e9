import type { KeyValueStore } from '../../state/types.js';
import type { Processor, ProcessorContext, ProcessorSupplier, Serde, StreamRecord } from '../contracts.js';
import { type InternalContext, internal, prepareAll, runPrepared } from '../internalContext.js';
import { toBytes } from '../storeCodec.js';
import { type AggregationOptions, acceptKeyValue } from './aggregation.js';

/** A running aggregate per key in a key-value store; every update is forwarded (a KTable update stream). */
class AggregateProcessor<K, V, VA> implements Processor<K, V, K, VA> {
  private ctx!: InternalContext<K, VA>;
  private kv!: KeyValueStore;
  private topic!: string;

  constructor(private readonly o: AggregationOptions<K, V, VA>) {}

  init(ctx: ProcessorContext<K, VA>): void {
    this.ctx = internal(ctx);
    this.kv = ctx.keyValueStore(this.o.store);
    this.topic = this.ctx.storeTopic(this.o.store);
  }

  process(record: StreamRecord<K, V>): void | Promise<void> {
    if (!acceptKeyValue(this.ctx, record)) return;
    const kb = toBytes(this.o.keySerde, record.key, this.topic, 'key');
    return runPrepared(
      this.ctx,
      // Without a prepare step there is nothing to read ahead (a second store read per record).
      () =>
        this.o.aggSerde.prepare
          ? prepareAll([[this.o.aggSerde as Serde<unknown>, this.kv.get(kb)]], this.topic)
          : undefined,
      () => {
        const old = this.kv.get(kb);
        const agg = this.o.aggregation.add(
          record.key,
          record.value,
          old === undefined ? undefined : this.o.aggSerde.deserialize(old, this.topic),
        );
        this.kv.put(kb, toBytes(this.o.aggSerde, agg, this.topic, 'aggregate'));
        this.ctx.forward({ ...record, value: agg });
      },
    );
  }
}

export function aggregateProcessor<K, V, VA>(
  o: AggregationOptions<K, V, VA>,
): ProcessorSupplier<K, V, K, VA> {
  return () => new AggregateProcessor(o);
}

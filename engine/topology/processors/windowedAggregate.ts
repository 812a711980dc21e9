import type { WindowStore } from '../../state/types.js';
import type { Headers, Processor, ProcessorContext, Serde, StreamRecord } from '../contracts.js';
import { RecordRejectedError } from '../errors.js';
import { type InternalContext, internal } from '../internalContext.js';
import type { Window, Windowed } from '../windows.js';
import type { AggregationOptions } from './aggregation.js';

export interface WindowedAggregationOptions<K, V, VA> extends AggregationOptions<K, V, VA> {
  /**
   * Children that receive only final results, once per window when it closes (suppress nodes);
   * the other children receive every update. Filled in by the DSL as suppress() is called.
   */
  finals: string[];
}

/**
 * What the windowed aggregations share: the window store, this operator's stream time (the
 * largest timestamp among the records it has accepted, as Kafka Streams' observedStreamTime),
 * and forwarding updates and final results to the right children.
 */
export abstract class WindowedAggregateProcessor<K, V, VA>
  implements Processor<K, V, Windowed<K>, VA | null>
{
  protected ctx!: InternalContext<Windowed<K>, VA | null>;
  protected store!: WindowStore;
  protected topic!: string;
  protected streamTime = -1;
  private updateChildren: string[] = [];

  constructor(protected readonly o: WindowedAggregationOptions<K, V, VA>) {}

  init(ctx: ProcessorContext<Windowed<K>, VA | null>): void {
    this.ctx = internal(ctx);
    this.store = ctx.windowStore(this.o.store);
    this.topic = this.ctx.storeTopic(this.o.store);
    this.updateChildren = this.ctx.childNames.filter((c) => !this.o.finals.includes(c));
  }

  abstract process(record: StreamRecord<K, V>): void | Promise<void>;

  protected get emitsFinals(): boolean {
    return this.o.finals.length > 0;
  }

  protected keySerde(): Serde<unknown> {
    return this.o.keySerde as Serde<unknown>;
  }

  protected aggSerde(): Serde<unknown> {
    return this.o.aggSerde as Serde<unknown>;
  }

  protected keyBytes(key: K): Buffer {
    const bytes = this.o.keySerde.serialize(key, this.topic);
    if (bytes === null) throw new Error(`${this.ctx.nodeName}: the key serde returned null`);
    return bytes;
  }

  protected aggBytes(agg: VA): Buffer {
    const bytes = this.o.aggSerde.serialize(agg, this.topic);
    if (bytes === null) throw new Error(`${this.ctx.nodeName}: the aggregate serde returned null`);
    return bytes;
  }

  protected decodeAgg(bytes: Buffer): VA {
    return this.o.aggSerde.deserialize(bytes, this.topic);
  }

  protected decodeKey(bytes: Buffer): K {
    return this.o.keySerde.deserialize(bytes, this.topic);
  }

  protected get hasUpdateChildren(): boolean {
    return this.updateChildren.length > 0;
  }

  protected forwardUpdate(key: Windowed<K>, value: VA | null, timestamp: number, headers: Headers): void {
    for (const child of this.updateChildren) this.ctx.forward({ key, value, timestamp, headers }, child);
  }

  protected forwardFinal(key: Windowed<K>, value: VA, timestamp: number): void {
    for (const child of this.o.finals) this.ctx.forward({ key, value, timestamp, headers: {} }, child);
  }

  protected rejectLate(record: StreamRecord<K, V>, windows: readonly Window[], grace: number): void {
    const list = windows.map((w) => `[${w.start},${w.end}]`).join(', ');
    this.ctx.reject(
      record as StreamRecord<unknown, unknown>,
      'late',
      new RecordRejectedError(
        'late',
        `${this.ctx.nodeName}: record at ${record.timestamp} is too late for window(s) ${list} (stream time ${this.streamTime}, grace ${grace} ms)`,
      ),
    );
  }

  /** Entries of the window store with start < bound, ordered by start then key bytes (store-independent). */
  protected entriesBefore(bound: number): [Buffer, number, Buffer][] {
    return [...this.store.expiredBefore(bound)].sort((a, b) => a[1] - b[1] || Buffer.compare(a[0], b[0]));
  }
}

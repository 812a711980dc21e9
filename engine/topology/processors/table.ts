import type { KeyValueStore } from '../../state/types.js';
import type { Processor, ProcessorContext, ProcessorSupplier, Serde, StreamRecord } from '../contracts.js';
import { RecordRejectedError } from '../errors.js';
import { type InternalContext, internal, runPrepared } from '../internalContext.js';
import { toBytes } from '../storeCodec.js';
import type { ValueGetter, ValueGetterSupplier } from '../valueGetter.js';

/*
 * KTable operators. A table's update stream carries (key, value) with value null for a
 * deletion. A table may be materialised in a key-value store; a materialised table does not
 * pass on a deletion of a key it does not hold.
 */

export interface Materialization<K, V> {
  store: string;
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
}

/** Computes a table's new value for an update (null: no value / deletion). */
type TableStep<K, VIn, VOut> = (
  record: StreamRecord<K, VIn | null>,
) => { prepare: () => Promise<void> | undefined; value: () => VOut | null } | null;

class TableProcessor<K, VIn, VOut> implements Processor<K, VIn | null, K, VOut | null> {
  private ctx!: InternalContext<K, VOut | null>;
  private kv: KeyValueStore | null = null;
  private topic = '';
  private compute!: TableStep<K, VIn, VOut>;

  constructor(
    private readonly step: (ctx: InternalContext<unknown, unknown>) => TableStep<K, VIn, VOut>,
    private readonly materialized: Materialization<K, VOut> | undefined,
    private readonly requireKey: boolean,
  ) {}

  init(ctx: ProcessorContext<K, VOut | null>): void {
    this.ctx = internal(ctx);
    this.compute = this.step(this.ctx as InternalContext<unknown, unknown>);
    if (this.materialized) {
      this.kv = ctx.keyValueStore(this.materialized.store);
      this.topic = this.ctx.storeTopic(this.materialized.store);
    }
  }

  process(record: StreamRecord<K, VIn | null>): void | Promise<void> {
    if (record.key === null || record.key === undefined) {
      if (this.requireKey) {
        this.ctx.reject(
          record,
          'invalid',
          new RecordRejectedError('invalid', `${this.ctx.nodeName}: a table record needs a key`),
        );
      }
      return;
    }
    const step = this.compute(record);
    if (!step) return;
    return runPrepared(this.ctx, step.prepare, () => this.emit(record, step.value()));
  }

  private emit(record: StreamRecord<K, VIn | null>, value: VOut | null): void {
    if (this.kv && this.materialized) {
      const kb = toBytes(this.materialized.keySerde, record.key, this.topic, 'key');
      if (value === null || value === undefined) {
        if (this.kv.get(kb) === undefined) return;
        this.kv.delete(kb);
      } else {
        this.kv.put(kb, toBytes(this.materialized.valueSerde, value, this.topic, 'value'));
      }
    }
    this.ctx.forward({
      key: record.key,
      value: value ?? null,
      timestamp: record.timestamp,
      headers: record.headers,
    });
  }
}

const none = () => undefined;

/** The first node of a source table: materialises it. */
export function tableSourceProcessor<K, V>(
  m: Materialization<K, V>,
): ProcessorSupplier<K, V | null, K, V | null> {
  return () => new TableProcessor<K, V, V>(() => (r) => ({ prepare: none, value: () => r.value }), m, true);
}

export function tableFilterProcessor<K, V>(
  predicate: (key: K, value: V) => boolean,
  m?: Materialization<K, V>,
): ProcessorSupplier<K, V | null, K, V | null> {
  return () =>
    new TableProcessor<K, V, V>(
      () => (r) => ({
        prepare: none,
        value: () => (r.value !== null && predicate(r.key, r.value) ? r.value : null),
      }),
      m,
      false,
    );
}

export function tableMapValuesProcessor<K, V, VR>(
  fn: (value: V, key: K) => VR,
  m?: Materialization<K, VR>,
): ProcessorSupplier<K, V | null, K, VR | null> {
  return () =>
    new TableProcessor<K, V, VR>(
      () => (r) => ({ prepare: none, value: () => (r.value === null ? null : fn(r.value, r.key)) }),
      m,
      false,
    );
}

/**
 * One side of a table-table join: an update of this side looks up the other side's current
 * value and emits the combined value (null when the join has no row for the key any more).
 */
export function tableJoinSideProcessor<K, VThis, VOther, VR>(
  other: ValueGetterSupplier<K, VOther>,
  combine: (thisValue: VThis | null, otherValue: VOther | null, key: K) => VR | null,
): ProcessorSupplier<K, VThis | null, K, VR | null> {
  return () =>
    new TableProcessor<K, VThis, VR>(
      (ctx) => {
        const getter: ValueGetter<K, VOther> = other.init(ctx);
        return (r) => ({
          prepare: () => getter.prepare(r.key),
          value: () => combine(r.value, getter.get(r.key), r.key),
        });
      },
      undefined,
      false,
    );
}

/** Stores a table's updates when it is materialised (join results); passes them on otherwise. */
export function tableMaterializeProcessor<K, V>(
  m?: Materialization<K, V>,
): ProcessorSupplier<K, V | null, K, V | null> {
  return () => new TableProcessor<K, V, V>(() => (r) => ({ prepare: none, value: () => r.value }), m, false);
}

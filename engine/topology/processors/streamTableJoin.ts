import type { Processor, ProcessorContext, ProcessorSupplier, StreamRecord } from '../contracts.js';
import { RecordRejectedError } from '../errors.js';
import { type InternalContext, internal, runPrepared } from '../internalContext.js';
import type { ValueGetter, ValueGetterSupplier } from '../valueGetter.js';

/**
 * A stream-table join: each stream record looks the table up as it is when the record arrives
 * (processing order, not timestamps); table updates emit nothing. An inner join drops a record
 * whose key is absent from the table; a left join passes null instead. Records with a null
 * value, and with a null key in an inner join, are rejected as invalid.
 */
class StreamTableJoin<K, V, VT, VR> implements Processor<K, V, K, VR> {
  private ctx!: InternalContext<K, VR>;
  private table!: ValueGetter<K, VT>;

  constructor(
    private readonly getter: ValueGetterSupplier<K, VT>,
    private readonly joiner: (value: V, tableValue: VT | null, key: K) => VR,
    private readonly left: boolean,
  ) {}

  init(ctx: ProcessorContext<K, VR>): void {
    this.ctx = internal(ctx);
    this.table = this.getter.init(this.ctx as InternalContext<unknown, unknown>);
  }

  process(record: StreamRecord<K, V>): void | Promise<void> {
    if (record.value === null || record.value === undefined) {
      this.reject(record, 'a record with a null value cannot be joined');
      return;
    }
    if (record.key === null || record.key === undefined) {
      if (this.left) this.ctx.forward({ ...record, value: this.joiner(record.value, null, record.key) });
      else this.reject(record, 'a record with a null key cannot be joined');
      return;
    }
    return runPrepared(
      this.ctx,
      () => this.table.prepare(record.key),
      () => {
        const tableValue = this.table.get(record.key);
        if (tableValue === null && !this.left) return;
        this.ctx.forward({ ...record, value: this.joiner(record.value, tableValue, record.key) });
      },
    );
  }

  private reject(record: StreamRecord<K, V>, why: string): void {
    this.ctx.reject(record, 'invalid', new RecordRejectedError('invalid', `${this.ctx.nodeName}: ${why}`));
  }
}

export function streamTableJoinProcessor<K, V, VT, VR>(
  getter: ValueGetterSupplier<K, VT>,
  joiner: (value: V, tableValue: VT | null, key: K) => VR,
  left: boolean,
): ProcessorSupplier<K, V, K, VR> {
  return () => new StreamTableJoin(getter, joiner, left);
}

import type { ProcessorSupplier, Serde, StreamRecord } from '../contracts.js';
import { prepareAll, runPrepared } from '../internalContext.js';
import type { ValueGetterSupplier } from '../valueGetter.js';
import type { TimeWindows, Window, Windowed } from '../windows.js';
import { acceptKeyValue } from './aggregation.js';
import { WindowedAggregateProcessor, type WindowedAggregationOptions } from './windowedAggregate.js';

/**
 * Tumbling and hopping window aggregation. A record goes to each of its windows that is still
 * open (window end + grace > stream time); if any of its windows has closed, the record is
 * also rejected as late (so a hopping-window record can be both counted and reported). A
 * window is removed from the store when it closes, after its final result is emitted.
 */
class TimeWindowAggregateProcessor<K, V, VA> extends WindowedAggregateProcessor<K, V, VA> {
  constructor(
    o: WindowedAggregationOptions<K, V, VA>,
    private readonly windows: TimeWindows,
  ) {
    super(o);
  }

  process(record: StreamRecord<K, V>): void | Promise<void> {
    if (!acceptKeyValue(this.ctx, record)) return;
    if (record.timestamp > this.streamTime) this.streamTime = record.timestamp;
    const all = this.windows.windowsFor(record.timestamp);
    let open = all;
    for (let i = 0; i < all.length; i++) {
      if (this.streamTime >= this.windows.closesAt(all[i]!)) {
        open = all.filter((w) => this.streamTime < this.windows.closesAt(w));
        break;
      }
    }
    const kb = this.keyBytes(record.key);
    // Serdes without prepare (no registry lookups) need nothing read ahead: the common case
    // goes straight through, without a list of stored bytes to prepare or closures per record.
    if (this.aggSerde().prepare === undefined && this.keySerde().prepare === undefined) {
      this.apply(record, kb, all, open);
      return;
    }
    return runPrepared(
      this.ctx,
      () =>
        prepareAll(
          [
            ...open.map((w) => [this.aggSerde(), this.store.get(kb, w.start)] as const),
            ...this.closing().flatMap(([k, , v]) => [
              [this.keySerde(), k] as const,
              [this.aggSerde(), v] as const,
            ]),
          ],
          this.topic,
        ),
      () => this.apply(record, kb, all, open),
    );
  }

  private apply(record: StreamRecord<K, V>, kb: Buffer, all: Window[], open: Window[]): void {
    for (const w of open) {
      const old = this.store.get(kb, w.start);
      const agg = this.o.aggregation.add(
        record.key,
        record.value,
        old === undefined ? undefined : this.decodeAgg(old),
      );
      this.store.put(kb, w.start, this.aggBytes(agg));
      if (this.hasUpdateChildren)
        this.forwardUpdate({ key: record.key, ...w }, agg, record.timestamp, record.headers);
    }
    if (open.length < all.length) {
      this.rejectLate(
        record,
        all.filter((w) => !open.includes(w)),
        this.windows.graceMs,
      );
    }
    this.closeWindows();
  }

  /** Latest window start below the close bound already closed; windows start on multiples of the advance. */
  private closedThrough = Number.NEGATIVE_INFINITY;

  private closeMark(): number {
    const bound = this.streamTime - this.windows.graceMs - this.windows.sizeMs + 1;
    return Math.floor((bound - 1) / this.windows.advanceMs) * this.windows.advanceMs;
  }

  /**
   * Windows closed at the current stream time: end + grace <= stream time. Open windows start
   * at or above the bound, so once windows up to a start are closed nothing new appears below
   * it: the store is scanned only when stream time crosses into a new window start.
   */
  private closing(): [Buffer, number, Buffer][] {
    if (this.closeMark() === this.closedThrough) return [];
    return this.entriesBefore(this.streamTime - this.windows.graceMs - this.windows.sizeMs + 1);
  }

  private closeWindows(): void {
    const mark = this.closeMark();
    const closing = this.closing();
    this.closedThrough = mark;
    for (const [kb, start, bytes] of closing) {
      if (this.emitsFinals) {
        const end = start + this.windows.sizeMs;
        this.forwardFinal({ key: this.decodeKey(kb), start, end }, this.decodeAgg(bytes), end - 1);
      }
      this.store.delete(kb, start);
    }
  }
}

export function timeWindowAggregateProcessor<K, V, VA>(
  o: WindowedAggregationOptions<K, V, VA>,
  windows: TimeWindows,
): ProcessorSupplier<K, V, Windowed<K>, VA | null> {
  return () => new TimeWindowAggregateProcessor(o, windows);
}

/** Reads a time window's aggregate by windowed key. */
export function timeWindowGetter<K, VA>(
  store: string,
  keySerde: Serde<K>,
  aggSerde: Serde<VA>,
): ValueGetterSupplier<Windowed<K>, VA> {
  return {
    stores: [store],
    init(ctx) {
      const ws = ctx.windowStore(store);
      const topic = ctx.storeTopic(store);
      const bytesOf = (w: Windowed<K>) => {
        const kb = keySerde.serialize(w.key, topic);
        return kb === null ? undefined : ws.get(kb, w.start);
      };
      return {
        prepare: (w) => prepareAll([[aggSerde as Serde<unknown>, bytesOf(w)]], topic),
        get: (w) => {
          const bytes = bytesOf(w);
          return bytes === undefined ? null : aggSerde.deserialize(bytes, topic);
        },
      };
    },
  };
}

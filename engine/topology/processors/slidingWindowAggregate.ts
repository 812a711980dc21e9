import type { ProcessorSupplier, Serde, StreamRecord } from '../contracts.js';
import { prepareAll, runPrepared } from '../internalContext.js';
import { decodeSliding, encodeSliding, type SlidingValue } from '../storeCodec.js';
import type { ValueGetterSupplier } from '../valueGetter.js';
import type { SlidingWindows, Windowed } from '../windows.js';
import { acceptKeyValue } from './aggregation.js';
import { WindowedAggregateProcessor, type WindowedAggregationOptions } from './windowedAggregate.js';

interface StoredWindow extends SlidingValue {
  start: number;
}

/**
 * Sliding window aggregation (KIP-450). The windows of a key are the left window [t - d, t] of
 * every record and the right window [t + 1, t + 1 + d] of every record that has a later record
 * within d + 1. A window's content is all accepted records in its range, so it is fully
 * described by its earliest and latest record (kept with the aggregate): a new window's
 * aggregate is copied from an existing window holding the same records, as Kafka does, and
 * that window is found by those two timestamps.
 *
 * A record is accepted when its left window is still open (t + grace >= stream time); every
 * window containing it is then open too, so a record is never split between windows. A window
 * closes when end + grace < stream time, and is kept d longer because it may still be the
 * source of a newer record's left window.
 */
class SlidingWindowAggregateProcessor<K, V, VA> extends WindowedAggregateProcessor<K, V, VA> {
  private readonly d: number;

  constructor(
    o: WindowedAggregationOptions<K, V, VA>,
    private readonly windows: SlidingWindows,
  ) {
    super(o);
    this.d = windows.timeDifferenceMs;
  }

  process(record: StreamRecord<K, V>): void | Promise<void> {
    if (!acceptKeyValue(this.ctx, record)) return;
    const t = record.timestamp;
    this.streamTime = Math.max(this.streamTime, t);
    if (this.windows.isLate(t, this.streamTime)) {
      this.rejectLate(record, [this.windows.leftWindow(t)], this.windows.graceMs);
      return;
    }
    const kb = this.keyBytes(record.key);
    return runPrepared(
      this.ctx,
      () =>
        prepareAll(
          [
            ...this.fetch(kb, t).map((w) => [this.aggSerde(), w.agg] as const),
            ...this.closing().flatMap(([k, , v]) => [
              [this.keySerde(), k] as const,
              [this.aggSerde(), v] as const,
            ]),
          ],
          this.topic,
        ),
      () => {
        this.aggregate(record, kb);
        this.closeWindows();
      },
    );
  }

  /** Every window that can contain t, or be the source of a window created for t. */
  private fetch(kb: Buffer, t: number): StoredWindow[] {
    return [...this.store.fetch(kb, t - 2 * this.d - 1, t + 1)].map(([start, bytes]) => ({
      start,
      ...decodeSliding(bytes),
    }));
  }

  private aggregate(record: StreamRecord<K, V>, kb: Buffer): void {
    const t = record.timestamp;
    const d = this.d;
    const existing = this.fetch(kb, t);
    const starts = new Set(existing.map((w) => w.start));
    // Every accepted record r near t is the latest record of its own left window [r - d, r].
    const times = [...new Set(existing.flatMap((w) => [w.min, w.max]))];
    const sourceOf = (records: number[]): StoredWindow => {
      const min = Math.min(...records);
      const max = Math.max(...records);
      const source = existing.find((w) => w.min === min && w.max === max);
      if (!source) throw new Error(`${this.ctx.nodeName}: no window holds the records in [${min}, ${max}]`);
      return source;
    };
    const created: { start: number; min: number; max: number; agg: VA }[] = [];

    if (!starts.has(t - d)) {
      const before = times.filter((r) => r >= t - d && r < t);
      const source = before.length > 0 ? sourceOf(before) : undefined;
      created.push({
        start: t - d,
        min: source ? source.min : t,
        max: t,
        agg: this.o.aggregation.add(
          record.key,
          record.value,
          source ? this.decodeAgg(source.agg) : undefined,
        ),
      });
    }
    const after = times.filter((r) => r > t && r <= t + 1 + d);
    if (!starts.has(t + 1) && after.length > 0) {
      const source = sourceOf(after);
      created.push({ start: t + 1, min: source.min, max: source.max, agg: this.decodeAgg(source.agg) });
    }
    const earlier = times.filter((r) => r < t);
    const previous = earlier.length > 0 ? Math.max(...earlier) : undefined;
    if (previous !== undefined && previous >= t - d && !starts.has(previous + 1)) {
      created.push({
        start: previous + 1,
        min: t,
        max: t,
        agg: this.o.aggregation.add(record.key, record.value, undefined),
      });
    }

    for (const w of existing) {
      if (w.start > t || w.start + d < t) continue;
      const agg = this.o.aggregation.add(record.key, record.value, this.decodeAgg(w.agg));
      this.put(kb, record, { start: w.start, min: Math.min(w.min, t), max: Math.max(w.max, t), agg });
    }
    for (const w of created) this.put(kb, record, w);
  }

  private put(
    kb: Buffer,
    record: StreamRecord<K, V>,
    w: { start: number; min: number; max: number; agg: VA },
  ): void {
    this.store.put(
      kb,
      w.start,
      encodeSliding({ emitted: false, min: w.min, max: w.max, agg: this.aggBytes(w.agg) }),
    );
    this.forwardUpdate(
      { key: record.key, start: w.start, end: w.start + this.d },
      w.agg,
      record.timestamp,
      record.headers,
    );
  }

  /** Closed windows: end + grace < stream time. */
  private closing(): [Buffer, number, Buffer][] {
    return this.entriesBefore(this.streamTime - this.d - this.windows.graceMs).map(([k, s, v]) => [
      k,
      s,
      decodeSliding(v).agg,
    ]);
  }

  private closeWindows(): void {
    if (this.emitsFinals) {
      for (const [kb, start, bytes] of this.entriesBefore(this.streamTime - this.d - this.windows.graceMs)) {
        const w = decodeSliding(bytes);
        if (w.emitted) continue;
        const end = start + this.d;
        this.forwardFinal({ key: this.decodeKey(kb), start, end }, this.decodeAgg(w.agg), end);
        this.store.put(kb, start, encodeSliding({ ...w, emitted: true }));
      }
    }
    // No record admitted from now on (t >= stream time - grace) can use these as a source.
    for (const [kb, start] of this.entriesBefore(this.streamTime - this.windows.graceMs - 2 * this.d)) {
      this.store.delete(kb, start);
    }
  }
}

export function slidingWindowAggregateProcessor<K, V, VA>(
  o: WindowedAggregationOptions<K, V, VA>,
  windows: SlidingWindows,
): ProcessorSupplier<K, V, Windowed<K>, VA | null> {
  return () => new SlidingWindowAggregateProcessor(o, windows);
}

export function slidingWindowGetter<K, VA>(
  store: string,
  keySerde: Serde<K>,
  aggSerde: Serde<VA>,
): ValueGetterSupplier<Windowed<K>, VA> {
  return {
    stores: [store],
    init(ctx) {
      const ws = ctx.windowStore(store);
      const topic = ctx.storeTopic(store);
      const aggOf = (w: Windowed<K>) => {
        const kb = keySerde.serialize(w.key, topic);
        const bytes = kb === null ? undefined : ws.get(kb, w.start);
        return bytes === undefined ? undefined : decodeSliding(bytes).agg;
      };
      return {
        prepare: (w) => prepareAll([[aggSerde as Serde<unknown>, aggOf(w)]], topic),
        get: (w) => {
          const agg = aggOf(w);
          return agg === undefined ? null : aggSerde.deserialize(agg, topic);
        },
      };
    },
  };
}

import type { ProcessorSupplier, Serde, StreamRecord } from '../contracts.js';
import { prepareAll, runPrepared } from '../internalContext.js';
import { decodeSession, encodeSession } from '../storeCodec.js';
import type { ValueGetterSupplier } from '../valueGetter.js';
import type { SessionWindows, Windowed } from '../windows.js';
import { acceptKeyValue } from './aggregation.js';
import { WindowedAggregateProcessor, type WindowedAggregationOptions } from './windowedAggregate.js';

/**
 * Session window aggregation. A record within the inactivity gap of existing sessions merges
 * them into one [first, last] session: the merged-away sessions are forwarded as tombstones,
 * then the new session. A record is late when t + grace < stream time; a session closes when
 * no admissible record can reach it any more (end + gap + grace < stream time), is emitted if
 * suppressed, and is removed. Sessions live in the window store under their start, with their
 * end in front of the aggregate.
 */
class SessionWindowAggregateProcessor<K, V, VA> extends WindowedAggregateProcessor<K, V, VA> {
  constructor(
    o: WindowedAggregationOptions<K, V, VA>,
    private readonly windows: SessionWindows,
  ) {
    super(o);
  }

  process(record: StreamRecord<K, V>): void | Promise<void> {
    if (!acceptKeyValue(this.ctx, record)) return;
    const t = record.timestamp;
    this.streamTime = Math.max(this.streamTime, t);
    if (this.windows.isLate(t, this.streamTime)) {
      this.rejectLate(record, [{ start: t, end: t }], this.windows.graceMs);
      return;
    }
    const kb = this.keyBytes(record.key);
    return runPrepared(
      this.ctx,
      () =>
        prepareAll(
          [
            ...this.overlapping(kb, t).map((s) => [this.aggSerde(), s.agg] as const),
            ...this.closing().flatMap(([k, , v]) => [
              [this.keySerde(), k] as const,
              [this.aggSerde(), v] as const,
            ]),
          ],
          this.topic,
        ),
      () => {
        this.merge(record, kb);
        this.closeWindows();
      },
    );
  }

  private overlapping(kb: Buffer, t: number): { start: number; end: number; agg: Buffer }[] {
    const gap = this.windows.inactivityGapMs;
    return [...this.store.fetch(kb, 0, t + gap)]
      .map(([start, bytes]) => ({ start, ...decodeSession(bytes) }))
      .filter((s) => this.windows.merges(s, t));
  }

  private merge(record: StreamRecord<K, V>, kb: Buffer): void {
    const t = record.timestamp;
    const sessions = this.overlapping(kb, t);
    let start = t;
    let end = t;
    let agg: VA | undefined;
    for (const s of sessions) {
      start = Math.min(start, s.start);
      end = Math.max(end, s.end);
      const value = this.decodeAgg(s.agg);
      agg = agg === undefined ? value : this.o.aggregation.merge(record.key, agg, value);
    }
    agg = this.o.aggregation.add(record.key, record.value, agg);
    for (const s of sessions) {
      if (s.start === start && s.end === end) continue;
      if (s.start !== start) this.store.delete(kb, s.start);
      this.forwardUpdate({ key: record.key, start: s.start, end: s.end }, null, t, record.headers);
    }
    this.store.put(kb, start, encodeSession({ end, agg: this.aggBytes(agg) }));
    this.forwardUpdate({ key: record.key, start, end }, agg, t, record.headers);
  }

  /** Closed sessions: end + gap + grace < stream time (the start is at most the end). */
  private closing(): [Buffer, number, Buffer][] {
    const { inactivityGapMs: gap, graceMs: grace } = this.windows;
    return this.entriesBefore(this.streamTime - gap - grace)
      .map(([k, start, v]) => [k, start, decodeSession(v)] as const)
      .filter(([, , s]) => s.end + gap + grace < this.streamTime)
      .map(([k, start, s]) => [k, start, s.agg]);
  }

  private closeWindows(): void {
    const { inactivityGapMs: gap, graceMs: grace } = this.windows;
    for (const [kb, start, bytes] of this.entriesBefore(this.streamTime - gap - grace)) {
      const s = decodeSession(bytes);
      if (s.end + gap + grace >= this.streamTime) continue;
      if (this.emitsFinals)
        this.forwardFinal({ key: this.decodeKey(kb), start, end: s.end }, this.decodeAgg(s.agg), s.end);
      this.store.delete(kb, start);
    }
  }
}

export function sessionWindowAggregateProcessor<K, V, VA>(
  o: WindowedAggregationOptions<K, V, VA>,
  windows: SessionWindows,
): ProcessorSupplier<K, V, Windowed<K>, VA | null> {
  return () => new SessionWindowAggregateProcessor(o, windows);
}

/** Reads a session's aggregate by windowed key (start and end must both match). */
export function sessionGetter<K, VA>(
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
        if (bytes === undefined) return undefined;
        const s = decodeSession(bytes);
        return s.end === w.end ? s.agg : undefined;
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

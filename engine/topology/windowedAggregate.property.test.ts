import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  Serdes,
  SessionWindows,
  SlidingWindows,
  StreamsBuilder,
  TimeWindows,
  TopologyTestDriver,
  type WindowedKTable,
} from './index.js';
import type { KStream } from './kstream.js';

/*
 * Windowed aggregations over random, partly out-of-order streams, compared with a batch
 * computation of the same events. Lateness as defined here (see windows.ts):
 *   time windows: a record counts in each of its windows with end + grace > stream time at its
 *                 arrival; it is reported late if any of its windows had closed;
 *   sliding windows and sessions: a record is accepted iff t + grace >= stream time at arrival.
 * Stream time at arrival includes the record itself.
 */

const str = Serdes.string();
const int = Serdes.int64();
const wkey = Serdes.windowed(str);

interface Rec {
  key: string;
  t: number;
  v: number;
}

/** Mostly increasing timestamps, some records pulled back in time (out of order, some beyond grace). */
const records = fc
  .array(
    fc.record({
      key: fc.constantFrom('a', 'b', 'c'),
      step: fc.integer({ min: 0, max: 12 }),
      back: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 60 })),
      v: fc.integer({ min: 1, max: 9 }),
    }),
    { maxLength: 70 },
  )
  .map((rs) => {
    let base = 0;
    return rs.map(({ key, step, back, v }) => {
      base += step;
      return { key, t: Math.max(0, base - back), v };
    });
  });

const streamTimes = (rs: Rec[]) => {
  let st = -1;
  return rs.map((r) => (st = Math.max(st, r.t)));
};

type Agg = { count: number; sum: number };
type Table = Map<string, Agg>;
const id = (key: string, start: number, end: number) => `${key}[${start},${end}]`;

function add(table: Table, key: string, v: number) {
  const agg = table.get(key) ?? { count: 0, sum: 0 };
  table.set(key, { count: agg.count + 1, sum: agg.sum + v });
}

/** Runs count and sum, with and without suppression, and reads what came out. */
async function run(
  rs: Rec[],
  windowed: (s: KStream<string, number>) => {
    count: WindowedKTable<string, number, null | never>;
    sum: WindowedKTable<string, number, null | never>;
  },
) {
  const b = new StreamsBuilder();
  const { count, sum } = windowed(b.stream('in', { key: str, value: int }));
  count.toStream().to('count', { key: wkey, value: int });
  sum.toStream().to('sum', { key: wkey, value: int });
  count.suppress('untilWindowCloses').toStream().to('count-final', { key: wkey, value: int });
  sum.suppress('untilWindowCloses').toStream().to('sum-final', { key: wkey, value: int });
  const driver = new TopologyTestDriver(b.build());
  const input = driver.createInputTopic('in', str, int);
  for (const r of rs) await input.pipeInput(r.key, r.v, r.t);
  const read = (topic: string) =>
    driver
      .createOutputTopic(topic, wkey, int)
      .readKeyValuesToList()
      .map((r) => [id(r.key.key, r.key.start, r.key.end), r.value] as const);
  /** The table an update stream describes (null deletes). */
  const table = (updates: (readonly [string, number | null])[]) => {
    const t = new Map<string, number>();
    for (const [k, v] of updates) {
      if (v === null) t.delete(k);
      else t.set(k, v);
    }
    return t;
  };
  const finals = (topic: string) => {
    const list = read(topic);
    assert.equal(new Set(list.map(([k]) => k)).size, list.length, `${topic}: a window was emitted twice`);
    return new Map(list);
  };
  return {
    count: table(read('count')),
    sum: table(read('sum')),
    countFinal: finals('count-final'),
    sumFinal: finals('sum-final'),
    late: driver.deadLetters.filter((d) => d.kind === 'late').map((d) => Number(d.position!.offset)),
    others: driver.deadLetters.filter((d) => d.kind !== 'late'),
  };
}

function check(
  out: Awaited<ReturnType<typeof run>>,
  expected: Table,
  closed: (window: string) => boolean,
  lateOffsets: number[],
) {
  const pick = (f: keyof Agg, only: (k: string) => boolean = () => true) =>
    new Map([...expected].filter(([k]) => only(k)).map(([k, a]) => [k, a[f]]));
  assert.deepEqual(out.count, pick('count'));
  assert.deepEqual(out.sum, pick('sum'));
  assert.deepEqual(out.countFinal, pick('count', closed));
  assert.deepEqual(out.sumFinal, pick('sum', closed));
  // Each late record is reported by both aggregations.
  assert.deepEqual(
    out.late,
    lateOffsets.flatMap((o) => [o, o]),
  );
  assert.deepEqual(out.others, []);
}

describe('windowed aggregations equal a batch computation (property)', () => {
  it('tumbling and hopping windows', async () => {
    await fc.assert(
      fc.asyncProperty(
        records,
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 30 }),
        fc.boolean(),
        async (rs, size, advanceRaw, grace, tumbling) => {
          const advance = tumbling ? size : Math.min(size, advanceRaw);
          const windows = TimeWindows.ofSize(size).advanceBy(advance).grace(grace);
          const out = await run(rs, (s) => {
            const w = s.groupByKey().windowedBy(windows);
            return {
              count: w.count({ store: 'c' }),
              sum: w.aggregate(
                () => 0,
                (_k, v, a) => a + v,
                { store: 's', value: int },
              ),
            };
          });
          const sts = streamTimes(rs);
          const expected: Table = new Map();
          const ends = new Map<string, number>();
          const late: number[] = [];
          rs.forEach((r, i) => {
            let dropped = false;
            for (let start = 0; start <= r.t; start += advance) {
              if (r.t >= start + size) continue;
              if (start + size + grace <= sts[i]!) {
                dropped = true;
                continue;
              }
              const k = id(r.key, start, start + size);
              add(expected, k, r.v);
              ends.set(k, start + size);
            }
            if (dropped) late.push(i);
          });
          const finalSt = sts[sts.length - 1] ?? -1;
          check(out, expected, (k) => ends.get(k)! + grace <= finalSt, late);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('sliding windows', async () => {
    await fc.assert(
      fc.asyncProperty(
        records,
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 30 }),
        async (rs, d, grace) => {
          const windows = SlidingWindows.ofTimeDifference(d).grace(grace);
          const out = await run(rs, (s) => {
            const w = s.groupByKey().windowedBy(windows);
            return {
              count: w.count({ store: 'c' }),
              sum: w.aggregate(
                () => 0,
                (_k, v, a) => a + v,
                { store: 's', value: int },
              ),
            };
          });
          const sts = streamTimes(rs);
          const accepted = rs.filter((r, i) => r.t + grace >= sts[i]!);
          const late = rs.flatMap((r, i) => (r.t + grace >= sts[i]! ? [] : [i]));
          const expected: Table = new Map();
          const ends = new Map<string, number>();
          for (const key of ['a', 'b', 'c']) {
            const mine = accepted.filter((r) => r.key === key);
            const starts = new Set<number>();
            for (const r of mine) {
              starts.add(r.t - d);
              if (mine.some((u) => u.t > r.t && u.t <= r.t + 1 + d)) starts.add(r.t + 1);
            }
            for (const start of starts) {
              const k = id(key, start, start + d);
              ends.set(k, start + d);
              for (const r of mine) if (r.t >= start && r.t <= start + d) add(expected, k, r.v);
            }
          }
          const finalSt = sts[sts.length - 1] ?? -1;
          check(out, expected, (k) => ends.get(k)! + grace < finalSt, late);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('session windows', async () => {
    await fc.assert(
      fc.asyncProperty(
        records,
        fc.integer({ min: 1, max: 25 }),
        fc.integer({ min: 0, max: 30 }),
        async (rs, gap, grace) => {
          const windows = SessionWindows.withInactivityGap(gap).grace(grace);
          const out = await run(rs, (s) => {
            const w = s.groupByKey().windowedBy(windows);
            return {
              count: w.count({ store: 'c' }),
              sum: w.aggregate(
                () => 0,
                (_k, v, a) => a + v,
                (_k, a, c) => a + c,
                { store: 's', value: int },
              ),
            };
          });
          const sts = streamTimes(rs);
          const accepted = rs.filter((r, i) => r.t + grace >= sts[i]!);
          const late = rs.flatMap((r, i) => (r.t + grace >= sts[i]! ? [] : [i]));
          const expected: Table = new Map();
          const ends = new Map<string, number>();
          for (const key of ['a', 'b', 'c']) {
            const mine = accepted.filter((r) => r.key === key).sort((x, y) => x.t - y.t);
            let session: Rec[] = [];
            const close = () => {
              if (session.length === 0) return;
              const k = id(key, session[0]!.t, session[session.length - 1]!.t);
              ends.set(k, session[session.length - 1]!.t);
              for (const r of session) add(expected, k, r.v);
            };
            for (const r of mine) {
              if (session.length > 0 && r.t - session[session.length - 1]!.t > gap) {
                close();
                session = [];
              }
              session.push(r);
            }
            close();
          }
          const finalSt = sts[sts.length - 1] ?? -1;
          check(out, expected, (k) => ends.get(k)! + gap + grace < finalSt, late);
        },
      ),
      { numRuns: 150 },
    );
  });
});

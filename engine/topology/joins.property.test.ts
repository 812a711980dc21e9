import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { JoinWindows, Serdes, StreamsBuilder, TopologyTestDriver } from './index.js';

/*
 * Joins over random streams, compared with a batch computation of the same events.
 * Stream-stream (windows d, grace g; stream time = largest timestamp of either side so far,
 * the arriving record included): a record is accepted iff t + g >= stream time; accepted
 * records of the two sides with the same key and |t1 - t2| <= d join; a left (outer) join
 * also emits each accepted left (and right) record that joined nothing, once
 * t + d + g < final stream time.
 * Stream-table: each stream record sees the table as of its arrival.
 */

const str = Serdes.string();
const show = (v: string | null) => v ?? 'null';

interface Rec {
  side: 'L' | 'R';
  key: string;
  t: number;
  v: string;
}

const streams = fc
  .array(
    fc.record({
      side: fc.constantFrom<'L' | 'R'>('L', 'R'),
      key: fc.constantFrom('a', 'b'),
      step: fc.integer({ min: 0, max: 10 }),
      back: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 })),
    }),
    { maxLength: 60 },
  )
  .map((rs) => {
    let base = 0;
    return rs.map(({ side, key, step, back }, i): Rec => {
      base += step;
      return { side, key, t: Math.max(0, base - back), v: `${side}${i}` };
    });
  });

describe('joins equal a batch computation (property)', () => {
  it('stream-stream inner, left and outer joins', async () => {
    await fc.assert(
      fc.asyncProperty(
        streams,
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 25 }),
        async (rs, d, grace) => {
          const b = new StreamsBuilder();
          const left = b.stream('left', { key: str, value: str });
          const right = b.stream('right', { key: str, value: str });
          const windows = JoinWindows.ofTimeDifference(d).grace(grace);
          const joiner = (l: string | null, r: string | null) => `${show(l)}+${show(r)}`;
          left
            .join(right, joiner, windows, { thisStore: 'il', otherStore: 'ir' })
            .to('inner', { value: str });
          left
            .leftJoin(right, joiner, windows, { thisStore: 'll', otherStore: 'lr' })
            .to('left-out', { value: str });
          left
            .outerJoin(right, joiner, windows, { thisStore: 'ol', otherStore: 'or' })
            .to('outer', { value: str });
          const driver = new TopologyTestDriver(b.build());
          const inputs = {
            L: driver.createInputTopic('left', str, str),
            R: driver.createInputTopic('right', str, str),
          };
          for (const r of rs) await inputs[r.side].pipeInput(r.key, r.v, r.t);
          const read = (topic: string) =>
            driver
              .createOutputTopic(topic, str, str)
              .readRecordsToList()
              .map((r) => `${r.key}:${r.value}@${r.timestamp}`)
              .sort();

          let st = -1;
          const accepted: Rec[] = [];
          const late: string[] = [];
          for (const r of rs) {
            st = Math.max(st, r.t);
            if (r.t + grace >= st) accepted.push(r);
            else late.push(r.v);
          }
          const ls = accepted.filter((r) => r.side === 'L');
          const rights = accepted.filter((r) => r.side === 'R');
          const matches = (l: Rec, r: Rec) => l.key === r.key && Math.abs(l.t - r.t) <= d;
          const inner = ls.flatMap((l) =>
            rights.filter((r) => matches(l, r)).map((r) => `${l.key}:${l.v}+${r.v}@${Math.max(l.t, r.t)}`),
          );
          const closed = (r: Rec) => r.t + d + grace < st;
          const leftOnly = ls
            .filter((l) => closed(l) && !rights.some((r) => matches(l, r)))
            .map((l) => `${l.key}:${l.v}+null@${l.t}`);
          const rightOnly = rights
            .filter((r) => closed(r) && !ls.some((l) => matches(l, r)))
            .map((r) => `${r.key}:null+${r.v}@${r.t}`);

          assert.deepEqual(read('inner'), [...inner].sort());
          assert.deepEqual(read('left-out'), [...inner, ...leftOnly].sort());
          assert.deepEqual(read('outer'), [...inner, ...leftOnly, ...rightOnly].sort());
          const lateSeen = driver.deadLetters.map((dl) => {
            assert.equal(dl.kind, 'late');
            return dl.raw!.value!.toString();
          });
          assert.deepEqual(
            lateSeen,
            late.flatMap((v) => [v, v, v]),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('stream-table inner and left joins', async () => {
    const op = fc.oneof(
      fc.record({
        table: fc.constantFrom('a', 'b', 'c'),
        value: fc.option(fc.string({ maxLength: 3 }), { nil: null }),
      }),
      fc.record({ stream: fc.constantFrom('a', 'b', 'c', 'd'), value: fc.string({ maxLength: 3 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const b = new StreamsBuilder();
        const table = b.table('table', { key: str, value: str, store: 't' });
        const stream = b.stream('stream', { key: str, value: str });
        stream.join(table, (v, t) => `${v}|${t}`).to('inner', { value: str });
        stream.leftJoin(table, (v, t) => `${v}|${show(t)}`).to('left', { value: str });
        const driver = new TopologyTestDriver(b.build());
        const streamIn = driver.createInputTopic('stream', str, str);
        const model = new Map<string, string>();
        const inner: string[] = [];
        const left: string[] = [];
        let t = 0;
        for (const o of ops) {
          t++;
          if ('table' in o) {
            await driver.pipeRaw('table', {
              key: Buffer.from(o.table),
              value: o.value === null ? null : Buffer.from(o.value),
              timestamp: t,
              headers: {},
            });
            if (o.value === null) model.delete(o.table);
            else model.set(o.table, o.value);
          } else {
            await streamIn.pipeInput(o.stream, o.value, t);
            const current = model.get(o.stream);
            if (current !== undefined) inner.push(`${o.stream}:${o.value}|${current}`);
            left.push(`${o.stream}:${o.value}|${current ?? 'null'}`);
          }
        }
        const read = (topic: string) =>
          driver
            .createOutputTopic(topic, str, str)
            .readKeyValuesToList()
            .map((r) => `${r.key}:${r.value}`);
        assert.deepEqual(read('inner'), inner);
        assert.deepEqual(read('left'), left);
        assert.deepEqual(driver.deadLetters, []);
      }),
      { numRuns: 200 },
    );
  });
});

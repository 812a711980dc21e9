import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Serdes,
  SessionWindows,
  SlidingWindows,
  StreamsBuilder,
  TimeWindows,
  TopologyTestDriver,
  type Windowed,
} from './index.js';
import type { KStream } from './kstream.js';

const str = Serdes.string();
const int = Serdes.int64();
const wkey = Serdes.windowed(str);

function setup(build: (s: KStream<string, number>) => void) {
  const b = new StreamsBuilder();
  build(b.stream('in', { key: str, value: int }));
  const driver = new TopologyTestDriver(b.build());
  const input = driver.createInputTopic('in', str, int);
  const out = driver.createOutputTopic('out', wkey, int);
  const pipe = async (...records: [string, number][]) => {
    for (const [key, t] of records) await input.pipeInput(key, 1, t);
  };
  const read = () =>
    out.readRecordsToList().map((r) => [`${r.key.key}[${r.key.start},${r.key.end}]`, r.value]);
  const readWithTime = () =>
    out.readRecordsToList().map((r) => [`${r.key.key}[${r.key.start},${r.key.end}]`, r.value, r.timestamp]);
  return { driver, input, pipe, read, readWithTime };
}

describe('grouped aggregations', () => {
  it('count, reduce and aggregate keep a running value per key in their stores', async () => {
    const b = new StreamsBuilder();
    const grouped = b.stream('in', { key: str, value: int }).groupByKey();
    grouped.count({ store: 'count' }).toStream().to('count', { value: int });
    grouped
      .reduce((a, v) => Math.max(a, v), { store: 'max' })
      .toStream()
      .to('max', { value: int });
    grouped
      .aggregate(
        () => ({ sum: 0, n: 0 }),
        (_k, v, agg) => ({ sum: agg.sum + v, n: agg.n + 1 }),
        { store: 'avg', value: Serdes.json<{ sum: number; n: number }>() },
      )
      .mapValues((a) => a.sum / a.n)
      .toStream()
      .to('avg', { value: Serdes.float64() });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', str, int);
    for (const [k, v] of [
      ['x', 4],
      ['y', 10],
      ['x', 2],
      ['x', 9],
    ] as const) {
      await input.pipeInput(k, v);
    }
    assert.deepEqual(driver.createOutputTopic('count', str, int).readKeyValuesToList(), [
      { key: 'x', value: 1 },
      { key: 'y', value: 1 },
      { key: 'x', value: 2 },
      { key: 'x', value: 3 },
    ]);
    assert.deepEqual(driver.createOutputTopic('max', str, int).readValuesToList(), [4, 10, 4, 9]);
    assert.deepEqual(
      driver.createOutputTopic('avg', str, Serdes.float64()).readValuesToList(),
      [4, 10, 3, 5],
    );
    assert.deepEqual(
      [...driver.getKeyValueStore('avg').range()].map(([k, v]) => [k.toString(), v.toString()]),
      [
        ['x', '{"sum":15,"n":3}'],
        ['y', '{"sum":10,"n":1}'],
      ],
    );
  });

  it('rejects records with a null key or value as invalid', async () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: str, value: Serdes.json<number | null>() })
      .groupByKey()
      .count({ store: 'c' })
      .toStream()
      .to('out', { value: int });
    const driver = new TopologyTestDriver(b.build());
    await driver.pipeRaw('in', { key: null, value: Buffer.from('1'), timestamp: 0, headers: {} });
    await driver.pipeRaw('in', { key: Buffer.from('k'), value: null, timestamp: 0, headers: {} });
    await driver.pipeRaw('in', { key: Buffer.from('k'), value: Buffer.from('1'), timestamp: 0, headers: {} });
    assert.deepEqual(
      driver.deadLetters.map((d) => [d.kind, d.position?.offset]),
      [
        ['invalid', '0'],
        ['invalid', '1'],
      ],
    );
    assert.deepEqual(driver.createOutputTopic('out', str, int).readKeyValuesToList(), [
      { key: 'k', value: 1 },
    ]);
  });
});

describe('tumbling and hopping windows', () => {
  it('emits every update, rejects records whose window closed, and expires closed windows', async () => {
    const { driver, pipe, read } = setup((s) =>
      s
        .groupByKey()
        .windowedBy(TimeWindows.ofSize(10).grace(5))
        .count({ store: 'w' })
        .toStream()
        .to('out', { key: wkey, value: int }),
    );
    await pipe(['a', 1], ['a', 5], ['b', 12], ['a', 14], ['a', 8], ['a', 21], ['a', 3], ['b', 19]);
    assert.deepEqual(read(), [
      ['a[0,10]', 1],
      ['a[0,10]', 2],
      ['b[10,20]', 1],
      ['a[10,20]', 1],
      ['a[0,10]', 3],
      ['a[20,30]', 1],
      ['b[10,20]', 2],
    ]);
    assert.equal(driver.deadLetters.length, 1);
    const late = driver.deadLetters[0]!;
    assert.equal(late.kind, 'late');
    assert.equal(late.position?.offset, '6');
    assert.match(
      late.error.message,
      /record at 3 is too late for window\(s\) \[0,10\] \(stream time 21, grace 5 ms\)/,
    );
    const store = driver.getWindowStore('w');
    assert.deepEqual(
      [...store.expiredBefore(100)].map(([k, start, v]) => [k.toString(), start, int.deserialize(v, '')]),
      [
        ['a', 10, 1],
        ['b', 10, 2],
        ['a', 20, 1],
      ],
    );
  });

  it('counts a hopping-window record in its open windows and reports the closed ones', async () => {
    const { driver, pipe, read } = setup((s) =>
      s
        .groupByKey()
        .windowedBy(TimeWindows.ofSize(10).advanceBy(5))
        .count({ store: 'w' })
        .toStream()
        .to('out', { key: wkey, value: int }),
    );
    await pipe(['k', 12], ['k', 16], ['k', 9], ['k', 14]);
    assert.deepEqual(read(), [
      ['k[5,15]', 1],
      ['k[10,20]', 1],
      ['k[10,20]', 2],
      ['k[15,25]', 1],
      ['k[10,20]', 3],
    ]);
    assert.deepEqual(
      driver.deadLetters.map((d) => [d.kind, /window\(s\) (.*) \(stream/.exec(d.error.message)?.[1]]),
      [
        ['late', '[0,10], [5,15]'],
        ['late', '[5,15]'],
      ],
    );
  });

  it('with suppress emits each window once, its final value, when stream time passes end + grace', async () => {
    const { driver, pipe, readWithTime } = setup((s) =>
      s
        .groupByKey()
        .windowedBy(TimeWindows.ofSize(10).grace(5))
        .count({ store: 'w' })
        .suppress('untilWindowCloses')
        .toStream()
        .to('out', { key: wkey, value: int }),
    );
    await pipe(['a', 1], ['a', 5], ['b', 12], ['a', 14], ['a', 8]);
    assert.deepEqual(readWithTime(), []);
    await pipe(['a', 21]);
    assert.deepEqual(readWithTime(), [['a[0,10]', 3, 9]]);
    await pipe(['a', 3], ['b', 19], ['x', 40]);
    assert.deepEqual(readWithTime(), [
      ['a[10,20]', 1, 19],
      ['b[10,20]', 2, 19],
      ['a[20,30]', 1, 29],
    ]);
    assert.deepEqual(
      [...driver.getWindowStore('w').expiredBefore(1000)].map(([k, start]) => [k.toString(), start]),
      [['x', 40]],
    );
    assert.equal(driver.deadLetters.length, 1);
  });
});

describe('sliding windows', () => {
  it('creates the left and right windows of KIP-450, also for out-of-order records', async () => {
    const { driver, pipe, read } = setup((s) =>
      s
        .groupByKey()
        .windowedBy(SlidingWindows.ofTimeDifference(10).grace(100))
        .count({ store: 'w' })
        .toStream()
        .to('out', { key: wkey, value: int }),
    );
    await pipe(['a', 100], ['a', 105], ['a', 118]);
    assert.deepEqual(read(), [
      ['a[90,100]', 1],
      ['a[95,105]', 2],
      ['a[101,111]', 1],
      ['a[108,118]', 1],
    ]);
    await pipe(['a', 103]);
    assert.deepEqual(read(), [
      ['a[95,105]', 3],
      ['a[101,111]', 2],
      ['a[93,103]', 2],
      ['a[104,114]', 1],
    ]);
    await pipe(['a', 5]);
    assert.deepEqual(read(), []);
    assert.deepEqual(
      driver.deadLetters.map((d) => d.kind),
      ['late'],
    );
    assert.deepEqual(SlidingWindows.ofTimeDifference(10).windowsFor([100, 103, 105, 118]), [
      { start: 90, end: 100 },
      { start: 93, end: 103 },
      { start: 95, end: 105 },
      { start: 101, end: 111 },
      { start: 104, end: 114 },
      { start: 108, end: 118 },
    ]);
  });

  it('with suppress emits a window when end + grace < stream time', async () => {
    const { pipe, readWithTime } = setup((s) =>
      s
        .groupByKey()
        .windowedBy(SlidingWindows.ofTimeDifference(10).grace(2))
        .count({ store: 'w' })
        .suppress('untilWindowCloses')
        .toStream()
        .to('out', { key: wkey, value: int }),
    );
    await pipe(['a', 100], ['a', 105], ['a', 112]);
    // At stream time 112 the windows ending before 110 have closed.
    assert.deepEqual(readWithTime(), [
      ['a[90,100]', 1, 100],
      ['a[95,105]', 2, 105],
    ]);
    await pipe(['a', 113]);
    assert.deepEqual(readWithTime(), []);
    await pipe(['z', 200]);
    assert.deepEqual(readWithTime(), [
      ['a[101,111]', 1, 111],
      ['a[102,112]', 2, 112],
      ['a[103,113]', 3, 113],
      ['a[106,116]', 2, 116],
      ['a[113,123]', 1, 123],
    ]);
  });
});

describe('session windows', () => {
  it('merges sessions, forwarding tombstones for the sessions merged away', async () => {
    const { driver, pipe, read } = setup((s) =>
      s
        .groupByKey()
        .windowedBy(SessionWindows.withInactivityGap(10).grace(20))
        .count({ store: 's' })
        .toStream()
        .to('out', { key: wkey, value: int }),
    );
    await pipe(['a', 0], ['a', 5], ['a', 30], ['a', 18], ['a', 24], ['a', 60], ['a', 1], ['b', 61]);
    assert.deepEqual(read(), [
      ['a[0,0]', 1],
      ['a[0,0]', null],
      ['a[0,5]', 2],
      ['a[30,30]', 1],
      ['a[18,18]', 1],
      ['a[18,18]', null],
      ['a[30,30]', null],
      ['a[18,30]', 3],
      ['a[60,60]', 1],
      ['b[61,61]', 1],
    ]);
    assert.deepEqual(
      driver.deadLetters.map((d) => [d.kind, d.position?.offset]),
      [['late', '6']],
    );
  });

  it('with suppress emits each session once it can no longer grow (end + gap + grace < stream time)', async () => {
    const { driver, pipe, readWithTime } = setup((s) =>
      s
        .groupByKey()
        .windowedBy(SessionWindows.withInactivityGap(10).grace(20))
        .reduce((a, v) => a + v, { store: 's' })
        .suppress('untilWindowCloses')
        .toStream()
        .to('out', { key: wkey, value: int }),
    );
    await pipe(['a', 0], ['a', 5], ['a', 30], ['a', 18], ['a', 24]);
    assert.deepEqual(readWithTime(), []);
    await pipe(['a', 60]);
    assert.deepEqual(readWithTime(), [['a[0,5]', 2, 5]]);
    await pipe(['b', 61]);
    assert.deepEqual(readWithTime(), [['a[18,30]', 3, 30]]);
    const store = driver.getWindowStore('s');
    assert.deepEqual(
      [...store.expiredBefore(1000)].map(([k, start]) => [k.toString(), start]),
      [
        ['a', 60],
        ['b', 61],
      ],
    );
  });
});

describe('windowed key serde', () => {
  it('round-trips key, start and end', () => {
    const w: Windowed<string> = { key: 'device-7', start: 1_700_000_000_000, end: 1_700_000_060_000 };
    const bytes = wkey.serialize(w, 't')!;
    assert.equal(bytes.length, 'device-7'.length + 16);
    assert.deepEqual(wkey.deserialize(bytes, 't'), w);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JoinWindows, Serdes, StreamsBuilder, TopologyTestDriver } from './index.js';

const str = Serdes.string();
const show = (v: string | null) => v ?? 'null';

describe('stream-table joins', () => {
  it('look the table up as it is when the stream record arrives (inner drops misses, left passes null)', async () => {
    const b = new StreamsBuilder();
    const users = b.table('users', { key: str, value: str, store: 'users' });
    const clicks = b.stream('clicks', { key: str, value: str });
    clicks.join(users, (c, u) => `${c}/${u}`).to('inner', { value: str });
    clicks.leftJoin(users, (c, u) => `${c}/${show(u)}`).to('left', { value: str });
    const driver = new TopologyTestDriver(b.build());
    const click = driver.createInputTopic('clicks', str, str);
    const user = driver.createInputTopic('users', str, str);
    await click.pipeInput('k1', 'c1', 1);
    await user.pipeInput('k1', 'alice', 2);
    await click.pipeInput('k1', 'c2', 3);
    await user.pipeInput('k1', 'alicia', 4);
    await click.pipeInput('k1', 'c3', 0); // an old timestamp still sees the current table
    await driver.pipeRaw('users', { key: Buffer.from('k1'), value: null, timestamp: 6, headers: {} });
    await click.pipeInput('k1', 'c4', 7);
    await click.pipeInput('k2', 'c5', 8);
    assert.deepEqual(
      driver
        .createOutputTopic('inner', str, str)
        .readRecordsToList()
        .map((r) => [r.key, r.value, r.timestamp]),
      [
        ['k1', 'c2/alice', 3],
        ['k1', 'c3/alicia', 0],
      ],
    );
    assert.deepEqual(driver.createOutputTopic('left', str, str).readValuesToList(), [
      'c1/null',
      'c2/alice',
      'c3/alicia',
      'c4/null',
      'c5/null',
    ]);
    assert.equal(driver.getKeyValueStore('users').get(Buffer.from('k1')), undefined);
    assert.deepEqual(
      driver.changelog('users').map((c) => [c.key.toString(), c.value?.toString() ?? null]),
      [
        ['k1', 'alice'],
        ['k1', 'alicia'],
        ['k1', null],
      ],
    );
  });
});

describe('table views', () => {
  it('a stream joins through unmaterialised filter and mapValues views of a table', async () => {
    const b = new StreamsBuilder();
    const doubled = b
      .table('prices', { key: str, value: Serdes.int64(), store: 'prices' })
      .filter((_k, v) => v > 0)
      .mapValues((v) => v * 2);
    b.stream('orders', { key: str, value: str })
      .leftJoin(doubled, (o, p) => `${o}:${p ?? 'none'}`)
      .to('out', { value: str });
    const t = b.build();
    assert.match(t.describe(), /Processor: KSTREAM-LEFTJOIN-0000000005 \(stores: \[prices\]\)/);
    const driver = new TopologyTestDriver(t);
    const prices = driver.createInputTopic('prices', str, Serdes.int64());
    const orders = driver.createInputTopic('orders', str, str);
    await prices.pipeInput('x', 5);
    await orders.pipeInput('x', 'o1');
    await prices.pipeInput('x', -1);
    await orders.pipeInput('x', 'o2');
    await orders.pipeInput('y', 'o3');
    assert.deepEqual(driver.createOutputTopic('out', str, str).readValuesToList(), [
      'o1:10',
      'o2:none',
      'o3:none',
    ]);
  });
});

describe('table-table joins', () => {
  it('emit the joined row on updates of either side, and deletions', async () => {
    const b = new StreamsBuilder();
    const left = b.table('a', { key: str, value: str, store: 'a' });
    const right = b.table('b', { key: str, value: str, store: 'b' });
    left
      .join(right, (x, y) => `${x}+${y}`, { store: 'ab', value: str })
      .toStream()
      .to('inner', { value: str });
    left
      .leftJoin(right, (x, y) => `${x}+${show(y)}`)
      .toStream()
      .to('left', { value: str });
    left
      .outerJoin(right, (x, y) => `${show(x)}+${show(y)}`)
      .toStream()
      .to('outer', { value: str });
    const driver = new TopologyTestDriver(b.build());
    const a = driver.createInputTopic('a', str, str);
    const bb = driver.createInputTopic('b', str, str);
    const del = (topic: string, key: string) =>
      driver.pipeRaw(topic, { key: Buffer.from(key), value: null, timestamp: 0, headers: {} });
    await a.pipeInput('1', 'x');
    await bb.pipeInput('1', 'y');
    await a.pipeInput('1', 'x2');
    await del('b', '1');
    await a.pipeInput('2', 'z');
    await bb.pipeInput('3', 'w');
    await del('a', '1');
    const read = (topic: string) =>
      driver
        .createOutputTopic(topic, str, str)
        .readKeyValuesToList()
        .map((r) => `${r.key}:${show(r.value)}`);
    assert.deepEqual(read('inner'), ['1:x+y', '1:x2+y', '1:null']);
    assert.deepEqual(read('left'), [
      '1:x+null',
      '1:x+y',
      '1:x2+y',
      '1:x2+null',
      '2:z+null',
      '3:null',
      '1:null',
    ]);
    assert.deepEqual(read('outer'), [
      '1:x+null',
      '1:x+y',
      '1:x2+y',
      '1:x2+null',
      '2:z+null',
      '3:null+w',
      '1:null',
    ]);
    assert.deepEqual([...driver.getKeyValueStore('ab').range()], []);
  });

  it('filter and mapValues on tables delete rows that stop matching', async () => {
    const b = new StreamsBuilder();
    b.table('t', { key: str, value: Serdes.int64(), store: 't' })
      .filter((_k, v) => v > 10, { store: 'big' })
      .mapValues((v) => `n=${v}`)
      .toStream()
      .to('out', { value: str });
    const driver = new TopologyTestDriver(b.build());
    const t = driver.createInputTopic('t', str, Serdes.int64());
    await t.pipeInput('a', 5);
    await t.pipeInput('a', 50);
    await t.pipeInput('b', 70);
    await t.pipeInput('a', 7);
    assert.deepEqual(
      driver
        .createOutputTopic('out', str, str)
        .readKeyValuesToList()
        .map((r) => `${r.key}:${show(r.value)}`),
      ['a:n=50', 'b:n=70', 'a:null'],
    );
    assert.deepEqual(
      [...driver.getKeyValueStore('big').range()].map(([k]) => k.toString()),
      ['b'],
    );
  });
});

describe('stream-stream joins', () => {
  type Kind = 'join' | 'leftJoin' | 'outerJoin';

  async function run(kind: Kind) {
    const b = new StreamsBuilder();
    const orders = b.stream('orders', { key: str, value: str });
    const payments = b.stream('payments', { key: str, value: str });
    const windows = JoinWindows.ofTimeDifference(10).grace(5);
    const joiner = (o: string | null, p: string | null) => `${show(o)}+${show(p)}`;
    const opts = { thisStore: 'orders-buf', otherStore: 'payments-buf' };
    const joined =
      kind === 'join'
        ? orders.join(payments, joiner, windows, opts)
        : kind === 'leftJoin'
          ? orders.leftJoin(payments, joiner, windows, opts)
          : orders.outerJoin(payments, joiner, windows, opts);
    joined.to('out', { value: str });
    const driver = new TopologyTestDriver(b.build());
    const o = driver.createInputTopic('orders', str, str);
    const p = driver.createInputTopic('payments', str, str);
    const out = driver.createOutputTopic('out', str, str);
    const read = () => out.readRecordsToList().map((r) => `${r.key}:${r.value}@${r.timestamp}`);
    const steps: string[][] = [];
    await o.pipeInput('a', 'o1', 100);
    await p.pipeInput('a', 'p1', 105);
    await o.pipeInput('b', 'o2', 108);
    await p.pipeInput('c', 'p2', 109);
    await o.pipeInput('a', 'o3', 112);
    steps.push(read());
    await o.pipeInput('d', 'o4', 130); // stream time 130: records before 115 can no longer join
    steps.push(read());
    await p.pipeInput('a', 'p3', 114); // 114 + grace 5 < 130: late
    await p.pipeInput('d', 'p4', 126);
    await o.pipeInput('z', 'o5', 200);
    steps.push(read());
    return { driver, steps };
  }

  it('inner: joins records of either side within the window, at once', async () => {
    const { driver, steps } = await run('join');
    assert.deepEqual(steps, [['a:o1+p1@105', 'a:o3+p1@112'], [], ['d:o4+p4@130']]);
    assert.deepEqual(
      driver.deadLetters.map((d) => [d.kind, d.position?.topic, d.position?.offset]),
      [['late', 'payments', '2']],
    );
    assert.deepEqual(
      [...driver.getWindowStore('orders-buf').expiredBefore(1000)].map(([k, t]) => [k.toString(), t]),
      [['z', 200]],
    );
  });

  it('left: an unjoined left record is emitted with null only after its window and grace have passed', async () => {
    const { steps } = await run('leftJoin');
    assert.deepEqual(steps, [['a:o1+p1@105', 'a:o3+p1@112'], ['b:o2+null@108'], ['d:o4+p4@130']]);
  });

  it('outer: unjoined records of both sides are emitted once closed, in timestamp order', async () => {
    const { driver, steps } = await run('outerJoin');
    assert.deepEqual(steps, [
      ['a:o1+p1@105', 'a:o3+p1@112'],
      ['b:o2+null@108', 'c:null+p2@109'],
      ['d:o4+p4@130'],
    ]);
    await driver.createInputTopic('payments', str, str).pipeInput('y', 'p9', 300);
    assert.deepEqual(driver.createOutputTopic('out', str, str).readValuesToList().slice(-1), ['o5+null']);
  });
});

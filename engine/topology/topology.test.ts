import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JoinWindows, Serdes, StreamsBuilder, TopologyError, TopologyTestDriver } from './index.js';

const str = Serdes.string();
const int = Serdes.int64();

function wordCount(b: StreamsBuilder) {
  b.stream('text', { key: str, value: str })
    .flatMapValues((v) => v.split(' '))
    .selectKey((_k, w) => w, { repartition: 'by-word', key: str })
    .groupByKey({ value: str })
    .count({ store: 'word-counts' })
    .toStream()
    .to('counts', { value: int });
}

function buildError(build: (b: StreamsBuilder) => void): TopologyError {
  const b = new StreamsBuilder();
  try {
    build(b);
    b.build();
  } catch (err) {
    assert.ok(err instanceof TopologyError, String(err));
    assert.equal(err.code, 'SLUICE_TOPOLOGY_INVALID');
    return err;
  }
  assert.fail('build() should have thrown');
}

describe('Topology', () => {
  it('describes sub-topologies, nodes, stores, sinks and internal topics, Kafka Streams style', () => {
    const b = new StreamsBuilder();
    wordCount(b);
    assert.equal(
      b.build().describe(),
      [
        'Topologies:',
        '   Sub-topology: 0',
        '    Source: KSTREAM-SOURCE-0000000000 (topics: [text])',
        '      --> KSTREAM-FLATMAPVALUES-0000000001',
        '    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])',
        '      --> KSTREAM-KEY-SELECT-0000000002',
        '      <-- KSTREAM-SOURCE-0000000000',
        '    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])',
        '      --> KSTREAM-SINK-0000000003',
        '      <-- KSTREAM-FLATMAPVALUES-0000000001',
        '    Sink: KSTREAM-SINK-0000000003 (topic: by-word-repartition)',
        '      <-- KSTREAM-KEY-SELECT-0000000002',
        '',
        '   Sub-topology: 1',
        '    Source: KSTREAM-SOURCE-0000000004 (topics: [by-word-repartition])',
        '      --> KSTREAM-AGGREGATE-0000000005',
        '    Processor: KSTREAM-AGGREGATE-0000000005 (stores: [word-counts])',
        '      --> KTABLE-TOSTREAM-0000000006',
        '      <-- KSTREAM-SOURCE-0000000004',
        '    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])',
        '      --> KSTREAM-SINK-0000000007',
        '      <-- KSTREAM-AGGREGATE-0000000005',
        '    Sink: KSTREAM-SINK-0000000007 (topic: counts)',
        '      <-- KTABLE-TOSTREAM-0000000006',
        '',
        'Internal topics:',
        '   by-word-repartition (repartition)',
        '   word-counts-changelog (changelog of store word-counts)',
        '',
      ].join('\n'),
    );
  });

  it('lists each sub-topology’s sources, sinks and stores for the runtime', () => {
    const b = new StreamsBuilder();
    wordCount(b);
    const t = b.build();
    assert.deepEqual(t.subtopologies, [
      {
        id: 0,
        sources: [{ topic: 'text', internal: false }],
        sinks: [{ topic: 'by-word-repartition', internal: true }],
        stores: [],
        copartitionGroups: [],
      },
      {
        id: 1,
        sources: [{ topic: 'by-word-repartition', internal: true }],
        sinks: [{ topic: 'counts', internal: false }],
        stores: [
          {
            spec: { name: 'word-counts', type: 'keyValue', kind: 'memory', changelog: true },
            changelogTopic: 'word-counts-changelog',
          },
        ],
        copartitionGroups: [],
      },
    ]);
    assert.equal(t.internalTopicName('app', 'by-word-repartition'), 'app-by-word-repartition');
    assert.equal(t.internalTopicName('app', 'word-counts-changelog'), 'app-word-counts-changelog');
  });

  it('puts a join and the table it reads in one sub-topology, with co-partitioned sources', () => {
    const b = new StreamsBuilder();
    const users = b.table('users', { key: str, value: str, store: 'users-store', storeKind: 'lmdb' });
    b.stream('clicks', { key: str, value: str })
      .selectKey((_k, v) => v, { repartition: 'clicks-by-user', key: str })
      .join(users, (click, user) => `${click}@${user}`)
      .to('enriched', { value: str });
    const t = b.build();
    assert.equal(t.subtopologies.length, 2);
    assert.deepEqual(t.subtopologies[1]!.sources, [{ topic: 'clicks', internal: false }]);
    assert.deepEqual(t.subtopologies[0], {
      id: 0,
      sources: [
        { topic: 'users', internal: false },
        { topic: 'clicks-by-user-repartition', internal: true },
      ],
      sinks: [{ topic: 'enriched', internal: false }],
      stores: [
        {
          spec: { name: 'users-store', type: 'keyValue', kind: 'lmdb', changelog: true },
          changelogTopic: 'users-store-changelog',
        },
      ],
      copartitionGroups: [['clicks-by-user-repartition', 'users']],
    });
  });
});

describe('repartitioning', () => {
  it('sends re-keyed records through <app>-<name>-repartition to the second sub-topology', async () => {
    const b = new StreamsBuilder();
    wordCount(b);
    const driver = new TopologyTestDriver(b.build(), { applicationId: 'wc' });
    const text = driver.createInputTopic('text', str, str);
    await text.pipeInput('line1', 'a b a', 10);
    await text.pipeInput('line2', 'b', 20);
    const repartition = driver.createOutputTopic('wc-by-word-repartition', str, str);
    assert.deepEqual(
      repartition.readRecordsToList().map((r) => [r.key, r.value, r.timestamp]),
      [
        ['a', 'a', 10],
        ['b', 'b', 10],
        ['a', 'a', 10],
        ['b', 'b', 20],
      ],
    );
    assert.deepEqual(driver.createOutputTopic('counts', str, int).readKeyValuesToList(), [
      { key: 'a', value: 1 },
      { key: 'b', value: 1 },
      { key: 'a', value: 2 },
      { key: 'b', value: 2 },
    ]);
    assert.equal(driver.streamTime('wc-by-word-repartition'), 20);
    const store = driver.getKeyValueStore('word-counts');
    assert.deepEqual(
      [...store.range()].map(([k, v]) => [k.toString(), int.deserialize(v, '')]),
      [
        ['a', 2],
        ['b', 2],
      ],
    );
    assert.equal(driver.changelog('word-counts').length, 4);
  });

  it('groupBy always repartitions; two stateful operators share one repartition topic', async () => {
    const b = new StreamsBuilder();
    const byLength = b.stream('in', { key: str, value: str }).selectKey((_k, v) => String(v.length), {
      repartition: 'by-length',
      key: str,
    });
    byLength.groupByKey().count({ store: 'n' }).toStream().to('n', { value: int });
    byLength
      .groupByKey()
      .reduce((a, v) => `${a}+${v}`, { store: 'all' })
      .toStream()
      .to('all', { value: str });
    b.stream('other', { key: str, value: str })
      .groupBy((_k, v) => v[0]!, { key: str, repartition: 'by-initial' })
      .count({ store: 'initials' })
      .toStream()
      .to('initials', { value: int });
    const t = b.build();
    assert.deepEqual(
      t.subtopologies.map((s) => s.sources.map((x) => x.topic)),
      [['in'], ['by-length-repartition'], ['other'], ['by-initial-repartition']],
    );
    const driver = new TopologyTestDriver(t);
    await driver.createInputTopic('in', str, str).pipeInput('x', 'ab');
    await driver.createInputTopic('in', str, str).pipeInput('y', 'cd');
    await driver.createInputTopic('other', str, str).pipeInput('z', 'hello');
    assert.deepEqual(driver.createOutputTopic('n', str, int).readKeyValuesToList(), [
      { key: '2', value: 1 },
      { key: '2', value: 2 },
    ]);
    assert.deepEqual(driver.createOutputTopic('all', str, str).readValuesToList(), ['ab', 'ab+cd']);
    assert.deepEqual(driver.createOutputTopic('initials', str, int).readKeyValuesToList(), [
      { key: 'h', value: 1 },
    ]);
  });
});

describe('validation', () => {
  it('refuses a stateful operator after a key change without a repartition name', () => {
    const err = buildError((b) =>
      b
        .stream('in', { key: str, value: str })
        .map((k, v) => ({ key: v, value: k }))
        .groupByKey({ key: str, value: str })
        .count({ store: 'c' }),
    );
    assert.deepEqual(err.issues, [
      'groupByKey after a key-changing operation (KSTREAM-MAP-0000000001) needs a repartition topic: ' +
        "pass { repartition: '<name>' } to selectKey()/groupBy()/groupByKey(), or call repartition({ name }) first",
    ]);
  });

  it('refuses a join after a key change without a repartition name', () => {
    const err = buildError((b) => {
      const t = b.table('t', { key: str, value: str, store: 's' });
      b.stream('in', { key: str, value: str })
        .selectKey((_k, v) => v)
        .join(t, (a, c) => a + c);
    });
    assert.match(
      err.message,
      /join with a table after a key-changing operation \(KSTREAM-KEY-SELECT-0000000003\)/,
    );
  });

  it('accepts the same topology with repartition names', () => {
    const b = new StreamsBuilder();
    const t = b.table('t', { key: str, value: str, store: 's' });
    b.stream('in', { key: str, value: str })
      .map((k, v) => ({ key: v, value: k }))
      .repartition({ name: 'rekeyed', key: str, value: str })
      .join(t, (a, c) => a + c)
      .to('out', { value: str });
    assert.equal(b.build().subtopologies.length, 2);
  });

  it('reports duplicate store names, node names and sources, all at once', () => {
    const err = buildError((b) => {
      const s = b.stream('in', { key: str, value: str });
      s.groupByKey().count({ store: 'counts' });
      s.groupByKey().count({ store: 'counts', name: 'my-count' });
      s.filter(() => true, { name: 'my-count' });
      b.stream('in', { key: str, value: str });
    });
    assert.deepEqual(err.issues, [
      "duplicate store name 'counts' (declared by KSTREAM-AGGREGATE-0000000001 and my-count)",
      "duplicate node name 'my-count'",
      "topic 'in' is already consumed by KSTREAM-SOURCE-0000000000: read it once and reuse the stream or table",
    ]);
  });

  it('reports a store nobody declares, a missing serde and a stream of another builder', () => {
    const other = new StreamsBuilder().stream('x', { key: str, value: str });
    const err = buildError((b) => {
      const s = b.stream('in', { key: str, value: str });
      s.process(() => ({ process() {} }), { stores: ['nowhere'] });
      s.mapValues((v) => v.length).to('out');
      s.join(other, (a, c) => a + c, JoinWindows.ofTimeDifference(10), { thisStore: 'l', otherStore: 'r' });
    });
    assert.deepEqual(err.issues, [
      "to('out') at KSTREAM-MAPVALUES-0000000002 needs a value serde: upstream does not know it, pass { value }",
      'join: KSTREAM-SOURCE-0000000000 belongs to another StreamsBuilder',
      "KSTREAM-PROCESSOR-0000000001 uses store 'nowhere', which no operator declares",
    ]);
  });

  it('refuses a topology without sources and bad window parameters', () => {
    assert.throws(() => new StreamsBuilder().build(), /the topology has no source/);
    assert.throws(
      () => JoinWindows.ofTimeDifference(-1),
      (e: unknown) =>
        e instanceof TopologyError &&
        /join window time difference must be an integer >= 0 ms, got -1/.test(e.message),
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Serde } from './contracts.js';
import { JoinWindows, Serdes, StreamsBuilder, TimeWindows, TopologyTestDriver } from './index.js';

const str = Serdes.string();
const int = Serdes.int64();
const json = Serdes.json<{ n: number }>();

/**
 * A serde like a schema-registry one: bytes decode only after an async `prepare` has seen
 * them (as an Avro deserializer must fetch a writer schema first).
 */
function preparingJson<T>() {
  const known = new Set<string>();
  let prepares = 0;
  const serde: Serde<T> = {
    serialize: (v) => Buffer.from(JSON.stringify(v)),
    deserialize: (bytes) => {
      if (bytes === null) return null as T;
      if (!known.has(bytes.toString('hex'))) throw new Error(`not prepared: ${bytes}`);
      return JSON.parse(bytes.toString()) as T;
    },
    prepare: (bytes) => {
      if (bytes === null || known.has(bytes.toString('hex'))) return undefined;
      prepares++;
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          known.add(bytes.toString('hex'));
          resolve();
        }, 1),
      );
    },
  };
  return { serde, prepares: () => prepares };
}

describe('serdes that prepare asynchronously', () => {
  it('are prepared before stored aggregates, windows and join buffers are decoded', async () => {
    const agg = preparingJson<{ n: number }>();
    const buffered = preparingJson<{ n: number }>();
    const b = new StreamsBuilder();
    const input = b.stream('in', { key: str, value: int });
    input
      .groupByKey()
      .aggregate(
        () => ({ n: 0 }),
        (_k, v, a) => ({ n: a.n + v }),
        { store: 'sum', value: agg.serde },
      )
      .toStream()
      .to('sum', { value: json });
    input
      .groupByKey()
      .windowedBy(TimeWindows.ofSize(10))
      .aggregate(
        () => ({ n: 0 }),
        (_k, v, a) => ({ n: a.n + v }),
        { store: 'wsum', value: agg.serde },
      )
      .suppress('untilWindowCloses')
      .toStream()
      .to('wsum', { key: Serdes.windowed(str), value: json });
    const boxed = input.mapValues((v) => ({ n: v }));
    boxed
      .join(boxed, (l, r) => `${l.n}x${r.n}`, JoinWindows.ofTimeDifference(5), {
        thisStore: 'l',
        otherStore: 'r',
        value: buffered.serde,
        otherValue: buffered.serde,
        key: str,
      })
      .to('self-join', { value: str });
    const driver = new TopologyTestDriver(b.build());
    const pipe = driver.createInputTopic('in', str, int);
    await pipe.pipeInput('k', 1, 1);
    await pipe.pipeInput('k', 2, 3);
    await pipe.pipeInput('k', 4, 12);
    await pipe.pipeInput('j', 8, 25);
    assert.deepEqual(driver.deadLetters, []);
    assert.deepEqual(driver.createOutputTopic('sum', str, json).readValuesToList(), [
      { n: 1 },
      { n: 3 },
      { n: 7 },
      { n: 8 },
    ]);
    assert.deepEqual(
      driver
        .createOutputTopic('wsum', Serdes.windowed(str), json)
        .readKeyValuesToList()
        .map((r) => [r.key.key, r.key.start, r.value.n]),
      [
        ['k', 0, 3],
        ['k', 10, 4],
      ],
    );
    assert.deepEqual(driver.createOutputTopic('self-join', str, str).readValuesToList(), [
      '1x1',
      '2x1',
      '1x2',
      '2x2',
      '4x4',
      '8x8',
    ]);
    assert.ok(agg.prepares() >= 4, `aggregate bytes prepared ${agg.prepares()} times`);
    assert.ok(buffered.prepares() >= 2, `join buffer bytes prepared ${buffered.prepares()} times`);
  });
});

describe('a source serde whose preparation fails', () => {
  function flaky(failures: number, retriable: boolean) {
    let calls = 0;
    const serde: Serde<string> = {
      serialize: (v) => Buffer.from(v),
      deserialize: (bytes) => (bytes === null ? (null as unknown as string) : bytes.toString()),
      prepare: (bytes) => {
        if (bytes === null) return undefined;
        calls++;
        if (calls <= failures) {
          return Promise.reject(Object.assign(new Error(`registry down (${calls})`), { retriable }));
        }
        return Promise.resolve();
      },
    };
    return { serde, calls: () => calls };
  }

  it('is prepared again while the failure is retriable, and the record is processed, not dead-lettered', async () => {
    const value = flaky(2, true);
    const b = new StreamsBuilder();
    b.stream('in', { key: str, value: value.serde }).to('out', { value: str });
    const driver = new TopologyTestDriver(b.build());
    await driver.createInputTopic('in', str, str).pipeInput('k', 'v', 1);
    assert.deepEqual(driver.deadLetters, []);
    assert.equal(value.calls(), 3);
    assert.deepEqual(driver.createOutputTopic('out', str, str).readValuesToList(), ['v']);
  });

  it('dead-letters the record at once when the failure is not retriable', async () => {
    const value = flaky(1, false);
    const b = new StreamsBuilder();
    b.stream('in', { key: str, value: value.serde }).to('out', { value: str });
    const driver = new TopologyTestDriver(b.build());
    await driver.createInputTopic('in', str, str).pipeInput('k', 'v', 1);
    assert.equal(value.calls(), 1);
    assert.deepEqual(
      driver.deadLetters.map((d) => [d.kind, d.error.message]),
      [['deserialization', 'registry down (1)']],
    );
    assert.deepEqual(driver.createOutputTopic('out', str, str).readValuesToList(), []);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KeyValueStore } from '../state/types.js';
import type { Processor, ProcessorContext, StreamRecord } from './contracts.js';
import { Serdes, StreamsBuilder, TopologyTestDriver } from './index.js';

const str = Serdes.string();
const json = Serdes.json<{ n: number }>();

function driverFor(build: (b: StreamsBuilder) => void, opts?: { initialWallClockMs?: number }) {
  const b = new StreamsBuilder();
  build(b);
  return new TopologyTestDriver(b.build(), opts);
}

describe('KStream stateless operators', () => {
  it('filter, filterNot, mapValues, map, flatMap, flatMapValues, selectKey and peek', async () => {
    const peeked: string[] = [];
    const driver = driverFor((b) => {
      const s = b.stream('in', { key: str, value: json });
      s.filter((_k, v) => v.n > 1)
        .mapValues((v) => String(v.n * 10))
        .to('filtered', { value: str });
      s.filterNot((_k, v) => v.n > 1)
        .mapValues((v, k) => `${k}:${v.n}`)
        .to('rejected', { value: str });
      s.map((k, v) => ({ key: `${k}!`, value: v.n + 0.5 })).to('mapped', {
        key: str,
        value: Serdes.float64(),
      });
      s.flatMap((k, v) => Array.from({ length: v.n }, (_, i) => ({ key: `${k}${i}`, value: i }))).to('flat', {
        key: str,
        value: Serdes.int64(),
      });
      s.flatMapValues((v) => [v.n, -v.n]).to('flatValues', { value: Serdes.int64() });
      s.selectKey((_k, v) => `n${v.n}`)
        .peek((k, v) => peeked.push(`${k}=${v.n}`))
        .to('rekeyed', { key: str, value: json });
    });
    const input = driver.createInputTopic('in', str, json);
    await input.pipeInput('a', { n: 1 }, 5);
    await input.pipeInput('b', { n: 2 }, 6);

    assert.deepEqual(driver.createOutputTopic('filtered', str, str).readKeyValuesToList(), [
      { key: 'b', value: '20' },
    ]);
    assert.deepEqual(driver.createOutputTopic('rejected', str, str).readValuesToList(), ['a:1']);
    assert.deepEqual(driver.createOutputTopic('mapped', str, Serdes.float64()).readKeyValuesToList(), [
      { key: 'a!', value: 1.5 },
      { key: 'b!', value: 2.5 },
    ]);
    assert.deepEqual(driver.createOutputTopic('flat', str, Serdes.int64()).readKeyValuesToList(), [
      { key: 'a0', value: 0 },
      { key: 'b0', value: 0 },
      { key: 'b1', value: 1 },
    ]);
    assert.deepEqual(
      driver.createOutputTopic('flatValues', str, Serdes.int64()).readValuesToList(),
      [1, -1, 2, -2],
    );
    const rekeyed = driver.createOutputTopic('rekeyed', str, json).readRecordsToList();
    assert.deepEqual(
      rekeyed.map((r) => [r.key, r.value.n, r.timestamp]),
      [
        ['n1', 1, 5],
        ['n2', 2, 6],
      ],
    );
    assert.deepEqual(peeked, ['n1=1', 'n2=2']);
    assert.deepEqual(driver.deadLetters, []);
  });

  it('keeps headers and timestamps through operators', async () => {
    const driver = driverFor((b) =>
      b
        .stream('in', { key: str, value: str })
        .mapValues((v) => v.toUpperCase())
        .to('out', { value: str }),
    );
    await driver.createInputTopic('in', str, str).pipeInput('k', 'v', 42, { trace: Buffer.from('t1') });
    const [r] = driver.createOutputTopic('out', str, str).readRecordsToList();
    assert.equal(r!.value, 'V');
    assert.equal(r!.timestamp, 42);
    assert.equal(r!.headers.trace!.toString(), 't1');
  });

  it('uses the timestamp extractor for event time', async () => {
    const driver = driverFor((b) =>
      b.stream('in', { key: str, value: json, timestampExtractor: (r) => r.value.n * 1000 }).to('out'),
    );
    await driver.createInputTopic('in', str, json).pipeInput('k', { n: 7 }, 1);
    assert.equal(driver.createOutputTopic('out', str, json).readRecord().timestamp, 7000);
  });

  it('branch sends a record to the first matching predicate only; merge joins streams', async () => {
    const driver = driverFor((b) => {
      const [small, medium, other] = b.stream('in', { key: str, value: json }).branch(
        (_k, v) => v.n < 10,
        (_k, v) => v.n < 100,
        () => true,
      );
      small!.to('small');
      medium!.to('medium');
      other!.to('other');
      small!
        .merge(other!)
        .mapValues((v) => v.n)
        .to('merged', { value: Serdes.int64() });
    });
    const input = driver.createInputTopic('in', str, json);
    for (const [k, n] of [
      ['a', 5],
      ['b', 50],
      ['c', 500],
      ['d', 9],
    ] as const) {
      await input.pipeInput(k, { n });
    }
    assert.deepEqual(driver.createOutputTopic('small', str, json).readValuesToList(), [{ n: 5 }, { n: 9 }]);
    assert.deepEqual(driver.createOutputTopic('medium', str, json).readValuesToList(), [{ n: 50 }]);
    assert.deepEqual(driver.createOutputTopic('other', str, json).readValuesToList(), [{ n: 500 }]);
    assert.deepEqual(driver.createOutputTopic('merged', str, Serdes.int64()).readKeyValuesToList(), [
      { key: 'a', value: 5 },
      { key: 'c', value: 500 },
      { key: 'd', value: 9 },
    ]);
  });
});

describe('mapAsync', () => {
  it('forwards results in input order with at most `concurrency` calls in flight', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const started: string[] = [];
    const resolvers = new Map<string, () => void>();
    const driver = driverFor((b) =>
      b
        .stream('in', { key: str, value: str })
        .mapAsync(
          async (v) => {
            started.push(v);
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            await new Promise<void>((resolve) => resolvers.set(v, resolve));
            inFlight--;
            return v.toUpperCase();
          },
          { concurrency: 3 },
        )
        .to('out', { value: str }),
    );
    const input = driver.createInputTopic('in', str, str);
    const out = driver.createOutputTopic('out', str, str);
    const piped = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((v) => input.pipeInput(v, v));
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(started, ['a', 'b', 'c'], 'the fourth record waits for a slot');
    // Finish out of order: c and b first; nothing is forwarded before a.
    resolvers.get('c')!();
    resolvers.get('b')!();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(out.getQueueSize(), 0);
    assert.deepEqual(started, ['a', 'b', 'c']);
    resolvers.get('a')!();
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(out.readValuesToList(), ['A', 'B', 'C']);
    assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e', 'f']);
    for (const v of ['f', 'e', 'd']) resolvers.get(v)!();
    await new Promise((r) => setTimeout(r, 10));
    resolvers.get('g')!();
    await Promise.all(piped);
    await driver.flush();
    assert.deepEqual(out.readValuesToList(), ['D', 'E', 'F', 'G']);
    assert.equal(maxInFlight, 3);
  });

  it('flush waits for calls in flight; a failed call is dead-lettered and the rest go on', async () => {
    const driver = driverFor((b) =>
      b
        .stream('in', { key: str, value: str })
        .mapAsync(
          async (v) => {
            await new Promise((r) => setTimeout(r, 5));
            if (v === 'bad') throw new Error('model unavailable');
            return `${v}!`;
          },
          { concurrency: 2 },
        )
        .to('out', { value: str }),
    );
    const input = driver.createInputTopic('in', str, str);
    await input.pipeInput('k1', 'x');
    await input.pipeInput('k2', 'bad');
    await input.pipeInput('k3', 'y');
    await driver.flush();
    assert.deepEqual(driver.createOutputTopic('out', str, str).readKeyValuesToList(), [
      { key: 'k1', value: 'x!' },
      { key: 'k3', value: 'y!' },
    ]);
    assert.equal(driver.deadLetters.length, 1);
    assert.equal(driver.deadLetters[0]!.kind, 'processing');
    assert.equal(driver.deadLetters[0]!.error.message, 'model unavailable');
    assert.deepEqual(driver.deadLetters[0]!.position, { topic: 'in', partition: 0, offset: '1' });
  });
});

/** Counts values per key in its own store and emits totals on punctuation. */
class CountingProcessor implements Processor<string, string, string, string> {
  private ctx!: ProcessorContext<string, string>;
  private store!: KeyValueStore;

  constructor(private readonly log: string[]) {}

  init(ctx: ProcessorContext<string, string>): void {
    this.ctx = ctx;
    this.store = ctx.keyValueStore('seen');
    ctx.schedule(10, 'stream-time', (t) => this.emit(`stream@${t}`));
    ctx.schedule(1000, 'wall-clock', (t) => this.emit(`wall@${t}`));
  }

  process(record: StreamRecord<string, string>): void {
    const key = Buffer.from(record.key);
    const n = Number(this.store.get(key)?.toString() ?? '0') + 1;
    this.store.put(key, Buffer.from(String(n)));
    this.log.push(`${record.key}@${this.ctx.streamTime}`);
  }

  private emit(tag: string): void {
    const totals = [...this.store.range()].map(([k, v]) => `${k}=${v}`).join(',');
    this.ctx.forward({ key: tag, value: totals, timestamp: this.ctx.streamTime, headers: {} });
  }
}

describe('process() with stores and punctuations', () => {
  it('gives processors their stores and fires stream-time and wall-clock punctuations', async () => {
    const log: string[] = [];
    const driver = driverFor(
      (b) =>
        b
          .stream('in', { key: str, value: str })
          .process(() => new CountingProcessor(log), { stores: [{ name: 'seen', type: 'keyValue' }] })
          .to('out', { key: str, value: str }),
      { initialWallClockMs: 5000 },
    );
    const input = driver.createInputTopic('in', str, str);
    const out = driver.createOutputTopic('out', str, str);
    await input.pipeInput('a', '', 3); // stream time 3: the first punctuation (aligned to 0) fires
    await input.pipeInput('b', '', 7);
    await input.pipeInput('a', '', 12); // passes 10
    await input.pipeInput('a', '', 35); // passes 20 and 30: one punctuation, at 35
    assert.deepEqual(out.readKeyValuesToList(), [
      { key: 'stream@3', value: 'a=1' },
      { key: 'stream@12', value: 'a=2,b=1' },
      { key: 'stream@35', value: 'a=3,b=1' },
    ]);
    await driver.advanceWallClockTime(999);
    assert.ok(out.isEmpty());
    await driver.advanceWallClockTime(1);
    await driver.advanceWallClockTime(2500);
    assert.deepEqual(out.readKeyValuesToList(), [
      { key: 'wall@6000', value: 'a=3,b=1' },
      { key: 'wall@8500', value: 'a=3,b=1' },
    ]);
    assert.deepEqual(log, ['a@3', 'b@7', 'a@12', 'a@35']);
    assert.equal(driver.getKeyValueStore('seen').get(Buffer.from('a'))?.toString(), '3');
    assert.deepEqual(
      driver.changelog('seen').map((c) => `${c.key}=${c.value}`),
      ['a=1', 'b=1', 'a=2', 'a=3'],
    );
  });

  it('refuses a store the processor did not declare (dead-lettered as a processing failure)', async () => {
    const driver = driverFor((b) => {
      b.stream('in', { key: str, value: str }).process(() => ({ process() {} }), {
        stores: [{ name: 'mine', type: 'keyValue' }],
      });
      b.stream('in2', { key: str, value: str }).process<string, string>(() => {
        let ctx: ProcessorContext<string, string>;
        return {
          init: (c) => {
            ctx = c;
          },
          process: () => {
            ctx.keyValueStore('mine');
          },
        };
      });
    });
    await driver.createInputTopic('in2', str, str).pipeInput('k', 'v');
    assert.equal(driver.deadLetters.length, 1);
    assert.match(driver.deadLetters[0]!.error.message, /did not declare store 'mine'/);
  });
});

describe('dead letters', () => {
  it('sends an undecodable record and an operator exception to dead letters and goes on', async () => {
    const driver = driverFor((b) =>
      b
        .stream('in', { key: str, value: json })
        .mapValues((v) => {
          if (v.n === 13) throw new Error('unlucky');
          return v.n * 2;
        })
        .to('out', { value: Serdes.int64() }),
    );
    await driver.pipeRaw('in', {
      key: Buffer.from('a'),
      value: Buffer.from('{"n":1}'),
      timestamp: 1,
      headers: {},
    });
    await driver.pipeRaw('in', {
      key: Buffer.from('b'),
      value: Buffer.from('{not json'),
      timestamp: 2,
      headers: {},
    });
    await driver.pipeRaw('in', {
      key: Buffer.from('c'),
      value: Buffer.from('{"n":13}'),
      timestamp: 3,
      headers: {},
    });
    await driver.pipeRaw('in', {
      key: Buffer.from('d'),
      value: Buffer.from('{"n":4}'),
      timestamp: 4,
      headers: {},
    });
    assert.deepEqual(driver.createOutputTopic('out', str, Serdes.int64()).readKeyValuesToList(), [
      { key: 'a', value: 2 },
      { key: 'd', value: 8 },
    ]);
    assert.deepEqual(
      driver.deadLetters.map((d) => [d.kind, d.position?.offset, d.raw?.key?.toString(), d.error.message]),
      [
        ['deserialization', '1', 'b', driver.deadLetters[0]!.error.message],
        ['processing', '2', 'c', 'unlucky'],
      ],
    );
    assert.match(driver.deadLetters[0]!.error.message, /^not JSON: /);
    assert.equal((driver.deadLetters[0]!.error as { code?: string }).code, 'SLUICE_SERDE');
  });

  it('awaits an async serde prepare before decoding', async () => {
    const prepared: string[] = [];
    const slowSerde = {
      ...str,
      prepare: (bytes: Buffer | null) => {
        if (bytes === null) return undefined;
        return new Promise<void>((resolve) =>
          setTimeout(() => {
            prepared.push(bytes.toString());
            resolve();
          }, 2),
        );
      },
    };
    const driver = driverFor((b) => b.stream('in', { key: str, value: slowSerde }).to('out', { value: str }));
    const input = driver.createInputTopic('in', str, str);
    await input.pipeInput('k', 'one');
    await input.pipeInput('k', 'two');
    assert.deepEqual(prepared, ['one', 'two']);
    assert.deepEqual(driver.createOutputTopic('out', str, str).readValuesToList(), ['one', 'two']);
  });

  it('rejects negative timestamps as invalid', async () => {
    const driver = driverFor((b) => b.stream('in', { key: str, value: str }).to('out'));
    await driver.createInputTopic('in', str, str).pipeInput('k', 'v', -1);
    assert.equal(driver.deadLetters[0]?.kind, 'invalid');
    assert.ok(driver.createOutputTopic('out', str, str).isEmpty());
  });
});

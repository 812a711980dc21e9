/**
 * The behaviour every KeyValueStore and WindowStore must share, as node:test cases. A store file's
 * test calls these inside a `describe` with a factory; each case makes its own stores and closes
 * them. Random operations (fast-check) are checked against a model: a Map whose keys are latin1
 * strings, sorted with Buffer.compare.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Bytes, KeyValueStore, WindowStore } from './types.js';

type Make<S> = () => S | Promise<S>;

const b = (...bytes: number[]): Bytes => Buffer.from(bytes);
const s = (text: string): Bytes => Buffer.from(text);
const hex = (key: Bytes): string => key.toString('hex');
const byBytes = (x: string, y: string): number =>
  Buffer.compare(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1'));

/** Bytes that sit at the edges of bytewise order, so keys share prefixes and collide often. */
const edgeBytes = fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff);
const keyArb = fc.array(edgeBytes, { maxLength: 3 }).map((bytes) => Buffer.from(bytes));
const valueArb = fc.uint8Array({ maxLength: 6 }).map((bytes) => Buffer.from(bytes));

async function withStore<S extends { close(): void }>(
  make: Make<S>,
  body: (store: S) => void,
): Promise<void> {
  const store = await make();
  try {
    body(store);
  } finally {
    store.close();
  }
}

function kvEntries(range: Iterable<[Bytes, Bytes]>): [string, string][] {
  return [...range].map(([k, v]) => [hex(k), v.toString('hex')]);
}

export function keyValueStoreConformance(make: Make<KeyValueStore>): void {
  test('get, put and delete one key', () =>
    withStore(make, (store) => {
      assert.equal(store.get(s('a')), undefined);
      store.put(s('a'), s('1'));
      assert.equal(store.get(s('a'))?.toString(), '1');
      assert.equal(store.get(s('b')), undefined);
      store.delete(s('a'));
      store.delete(s('never-written'));
      assert.equal(store.get(s('a')), undefined);
      assert.deepEqual(kvEntries(store.range()), []);
    }));

  test('a put overwrites, and deleted keys can be written again', () =>
    withStore(make, (store) => {
      store.put(s('k'), s('v1'));
      store.put(s('k'), s('v2'));
      assert.equal(store.get(s('k'))?.toString(), 'v2');
      store.delete(s('k'));
      store.put(s('k'), s('v3'));
      assert.deepEqual(kvEntries(store.range()), [[hex(s('k')), hex(s('v3'))]]);
      assert.equal(store.approximateSize(), 1);
    }));

  test('empty keys and empty values are values like any other', () =>
    withStore(make, (store) => {
      store.put(b(), s('empty key'));
      store.put(s('k'), b());
      assert.equal(store.get(b())?.toString(), 'empty key');
      assert.equal(store.get(s('k'))?.length, 0);
      assert.deepEqual(kvEntries(store.range()), [
        ['', hex(s('empty key'))],
        [hex(s('k')), ''],
      ]);
      store.flush();
      assert.equal(store.get(b())?.toString(), 'empty key');
    }));

  test('callers may reuse their buffers after put', () =>
    withStore(make, (store) => {
      const key = s('k');
      const value = s('v1');
      store.put(key, value);
      key[0] = 0x7a;
      value[1] = 0x39;
      assert.equal(store.get(s('k'))?.toString(), 'v1');
      store.flush();
      assert.deepEqual(kvEntries(store.range()), [[hex(s('k')), hex(s('v1'))]]);
    }));

  test('range is bytewise ordered: from inclusive, to exclusive, either may be omitted', () =>
    withStore(make, (store) => {
      const keys = [b(0x80), b(0x01), b(0x01, 0x00), b(0xff), b(0x00), b(0x7f, 0xff), b(0x01, 0xff, 0xff)];
      for (const key of keys) store.put(key, key);
      const order = (range: Iterable<[Bytes, Bytes]>) => [...range].map(([k]) => hex(k));
      assert.deepEqual(order(store.range()), ['00', '01', '0100', '01ffff', '7fff', '80', 'ff']);
      assert.deepEqual(order(store.range(b(0x01), b(0x80))), ['01', '0100', '01ffff', '7fff']);
      assert.deepEqual(order(store.range(b(0x01, 0x00, 0x00))), ['01ffff', '7fff', '80', 'ff']);
      assert.deepEqual(order(store.range(undefined, b(0x01, 0x00))), ['00', '01']);
      assert.deepEqual(order(store.range(b(0x7f), b(0x7f, 0xff, 0x00))), ['7fff']);
    }));

  test('empty ranges: from = to, from > to, and bounds with nothing between', () =>
    withStore(make, (store) => {
      for (const key of ['a', 'b', 'c']) store.put(s(key), s(key));
      assert.deepEqual(kvEntries(store.range(s('b'), s('b'))), []);
      assert.deepEqual(kvEntries(store.range(s('c'), s('a'))), []);
      assert.deepEqual(kvEntries(store.range(s('a0'), s('a9'))), []);
      assert.deepEqual(kvEntries(store.range(s('d'))), []);
      assert.deepEqual(kvEntries(store.range(undefined, s('a'))), []);
    }));

  test('a range yields the entries present when it began, even if the caller writes meanwhile', () =>
    withStore(make, (store) => {
      for (let i = 0; i < 50; i++) store.put(b(i), b(i));
      const seen: number[] = [];
      for (const [key] of store.range()) {
        seen.push(key[0]);
        store.delete(key);
        store.put(b(0xff, key[0]), s('later'));
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.equal(store.approximateSize(), 50);
      assert.equal(store.get(b(7)), undefined);
    }));

  test('approximateSize counts live keys exactly', () =>
    withStore(make, (store) => {
      assert.equal(store.approximateSize(), 0);
      for (let i = 0; i < 100; i++) store.put(s(`k${i}`), s('v'));
      for (let i = 0; i < 100; i += 2) store.put(s(`k${i}`), s('w'));
      for (let i = 0; i < 30; i++) store.delete(s(`k${i}`));
      store.delete(s('absent'));
      assert.equal(store.approximateSize(), 70);
      store.flush();
      assert.equal(store.approximateSize(), 70);
    }));

  test('random puts, deletes and flushes match a bytewise-sorted model', async () => {
    const op = fc.oneof(
      {
        arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArb, value: valueArb }),
        weight: 6,
      },
      { arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArb }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant('flush' as const) }), weight: 1 },
    );
    const bound = fc.option(keyArb, { nil: undefined });
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 60 }),
        fc.array(fc.tuple(bound, bound), { maxLength: 4 }),
        (ops, bounds) =>
          withStore(make, (store) => {
            const model = new Map<string, Bytes>();
            for (const o of ops) {
              if (o.kind === 'put') {
                store.put(o.key, o.value);
                model.set(o.key.toString('latin1'), o.value);
              } else if (o.kind === 'delete') {
                store.delete(o.key);
                model.delete(o.key.toString('latin1'));
              } else store.flush();
            }
            const sorted = [...model.keys()].sort(byBytes);
            const expected = (from?: Bytes, to?: Bytes) =>
              sorted
                .map((k) => Buffer.from(k, 'latin1'))
                .filter(
                  (k) =>
                    (from === undefined || Buffer.compare(k, from) >= 0) &&
                    (to === undefined || Buffer.compare(k, to) < 0),
                )
                .map((k): [string, string] => [hex(k), model.get(k.toString('latin1'))!.toString('hex')]);
            for (const o of ops) {
              if (o.kind !== 'flush')
                assert.equal(
                  store.get(o.key)?.toString('hex'),
                  model.get(o.key.toString('latin1'))?.toString('hex'),
                );
            }
            assert.deepEqual(kvEntries(store.range()), expected());
            for (const [from, to] of bounds)
              assert.deepEqual(kvEntries(store.range(from, to)), expected(from, to));
            assert.equal(store.approximateSize(), model.size);
          }),
      ),
      { numRuns: 60 },
    );
  });

  test('a closed store refuses use', async () => {
    const store = await make();
    store.put(s('k'), s('v'));
    store.close();
    assert.throws(() => store.get(s('k')));
    assert.throws(() => store.put(s('k'), s('v')));
  });
}

type Window = [key: string, start: number, value: string];

function windows(expired: Iterable<[Bytes, number, Bytes]>): Window[] {
  return [...expired].map(([k, start, v]) => [k.toString(), start, v.toString()]);
}

function starts(fetched: Iterable<[number, Bytes]>): [number, string][] {
  return [...fetched].map(([start, v]) => [start, v.toString()]);
}

export function windowStoreConformance(make: Make<WindowStore>): void {
  test('get, put and delete by key and window start', () =>
    withStore(make, (store) => {
      store.put(s('a'), 10, s('a@10'));
      store.put(s('a'), 20, s('a@20'));
      store.put(s('b'), 10, s('b@10'));
      assert.equal(store.get(s('a'), 10)?.toString(), 'a@10');
      assert.equal(store.get(s('a'), 20)?.toString(), 'a@20');
      assert.equal(store.get(s('b'), 10)?.toString(), 'b@10');
      assert.equal(store.get(s('b'), 20), undefined);
      store.delete(s('a'), 10);
      store.delete(s('a'), 99);
      assert.equal(store.get(s('a'), 10), undefined);
      assert.equal(store.get(s('a'), 20)?.toString(), 'a@20');
    }));

  test('a put overwrites its window only', () =>
    withStore(make, (store) => {
      store.put(s('k'), 0, s('v1'));
      store.put(s('k'), 0, s('v2'));
      store.put(s('k'), 1, s('other'));
      assert.equal(store.get(s('k'), 0)?.toString(), 'v2');
      assert.equal(store.approximateSize(), 2);
    }));

  test('keys that are prefixes of each other never share windows', () =>
    withStore(make, (store) => {
      store.put(s('a'), 5, s('a'));
      store.put(s('ab'), 5, s('ab'));
      store.put(b(0x61, 0x00), 5, s('a\\0'));
      store.put(b(), 5, s('empty'));
      assert.deepEqual(starts(store.fetch(s('a'), 0, 10)), [[5, 'a']]);
      assert.deepEqual(starts(store.fetch(s('ab'), 0, 10)), [[5, 'ab']]);
      assert.deepEqual(starts(store.fetch(b(0x61, 0x00), 0, 10)), [[5, 'a\\0']]);
      assert.deepEqual(starts(store.fetch(b(), 0, 10)), [[5, 'empty']]);
    }));

  test('fetch is inclusive at both bounds and ascends by start', () =>
    withStore(make, (store) => {
      for (const start of [30, 0, 20, 10, -10]) store.put(s('k'), start, s(`w${start}`));
      store.put(s('other'), 15, s('x'));
      assert.deepEqual(starts(store.fetch(s('k'), 10, 20)), [
        [10, 'w10'],
        [20, 'w20'],
      ]);
      assert.deepEqual(starts(store.fetch(s('k'), 5, 25)), [
        [10, 'w10'],
        [20, 'w20'],
      ]);
      assert.deepEqual(
        starts(store.fetch(s('k'), Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)).map(([start]) => start),
        [-10, 0, 10, 20, 30],
      );
      assert.deepEqual(starts(store.fetch(s('k'), 20, 20)), [[20, 'w20']]);
      assert.deepEqual(starts(store.fetch(s('k'), 21, 29)), []);
      assert.deepEqual(starts(store.fetch(s('k'), 30, 10)), []);
      assert.deepEqual(starts(store.fetch(s('missing'), 0, 30)), []);
    }));

  test('epoch-millisecond and larger starts keep their order', () =>
    withStore(make, (store) => {
      const list = [
        1_700_000_000_000,
        2 ** 32 - 1,
        2 ** 32,
        2 ** 32 + 1,
        2 ** 40,
        Number.MAX_SAFE_INTEGER,
        1,
      ];
      for (const start of list) store.put(s('k'), start, s(String(start)));
      store.flush();
      const all = starts(store.fetch(s('k'), 0, Number.MAX_SAFE_INTEGER));
      assert.deepEqual(
        all.map(([start]) => start),
        [...list].sort((x, y) => x - y),
      );
      assert.deepEqual(
        all.map(([start, v]) => String(start) === v),
        list.map(() => true),
      );
    }));

  test('expiredBefore yields every window with start < bound, by start then key bytes', () =>
    withStore(make, (store) => {
      store.put(s('b'), 10, s('b10'));
      store.put(s('a'), 10, s('a10'));
      store.put(s('a'), 20, s('a20'));
      store.put(s('c'), 5, s('c5'));
      store.put(s('c'), 30, s('c30'));
      assert.deepEqual(windows(store.expiredBefore(5)), []);
      assert.deepEqual(windows(store.expiredBefore(11)), [
        ['c', 5, 'c5'],
        ['a', 10, 'a10'],
        ['b', 10, 'b10'],
      ]);
      assert.deepEqual(windows(store.expiredBefore(20)).length, 3);
      assert.deepEqual(windows(store.expiredBefore(31)).length, 5);
    }));

  test('windows deleted while expiredBefore iterates are each yielded once, then gone', () =>
    withStore(make, (store) => {
      for (let key = 0; key < 20; key++)
        for (let start = 0; start < 10; start++) store.put(b(key), start, b(start));
      const yielded: string[] = [];
      for (const [key, start] of store.expiredBefore(5)) {
        yielded.push(`${key[0]}@${start}`);
        store.delete(key, start);
      }
      assert.equal(yielded.length, 100);
      assert.equal(new Set(yielded).size, 100);
      assert.deepEqual(windows(store.expiredBefore(5)), []);
      assert.equal(store.approximateSize(), 100);
    }));

  test('approximateSize counts live windows exactly', () =>
    withStore(make, (store) => {
      assert.equal(store.approximateSize(), 0);
      for (let i = 0; i < 40; i++) store.put(s(`k${i % 4}`), i, s('v'));
      store.put(s('k0'), 0, s('again'));
      store.delete(s('k1'), 1);
      store.delete(s('k1'), 2);
      assert.equal(store.approximateSize(), 39);
      store.flush();
      assert.equal(store.approximateSize(), 39);
    }));

  test('callers may reuse their buffers after put', () =>
    withStore(make, (store) => {
      const key = s('k');
      const value = s('v1');
      store.put(key, 7, value);
      key[0] = 0x7a;
      value[1] = 0x39;
      assert.equal(store.get(s('k'), 7)?.toString(), 'v1');
      assert.deepEqual(windows(store.expiredBefore(8)), [['k', 7, 'v1']]);
    }));

  test('random puts, deletes and flushes match a model', async () => {
    const start = fc.oneof(
      fc.integer({ min: -3, max: 6 }),
      fc.constantFrom(-(2 ** 33), 2 ** 32, 1_700_000_000_000),
    );
    const op = fc.oneof(
      {
        arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArb, start, value: valueArb }),
        weight: 6,
      },
      { arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArb, start }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant('flush' as const) }), weight: 1 },
    );
    const id = (key: Bytes, at: number) => `${at}/${key.toString('latin1')}`;
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 60 }),
        fc.array(fc.tuple(keyArb, start, start), { maxLength: 4 }),
        start,
        (ops, fetches, expiry) =>
          withStore(make, (store) => {
            const model = new Map<string, { key: Bytes; start: number; value: Bytes }>();
            for (const o of ops) {
              if (o.kind === 'put') {
                store.put(o.key, o.start, o.value);
                model.set(id(o.key, o.start), { key: o.key, start: o.start, value: o.value });
              } else if (o.kind === 'delete') {
                store.delete(o.key, o.start);
                model.delete(id(o.key, o.start));
              } else store.flush();
            }
            const live = [...model.values()].sort(
              (x, y) => x.start - y.start || Buffer.compare(x.key, y.key),
            );
            for (const o of ops) {
              if (o.kind !== 'flush') {
                assert.equal(
                  store.get(o.key, o.start)?.toString('hex'),
                  model.get(id(o.key, o.start))?.value.toString('hex'),
                );
              }
            }
            const everyKey = ops.flatMap((o) => (o.kind === 'flush' ? [] : [o.key]));
            const whole = everyKey.map((key): [Bytes, number, number] => [
              key,
              Number.MIN_SAFE_INTEGER,
              Number.MAX_SAFE_INTEGER,
            ]);
            for (const [key, from, to] of [...fetches, ...whole]) {
              assert.deepEqual(
                [...store.fetch(key, from, to)].map(([at, v]) => [at, v.toString('hex')]),
                live
                  .filter((w) => w.key.equals(key) && w.start >= from && w.start <= to)
                  .map((w) => [w.start, w.value.toString('hex')]),
              );
            }
            assert.deepEqual(
              [...store.expiredBefore(expiry)].map(([k, at, v]) => [hex(k), at, v.toString('hex')]),
              live.filter((w) => w.start < expiry).map((w) => [hex(w.key), w.start, w.value.toString('hex')]),
            );
            assert.equal(store.approximateSize(), model.size);
          }),
      ),
      { numRuns: 60 },
    );
  });

  test('a closed store refuses use', async () => {
    const store = await make();
    store.put(s('k'), 1, s('v'));
    store.close();
    assert.throws(() => store.get(s('k'), 1));
    assert.throws(() => store.put(s('k'), 1, s('v')));
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryKeyValueStore, MemoryWindowStore } from './memory.js';

const b = (...bytes: number[]) => Buffer.from(bytes);
const s = (text: string) => Buffer.from(text);
const entries = (it: Iterable<[Buffer, Buffer]>) =>
  [...it].map(([k, v]) => [k.toString('hex'), v.toString()]);

describe('MemoryKeyValueStore', () => {
  it('gets, overwrites and deletes', () => {
    const store = new MemoryKeyValueStore('kv');
    assert.equal(store.name, 'kv');
    assert.equal(store.get(s('a')), undefined);
    store.put(s('a'), s('1'));
    store.put(s('a'), s('2'));
    assert.equal(store.get(s('a'))?.toString(), '2');
    assert.equal(store.approximateSize(), 1);
    store.delete(s('a'));
    store.delete(s('missing'));
    assert.equal(store.get(s('a')), undefined);
    assert.equal(store.approximateSize(), 0);
  });

  it('ranges in bytewise key order, from inclusive, to exclusive', () => {
    const store = new MemoryKeyValueStore('kv');
    for (const key of [b(0x80), b(0x01), b(0x01, 0x00), b(0xff), b(0x00), b(0x7f, 0xff)]) store.put(key, key);
    assert.deepEqual(
      [...store.range()].map(([k]) => k.toString('hex')),
      ['00', '01', '0100', '7fff', '80', 'ff'],
    );
    assert.deepEqual(
      [...store.range(b(0x01), b(0x80))].map(([k]) => k.toString('hex')),
      ['01', '0100', '7fff'],
    );
    assert.deepEqual(
      [...store.range(b(0x7f))].map(([k]) => k.toString('hex')),
      ['7fff', '80', 'ff'],
    );
    assert.deepEqual(
      [...store.range(undefined, b(0x01, 0x00))].map(([k]) => k.toString('hex')),
      ['00', '01'],
    );
  });

  it('copies keys and values on put, and ranges over a snapshot', () => {
    const store = new MemoryKeyValueStore('kv');
    const key = s('k');
    const value = s('v1');
    store.put(key, value);
    key[0] = 0x7a;
    value[1] = 0x39;
    assert.deepEqual(entries(store.range()), [['6b', 'v1']]);
    store.put(s('a'), s('x'));
    const seen: string[] = [];
    for (const [k] of store.range()) {
      store.delete(k);
      seen.push(k.toString());
    }
    assert.deepEqual(seen, ['a', 'k']);
    assert.equal(store.approximateSize(), 0);
  });

  it('refuses use after close', () => {
    const store = new MemoryKeyValueStore('kv');
    store.close();
    assert.throws(() => store.get(s('a')), /closed/);
  });

  it('range equals a sorted model for any operations (property)', () => {
    const op = fc.oneof(
      fc.record({ put: fc.uint8Array({ maxLength: 3 }), value: fc.nat(99) }),
      fc.record({ del: fc.uint8Array({ maxLength: 3 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 60 }),
        fc.uint8Array({ maxLength: 2 }),
        fc.uint8Array({ maxLength: 2 }),
        (ops, from, to) => {
          const store = new MemoryKeyValueStore('p');
          const model = new Map<string, string>();
          for (const o of ops) {
            if ('put' in o) {
              store.put(Buffer.from(o.put), Buffer.from(String(o.value)));
              model.set(Buffer.from(o.put).toString('hex'), String(o.value));
            } else {
              store.delete(Buffer.from(o.del));
              model.delete(Buffer.from(o.del).toString('hex'));
            }
          }
          const lo = Buffer.from(from);
          const hi = Buffer.from(to);
          const expected = [...model]
            .map(([k, v]) => [Buffer.from(k, 'hex'), v] as const)
            .filter(([k]) => Buffer.compare(k, lo) >= 0 && Buffer.compare(k, hi) < 0)
            .sort(([a], [c]) => Buffer.compare(a, c))
            .map(([k, v]) => [k.toString('hex'), v]);
          assert.deepEqual(entries(store.range(lo, hi)), expected);
          assert.equal(store.approximateSize(), model.size);
        },
      ),
    );
  });
});

describe('MemoryWindowStore', () => {
  it('keeps values per (key, start) and fetches a key ascending by start, bounds inclusive', () => {
    const store = new MemoryWindowStore('w');
    store.put(s('a'), 20, s('a20'));
    store.put(s('a'), 0, s('a0'));
    store.put(s('a'), 10, s('a10'));
    store.put(s('b'), 10, s('b10'));
    store.put(s('a'), 10, s('a10bis'));
    assert.equal(store.get(s('a'), 10)?.toString(), 'a10bis');
    assert.equal(store.get(s('a'), 5), undefined);
    assert.deepEqual(
      [...store.fetch(s('a'), 0, 10)].map(([start, v]) => [start, v.toString()]),
      [
        [0, 'a0'],
        [10, 'a10bis'],
      ],
    );
    assert.deepEqual(
      [...store.fetch(s('a'), 1, 100)].map(([start]) => start),
      [10, 20],
    );
    assert.deepEqual([...store.fetch(s('c'), 0, 100)], []);
    assert.equal(store.approximateSize(), 4);
  });

  it('accepts negative starts and orders them first', () => {
    const store = new MemoryWindowStore('w');
    store.put(s('a'), 5, s('x'));
    store.put(s('a'), -5, s('y'));
    assert.deepEqual(
      [...store.fetch(s('a'), -10, 10)].map(([start]) => start),
      [-5, 5],
    );
  });

  it('lists entries before a start, by start then key bytes, and deletes', () => {
    const store = new MemoryWindowStore('w');
    store.put(s('b'), 0, s('b0'));
    store.put(s('a'), 10, s('a10'));
    store.put(s('a'), 0, s('a0'));
    store.put(s('c'), 30, s('c30'));
    assert.deepEqual(
      [...store.expiredBefore(30)].map(([k, start, v]) => [k.toString(), start, v.toString()]),
      [
        ['a', 0, 'a0'],
        ['b', 0, 'b0'],
        ['a', 10, 'a10'],
      ],
    );
    assert.deepEqual([...store.expiredBefore(0)], []);
    store.delete(s('a'), 0);
    store.delete(s('a'), 0);
    store.delete(s('b'), 0);
    assert.deepEqual(
      [...store.expiredBefore(100)].map(([k, start]) => [k.toString(), start]),
      [
        ['a', 10],
        ['c', 30],
      ],
    );
    assert.equal(store.approximateSize(), 2);
  });

  it('fetch and expiredBefore equal a model for any operations (property)', () => {
    const op = fc.record({
      key: fc.constantFrom('a', 'b', 'c'),
      start: fc.integer({ min: -5, max: 20 }),
      del: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: -6, max: 21 }), (ops, bound) => {
        const store = new MemoryWindowStore('p');
        const model = new Map<string, string>();
        ops.forEach((o, i) => {
          if (o.del) {
            store.delete(s(o.key), o.start);
            model.delete(`${o.key}|${o.start}`);
          } else {
            store.put(s(o.key), o.start, s(String(i)));
            model.set(`${o.key}|${o.start}`, String(i));
          }
        });
        const all = [...model].map(([k, v]) => {
          const [key, start] = k.split('|');
          return { key: key!, start: Number(start), v };
        });
        const expected = all
          .filter((e) => e.start < bound)
          .sort((x, y) => x.start - y.start || (x.key < y.key ? -1 : 1))
          .map((e) => [e.key, e.start, e.v]);
        assert.deepEqual(
          [...store.expiredBefore(bound)].map(([k, start, v]) => [k.toString(), start, v.toString()]),
          expected,
        );
        for (const key of ['a', 'b', 'c']) {
          assert.deepEqual(
            [...store.fetch(s(key), -100, 100)].map(([start, v]) => [start, v.toString()]),
            all
              .filter((e) => e.key === key)
              .sort((x, y) => x.start - y.start)
              .map((e) => [e.start, e.v]),
          );
        }
        assert.equal(store.approximateSize(), model.size);
      }),
    );
  });
});

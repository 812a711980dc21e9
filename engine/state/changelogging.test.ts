import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import {
  ChangeLoggingKeyValueStore,
  ChangeLoggingWindowStore,
  decodeWindowKey,
  encodeWindowKey,
  StateStoreError,
} from './changelogging.js';
import { LmdbKeyValueStore, LmdbWindowStore } from './lmdb.js';
import { MemoryKeyValueStore, MemoryWindowStore } from './memory.js';
import type { ChangeRecord, KeyValueStore, WindowStore } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'sluice-changelog-'));
after(() => rmSync(root, { recursive: true, force: true }));
let made = 0;
const s = (text: string) => Buffer.from(text);
const shown = (changes: ChangeRecord[]) =>
  changes.map((c) => [c.key.toString('hex'), c.value?.toString() ?? null]);

const kvStores: [string, () => KeyValueStore][] = [
  ['memory', () => new MemoryKeyValueStore(`kv-${++made}`)],
  ['lmdb', () => LmdbKeyValueStore.open(root, `kv-${++made}`, { writeBufferEntries: 4 })],
];
const windowStores: [string, () => WindowStore][] = [
  ['memory', () => new MemoryWindowStore(`w-${++made}`)],
  ['lmdb', () => LmdbWindowStore.open(root, `w-${++made}`, { writeBufferEntries: 4 })],
];

describe('encodeWindowKey / decodeWindowKey', () => {
  const key = fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes));
  const anyStart = fc.oneof(
    fc.maxSafeInteger(),
    fc.integer({ min: -5, max: 5 }),
    fc.constantFrom(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 2 ** 32, -(2 ** 32)),
  );

  it('round-trips every key and safe-integer start', () => {
    fc.assert(
      fc.property(key, anyStart, (k, at) => {
        const decoded = decodeWindowKey(encodeWindowKey(k, at));
        assert.ok(decoded.key.equals(k));
        assert.equal(decoded.windowStart, at);
      }),
    );
  });

  it('orders the windows of one key by start, bytewise', () => {
    fc.assert(
      fc.property(key, anyStart, anyStart, (k, x, y) => {
        assert.equal(
          Math.sign(Buffer.compare(encodeWindowKey(k, x), encodeWindowKey(k, y))),
          Math.sign(x - y),
        );
      }),
    );
  });

  it('never encodes two different (key, start) pairs alike', () => {
    fc.assert(
      fc.property(key, key, anyStart, anyStart, (k1, k2, x, y) => {
        fc.pre(!k1.equals(k2) || x !== y);
        assert.ok(!encodeWindowKey(k1, x).equals(encodeWindowKey(k2, y)));
      }),
    );
  });

  it('rejects bytes that are not a window key, and starts that are not safe integers', () => {
    const bad = (err: unknown) =>
      err instanceof StateStoreError && err.code === 'SLUICE_STATE_INVALID_WINDOW_KEY';
    assert.throws(() => decodeWindowKey(Buffer.alloc(11)), bad);
    assert.throws(() => decodeWindowKey(Buffer.concat([encodeWindowKey(s('k'), 1), Buffer.alloc(1)])), bad);
    assert.throws(
      () => encodeWindowKey(s('k'), 0.5),
      (err: unknown) => err instanceof StateStoreError,
    );
    assert.throws(
      () => encodeWindowKey(s('k'), Number.NaN),
      (err: unknown) => err instanceof StateStoreError,
    );
  });
});

for (const [kind, make] of kvStores) {
  describe(`ChangeLoggingKeyValueStore over ${kind}`, () => {
    it('reports each put and delete once, in order, with null for deletes', () => {
      const changes: ChangeRecord[] = [];
      const store = new ChangeLoggingKeyValueStore(make(), (c) => changes.push(c));
      store.put(s('a'), s('1'));
      store.put(s('b'), s('2'));
      store.delete(s('a'));
      store.put(s('a'), s('3'));
      store.delete(s('never-written'));
      assert.equal(store.get(s('b'))?.toString(), '2');
      [...store.range()];
      store.flush();
      assert.deepEqual(shown(changes), [
        [s('a').toString('hex'), '1'],
        [s('b').toString('hex'), '2'],
        [s('a').toString('hex'), null],
        [s('a').toString('hex'), '3'],
        [s('never-written').toString('hex'), null],
      ]);
      store.close();
    });

    it('restore() rebuilds a store from its changelog exactly and reports nothing', () => {
      const op = fc.record({
        key: fc.constantFrom('a', 'b', 'c', 'ab', ''),
        value: fc.option(fc.string(), { nil: null }),
      });
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
          const changelog: ChangeRecord[] = [];
          const original = new ChangeLoggingKeyValueStore(make(), (c) => changelog.push(c));
          for (const { key, value } of ops) {
            if (value === null) original.delete(s(key));
            else original.put(s(key), s(value));
          }
          const reported: ChangeRecord[] = [];
          const restored = new ChangeLoggingKeyValueStore(make(), (c) => reported.push(c));
          restored.restore(changelog);
          assert.deepEqual(reported, []);
          assert.deepEqual(contents(restored), contents(original));
          assert.equal(restored.approximateSize(), original.approximateSize());
          original.close();
          restored.close();
        }),
        { numRuns: 40 },
      );
    });
  });
}

for (const [kind, make] of windowStores) {
  describe(`ChangeLoggingWindowStore over ${kind}`, () => {
    it('reports each put and delete once, keyed by encodeWindowKey(key, start)', () => {
      const changes: ChangeRecord[] = [];
      const store = new ChangeLoggingWindowStore(make(), (c) => changes.push(c));
      store.put(s('k'), 10, s('first'));
      store.put(s('k'), 20, s('second'));
      store.put(s('k'), 10, s('again'));
      store.delete(s('k'), 20);
      assert.deepEqual(shown(changes), [
        [encodeWindowKey(s('k'), 10).toString('hex'), 'first'],
        [encodeWindowKey(s('k'), 20).toString('hex'), 'second'],
        [encodeWindowKey(s('k'), 10).toString('hex'), 'again'],
        [encodeWindowKey(s('k'), 20).toString('hex'), null],
      ]);
      assert.deepEqual(decodeWindowKey(changes[3].key), { key: s('k'), windowStart: 20 });
      store.close();
    });

    it('restore() rebuilds a store from its changelog exactly and reports nothing', () => {
      const op = fc.record({
        key: fc.constantFrom('a', 'b', 'ab', ''),
        start: fc.integer({ min: -2, max: 4 }),
        value: fc.option(fc.string(), { nil: null }),
      });
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
          const changelog: ChangeRecord[] = [];
          const original = new ChangeLoggingWindowStore(make(), (c) => changelog.push(c));
          for (const { key, start, value } of ops) {
            if (value === null) original.delete(s(key), start);
            else original.put(s(key), start, s(value));
          }
          const reported: ChangeRecord[] = [];
          const restored = new ChangeLoggingWindowStore(make(), (c) => reported.push(c));
          restored.restore(changelog);
          assert.deepEqual(reported, []);
          assert.deepEqual(allWindows(restored), allWindows(original));
          assert.equal(restored.approximateSize(), original.approximateSize());
          original.close();
          restored.close();
        }),
        { numRuns: 40 },
      );
    });
  });
}

describe('change logging', () => {
  it('does not report a write the inner store refused', () => {
    const changes: ChangeRecord[] = [];
    const store = new ChangeLoggingKeyValueStore(LmdbKeyValueStore.open(root, 'refusing'), (c) =>
      changes.push(c),
    );
    assert.throws(() => store.put(Buffer.alloc(4096), s('v')));
    const windows = new ChangeLoggingWindowStore(LmdbWindowStore.open(root, 'refusing-windows'), (c) =>
      changes.push(c),
    );
    assert.throws(() => windows.put(s('k'), 0.5, s('v')));
    assert.deepEqual(changes, []);
    store.close();
    windows.close();
  });

  it('keeps no change record past the onChange call over 1,000,000 puts', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let reported = 0;
    let bytes = 0;
    const store = new ChangeLoggingKeyValueStore(discardingStore(), (c) => {
      reported++;
      bytes += c.key.length + (c.value?.length ?? 0);
    });
    const value = Buffer.alloc(64);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) {
      const key = Buffer.allocUnsafe(8);
      key.writeDoubleBE(i);
      store.put(key, value);
    }
    gc();
    const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    assert.equal(reported, 1_000_000);
    assert.equal(bytes, 72_000_000);
    assert.ok(grownMiB < 16, `heap grew by ${grownMiB.toFixed(1)} MiB`);
  });
});

function contents(store: KeyValueStore): [string, string][] {
  return [...store.range()].map(([k, v]) => [k.toString('hex'), v.toString('hex')]);
}

function allWindows(store: WindowStore): [string, number, string][] {
  return [...store.expiredBefore(Number.MAX_SAFE_INTEGER)].map(([k, start, v]) => [
    k.toString('hex'),
    start,
    v.toString('hex'),
  ]);
}

/** A store that keeps nothing, so the wrapper's own retention is all that is measured. */
function discardingStore(): KeyValueStore {
  return {
    name: 'discard',
    get: () => undefined,
    put: () => {},
    delete: () => {},
    range: () => [],
    approximateSize: () => 0,
    flush: () => {},
    close: () => {},
  };
}

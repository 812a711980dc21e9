import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CachingKeyValueStore, CachingWindowStore } from './caching.js';
import { ChangeLoggingKeyValueStore, ChangeLoggingWindowStore, decodeWindowKey } from './changelogging.js';
import { LmdbKeyValueStore, LmdbWindowStore } from './lmdb.js';
import { MemoryKeyValueStore, MemoryWindowStore } from './memory.js';
import type { ChangeRecord } from './types.js';

const s = (text: string) => Buffer.from(text);
const root = mkdtempSync(join(tmpdir(), 'sluice-caching-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('CachingKeyValueStore', () => {
  it('reaches the changelog once per key per flush, with the latest value', () => {
    const changes: ChangeRecord[] = [];
    const store = new CachingKeyValueStore(
      new ChangeLoggingKeyValueStore(new MemoryKeyValueStore('counts'), (c) => changes.push(c)),
    );
    for (let i = 1; i <= 100; i++) store.put(s(`k${i % 3}`), s(String(i)));
    store.delete(s('k0'));
    assert.equal(store.get(s('k1'))?.toString(), '100');
    assert.equal(store.get(s('k0')), undefined);
    assert.equal(changes.length, 0);
    store.flushCache();
    assert.deepEqual(
      changes.map((c) => [c.key.toString(), c.value?.toString() ?? null]),
      [
        ['k1', '100'],
        ['k2', '98'],
        ['k0', null],
      ],
    );
    store.flushCache();
    assert.equal(changes.length, 3);
    store.close();
  });

  it('flushes when full, so memory stays bounded', () => {
    const changes: ChangeRecord[] = [];
    const store = new CachingKeyValueStore(
      new ChangeLoggingKeyValueStore(new MemoryKeyValueStore('bounded'), (c) => changes.push(c)),
      100,
    );
    for (let i = 0; i < 250; i++) store.put(s(`k${i}`), s('v'));
    assert.equal(changes.length, 200);
    store.close();
    assert.equal(changes.length, 250);
  });

  it('a key lmdb refuses fails the put itself, not a later flush', () => {
    const store = new CachingKeyValueStore(LmdbKeyValueStore.open(root, 'long-keys'));
    assert.throws(
      () => store.put(Buffer.alloc(1978), s('v')),
      (err: Error & { code?: string }) => err.code === 'SLUICE_STATE_KEY_TOO_LARGE',
    );
    store.close();
    assert.throws(
      () => store.put(s('k'), s('v')),
      (err: Error & { code?: string }) => err.code === 'SLUICE_STATE_CLOSED',
    );
  });
});

describe('CachingWindowStore', () => {
  it('coalesces updates of a window; scans see cached writes', () => {
    const changes: ChangeRecord[] = [];
    const store = new CachingWindowStore(
      new ChangeLoggingWindowStore(new MemoryWindowStore('windows'), (c) => changes.push(c)),
    );
    for (let i = 0; i < 50; i++) store.put(s('device'), 60_000, s(String(i)));
    store.put(s('device'), 120_000, s('x'));
    assert.equal(store.get(s('device'), 60_000)?.toString(), '49');
    assert.equal(changes.length, 0);
    // A scan writes the cache down first.
    assert.deepEqual(
      [...store.fetch(s('device'), 0, 200_000)].map(([start, v]) => [start, v.toString()]),
      [
        [60_000, '49'],
        [120_000, 'x'],
      ],
    );
    assert.deepEqual(
      changes.map((c) => {
        const { key, windowStart } = decodeWindowKey(c.key);
        return [key.toString(), windowStart, c.value?.toString()];
      }),
      [
        ['device', 60_000, '49'],
        ['device', 120_000, 'x'],
      ],
    );
    store.delete(s('device'), 60_000);
    assert.deepEqual([...store.expiredBefore(100_000)], []);
    store.close();
  });

  it('a window that opens and closes between two flushes never reaches the changelog', () => {
    const changes: ChangeRecord[] = [];
    const store = new CachingWindowStore(
      new ChangeLoggingWindowStore(new MemoryWindowStore('short-lived'), (c) => changes.push(c)),
    );
    // Read-modify-write, as aggregations do: the first read finds nothing below.
    assert.equal(store.get(s('a'), 0), undefined);
    store.put(s('a'), 0, s('1'));
    store.put(s('a'), 0, s('2'));
    store.delete(s('a'), 0);
    assert.equal(store.get(s('a'), 0), undefined);
    // One that was written down before it closed does get its tombstone.
    assert.equal(store.get(s('b'), 0), undefined);
    store.put(s('b'), 0, s('1'));
    store.flushCache();
    store.delete(s('b'), 0);
    store.flushCache();
    assert.deepEqual(
      changes.map((c) => [decodeWindowKey(c.key).key.toString(), c.value?.toString() ?? null]),
      [
        ['b', '1'],
        ['b', null],
      ],
    );
    assert.deepEqual([...store.expiredBefore(1)], []);
    store.close();
  });

  it('an invalid window start fails the put itself', () => {
    const store = new CachingWindowStore(LmdbWindowStore.open(root, 'bad-starts'));
    assert.throws(
      () => store.put(s('k'), 1.5, s('v')),
      (err: Error & { code?: string }) => err.code === 'SLUICE_STATE_INVALID_WINDOW_START',
    );
    store.close();
  });
});

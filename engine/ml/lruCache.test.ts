import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LruCache } from './lruCache.js';
import { MemoryResultCache } from './resultCache.js';

describe('LruCache', () => {
  test('evicts the least recently used entry; a read counts as a use', () => {
    const lru = new LruCache<string, number>({ maxEntries: 2 });
    lru.set('a', 1);
    lru.set('b', 2);
    assert.equal(lru.get('a'), 1);
    lru.set('c', 3);
    assert.equal(lru.get('b'), undefined, 'b was the least recently used');
    assert.equal(lru.get('a'), 1);
    assert.equal(lru.get('c'), 3);
    lru.set('a', 10);
    lru.set('d', 4);
    assert.equal(lru.get('c'), undefined);
    assert.deepEqual([lru.get('a'), lru.get('d'), lru.size], [10, 4, 2]);
  });

  test('entries expire after ttlMs', () => {
    let now = 1000;
    const lru = new LruCache<string, string>({ maxEntries: 10, ttlMs: 50, now: () => now });
    lru.set('k', 'v');
    now += 49;
    assert.equal(lru.get('k'), 'v');
    now += 1;
    assert.equal(lru.has('k'), false);
    assert.equal(lru.get('k'), undefined);
    assert.equal(lru.size, 0, 'an expired entry read is dropped');
  });

  test('options are checked', () => {
    assert.throws(() => new LruCache({ maxEntries: 0 }), RangeError);
    assert.throws(() => new LruCache({ maxEntries: 1, ttlMs: 0 }), RangeError);
  });

  test('behaves as a model LRU for any sequence of operations', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 6 }) }),
      fc.record({
        kind: fc.constant('set' as const),
        key: fc.integer({ min: 0, max: 6 }),
        value: fc.integer(),
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
        const lru = new LruCache<number, number>({ maxEntries: max });
        // The model: keys from least to most recently used.
        let order: Array<[number, number]> = [];
        for (const o of ops) {
          const at = order.findIndex(([k]) => k === o.key);
          if (o.kind === 'get') {
            const expected = at < 0 ? undefined : order[at]![1];
            if (at >= 0) order = [...order.filter((_, i) => i !== at), order[at]!];
            assert.equal(lru.get(o.key), expected);
          } else {
            order = [...order.filter(([k]) => k !== o.key), [o.key, o.value]];
            if (order.length > max) order = order.slice(order.length - max);
            lru.set(o.key, o.value);
          }
          assert.equal(lru.size, order.length);
        }
      }),
    );
  });
});

describe('MemoryResultCache', () => {
  test('stores values by key, bounded by maxEntries', async () => {
    const cache = new MemoryResultCache<{ label: string }>({ maxEntries: 1 });
    assert.equal(cache.kind, 'memory');
    assert.equal(await cache.get('x'), undefined);
    await cache.set('x', { label: 'cat' });
    assert.deepEqual(await cache.get('x'), { label: 'cat' });
    await cache.set('y', { label: 'dog' });
    assert.equal(await cache.get('x'), undefined);
    await cache.close();
    assert.equal(await cache.get('y'), undefined);
  });
});

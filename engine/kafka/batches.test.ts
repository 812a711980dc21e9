import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Message } from 'kafkajs';
import { inRequests, recordBytes } from './batches.js';

const msg = (i: number, size: number): Message => ({ key: `k${i}`, value: Buffer.alloc(size, i & 0xff) });

describe('inRequests', () => {
  it('splits by bytes, keeps every message once and in order per topic', () => {
    const a = Array.from({ length: 1000 }, (_, i) => msg(i, 900));
    const b = Array.from({ length: 10 }, (_, i) => msg(i, 100));
    const requests = inRequests(
      [
        { topic: 'a', messages: a },
        { topic: 'b', messages: b },
      ],
      100_000,
    );
    assert.ok(requests.length >= 9, `${requests.length} requests`);
    for (const r of requests) {
      const bytes = r.flatMap((t) => t.messages).reduce((n, m) => n + recordBytes(m), 0);
      assert.ok(bytes <= 100_000, `a request of ${bytes} bytes`);
      for (const t of r) assert.ok(t.messages.length > 0);
    }
    const of = (topic: string) =>
      requests.flatMap((r) => r.filter((t) => t.topic === topic).flatMap((t) => t.messages));
    assert.deepEqual(of('a'), a);
    assert.deepEqual(of('b'), b);
  });

  it('sends a record larger than the limit alone, and nothing for nothing', () => {
    const big = msg(1, 2_000_000);
    const requests = inRequests([{ topic: 't', messages: [msg(0, 10), big, msg(2, 10)] }], 1000);
    assert.deepEqual(
      requests.map((r) => r[0]!.messages.length),
      [1, 1, 1],
    );
    assert.deepEqual(inRequests([{ topic: 't', messages: [] }]), []);
    assert.deepEqual(inRequests([]), []);
  });

  it('counts keys, values and headers in bytes', () => {
    assert.equal(recordBytes({ key: 'é', value: null }), 24 + 2);
    assert.equal(
      recordBytes({ key: null, value: Buffer.alloc(10), headers: { h: Buffer.alloc(5), s: 'ab' } }),
      24 + 10 + 1 + 5 + 1 + 2,
    );
  });
});

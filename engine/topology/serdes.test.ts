import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Serdes } from './index.js';

describe('Serdes', () => {
  it('string, json and bytes round-trip; null stays null', () => {
    assert.equal(Serdes.string().serialize('héllo', 't')!.toString('hex'), '68c3a96c6c6f');
    assert.equal(Serdes.string().deserialize(Buffer.from('x'), 't'), 'x');
    assert.deepEqual(Serdes.json<{ a: number[] }>().deserialize(Buffer.from('{"a":[1,2]}'), 't'), {
      a: [1, 2],
    });
    assert.equal(Serdes.json().serialize({ b: true }, 't')!.toString(), '{"b":true}');
    const bytes = Buffer.from([1, 2, 3]);
    assert.equal(Serdes.bytes().deserialize(bytes, 't'), bytes);
    for (const serde of [Serdes.string(), Serdes.json(), Serdes.bytes(), Serdes.int64(), Serdes.float64()]) {
      assert.equal(serde.serialize(null as never, 't'), null);
      assert.equal(serde.deserialize(null, 't'), null);
    }
  });

  it('int64 is 8 bytes big-endian, signed, as Kafka LongSerde', () => {
    const int = Serdes.int64();
    assert.equal(int.serialize(1, 't')!.toString('hex'), '0000000000000001');
    assert.equal(int.serialize(-2, 't')!.toString('hex'), 'fffffffffffffffe');
    assert.equal(int.deserialize(Buffer.from('00000000000001f4', 'hex'), 't'), 500);
    assert.throws(() => int.serialize(1.5, 't'), /safe integer/);
    assert.throws(() => int.deserialize(Buffer.alloc(4), 't'), /8 bytes/);
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        assert.equal(int.deserialize(int.serialize(n, 't'), 't'), n);
      }),
    );
  });

  it('float64 is an 8-byte big-endian double', () => {
    const f = Serdes.float64();
    assert.equal(f.serialize(1.5, 't')!.toString('hex'), '3ff8000000000000');
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (x) => {
        assert.equal(f.deserialize(f.serialize(x, 't'), 't'), x);
      }),
    );
  });

  it('windowed keys are the key bytes, then start and end as int64', () => {
    const w = Serdes.windowed(Serdes.string());
    assert.equal(
      w.serialize({ key: 'k', start: 10, end: 20 }, 't')!.toString('hex'),
      '6b000000000000000a0000000000000014',
    );
    fc.assert(
      fc.property(fc.string(), fc.maxSafeInteger(), fc.maxSafeInteger(), (key, start, end) => {
        assert.deepEqual(w.deserialize(w.serialize({ key, start, end }, 't'), 't'), { key, start, end });
      }),
    );
  });
});

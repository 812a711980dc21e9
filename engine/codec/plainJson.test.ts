import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromPlainJson, PlainJsonError, parseForJson, toPlainJson } from './plainJson.js';

const schema = {
  type: 'record',
  name: 'Reading',
  namespace: 'test',
  fields: [
    { name: 'deviceId', type: 'string' },
    { name: 'value', type: 'double' },
    { name: 'occurredAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'unit', type: ['null', 'string'], default: null },
    {
      name: 'quality',
      type: { type: 'enum', name: 'Quality', symbols: ['GOOD', 'BAD', 'UNKNOWN'], default: 'UNKNOWN' },
      default: 'GOOD',
    },
    { name: 'tags', type: { type: 'map', values: 'string' }, default: {} },
    { name: 'raw', type: ['null', 'bytes'], default: null },
    { name: 'either', type: ['null', 'int', 'string'], default: null },
    {
      name: 'nested',
      type: ['null', { type: 'record', name: 'Loc', fields: [{ name: 'lat', type: 'double' }] }],
      default: null,
    },
  ],
};

describe('plain JSON <-> Avro values', () => {
  const type = parseForJson(schema);

  it('fills defaults, resolves unions by value and accepts ISO-8601 timestamps', () => {
    const v = fromPlainJson(type, {
      deviceId: 'd1',
      value: 21.5,
      occurredAt: '2026-01-02T03:04:05.678Z',
      either: 'text',
      nested: { lat: 1.5 },
      raw: '\u0000\u00ff',
    }) as Record<string, unknown>;
    assert.equal(v.occurredAt, Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    assert.equal(v.unit, null);
    assert.equal(v.quality, 'GOOD');
    assert.deepEqual(v.tags, {});
    assert.equal(v.either, 'text');
    assert.deepEqual(v.raw, Buffer.from([0, 255]));
    assert.ok(type.isValid(v));
    const back = toPlainJson(type, type.fromBuffer(type.toBuffer(v)));
    assert.deepEqual(back, {
      deviceId: 'd1',
      value: 21.5,
      occurredAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
      unit: null,
      quality: 'GOOD',
      tags: {},
      raw: '\u0000\u00ff',
      either: 'text',
      nested: { lat: 1.5 },
    });
    assert.equal(
      (fromPlainJson(type, { deviceId: 'd', value: 1, occurredAt: 5, either: 7 }) as { either: number })
        .either,
      7,
    );
  });

  const fails = (input: unknown, path: string, message: RegExp) =>
    assert.throws(
      () => fromPlainJson(type, input),
      (err: PlainJsonError) => {
        assert.ok(err instanceof PlainJsonError);
        assert.equal(err.path, path);
        assert.match(err.message, message);
        return true;
      },
    );

  it('names the field at fault', () => {
    fails({ value: 1, occurredAt: 1 }, 'deviceId', /is required and has no default/);
    fails({ deviceId: 'd', value: 'hot', occurredAt: 1 }, 'value', /expected double, got string "hot"/);
    fails({ deviceId: 'd', value: 1, occurredAt: 'yesterday' }, 'occurredAt', /expected a timestamp/);
    fails({ deviceId: 'd', value: 1, occurredAt: 1, colour: 'red' }, 'colour', /is not in the schema/);
    fails({ deviceId: 'd', value: 1, occurredAt: 1, quality: 'OK' }, 'quality', /expected enum/);
    fails({ deviceId: 'd', value: 1, occurredAt: 1, tags: { a: 1 } }, 'tags.a', /expected string/);
    fails(
      { deviceId: 'd', value: 1, occurredAt: 1, nested: { lat: 'x' } },
      'nested',
      /matches none of null, test.Loc/,
    );
    fails([1], '', /expected an object/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { SluiceError } from '../errors.js';
import { AvroDeserializer, AvroSerializer, type SchemaRegistryLike } from './avroCodec.js';
import { DecodeError, type EncodeError } from './errors.js';

/** A registry held in memory: unit tests of the framing, not of the registry. */
class MemoryRegistry implements SchemaRegistryLike {
  schemas: string[] = [];
  fetches = 0;
  failWith: Error | null = null;
  async getSchemaById(id: number): Promise<string> {
    this.fetches++;
    if (this.failWith) throw this.failWith;
    const s = this.schemas[id - 1];
    if (!s) throw Object.assign(new Error('Schema not found'), { status: 404, retriable: false });
    return s;
  }
  async register(_subject: string, schema: string): Promise<number> {
    const i = this.schemas.indexOf(schema);
    if (i >= 0) return i + 1;
    this.schemas.push(schema);
    return this.schemas.length;
  }
  async lookup(_subject: string, schema: string) {
    const i = this.schemas.indexOf(schema);
    return i < 0 ? null : { id: i + 1, version: 1 };
  }
}

const v1 = {
  type: 'record',
  name: 'Reading',
  namespace: 'test',
  fields: [
    { name: 'deviceId', type: 'string' },
    { name: 'value', type: 'double' },
  ],
};
const v2 = {
  ...v1,
  fields: [...v1.fields, { name: 'unit', type: ['null', 'string'], default: null }],
};

describe('AvroSerializer / AvroDeserializer', () => {
  it('frames values as magic 0 + big-endian schema id + Avro body', async () => {
    const reg = new MemoryRegistry();
    await reg.register('other', '{"type":"string"}');
    const ser = new AvroSerializer(reg, 'readings-value', v1);
    const bytes = await ser.encode({ deviceId: 'd1', value: 1.5 });
    assert.equal(bytes[0], 0);
    assert.equal(bytes.readInt32BE(1), 2);
    assert.deepEqual(bytes.subarray(5), ser.type.toBuffer({ deviceId: 'd1', value: 1.5 }));
    assert.deepEqual(ser.encodeSync({ deviceId: 'd1', value: 1.5 }), bytes);
  });

  it('a v2 reader decodes v1 data with the new field defaulted, fetching the writer schema once', async () => {
    const reg = new MemoryRegistry();
    const ser = new AvroSerializer(reg, 'readings-value', v1);
    const de = new AvroDeserializer<{ deviceId: string; value: number; unit: string | null }>(reg, v2);
    for (let i = 0; i < 5; i++) {
      const out = await de.decode(await ser.encode({ deviceId: `d${i}`, value: i }));
      assert.deepEqual({ ...out }, { deviceId: `d${i}`, value: i, unit: null });
    }
    assert.equal(reg.fetches, 1);
  });

  it('encodes values of any size, the first one far larger than the scratch buffer included', async () => {
    for (const size of [100_000, 10, 1_000_000, 5_000]) {
      const ser = new AvroSerializer(new MemoryRegistry(), 'readings-value', v1);
      const value = { deviceId: 'x'.repeat(size), value: size };
      const bytes = await ser.encode(value);
      assert.deepEqual(bytes.subarray(5), ser.type.toBuffer(value), `first value of ${size} bytes`);
      const small = { deviceId: 'd', value: 1 };
      assert.deepEqual(ser.encodeSync(small).subarray(5), ser.type.toBuffer(small));
    }
  });

  it('names the field at fault when a value does not fit', async () => {
    const ser = new AvroSerializer(new MemoryRegistry(), 'readings-value', v1);
    await assert.rejects(ser.encode({ deviceId: 'd', value: 'high' } as never), (err: EncodeError) => {
      assert.equal(err.code, 'SLUICE_CODEC_INVALID_VALUE');
      assert.equal(err.path, 'value');
      return true;
    });
  });

  it('gives a typed error for each kind of bad payload', async () => {
    const reg = new MemoryRegistry();
    const ser = new AvroSerializer(reg, 's', v1);
    const good = await ser.encode({ deviceId: 'device-1', value: 2 });
    const de = new AvroDeserializer(reg, v2);
    const origin = { topic: 't', partition: 2, offset: '17' };
    const expectFailure = async (payload: Buffer, reason: string, code: string) => {
      await assert.rejects(de.decode(payload, origin), (err: DecodeError) => {
        assert.ok(err instanceof DecodeError);
        assert.equal(err.reason, reason);
        assert.equal(err.code, code);
        assert.match(err.message, /\(t-2@17\)/);
        return true;
      });
    };
    const badMagic = Buffer.from(good);
    badMagic[0] = 1;
    await expectFailure(badMagic, 'bad-magic', 'SLUICE_CODEC_BAD_MAGIC');
    await expectFailure(Buffer.from([0, 0, 0]), 'truncated', 'SLUICE_CODEC_TRUNCATED');
    await expectFailure(good.subarray(0, good.length - 3), 'truncated', 'SLUICE_CODEC_TRUNCATED');
    await expectFailure(
      Buffer.concat([good, Buffer.from([1, 2])]),
      'invalid-body',
      'SLUICE_CODEC_INVALID_BODY',
    );
    const unknown = Buffer.from(good);
    unknown.writeInt32BE(999, 1);
    await expectFailure(unknown, 'unknown-schema', 'SLUICE_CODEC_UNKNOWN_SCHEMA_ID');
    // A writer schema the reader cannot resolve (string value vs double).
    const other = new AvroSerializer(reg, 's', { ...v1, fields: [{ name: 'value', type: 'string' }] });
    await expectFailure(
      await other.encode({ value: 'x' }),
      'unresolvable',
      'SLUICE_CODEC_INCOMPATIBLE_SCHEMA',
    );
    // A registry that is down is retriable, and the schema is fetched again later.
    const down = new MemoryRegistry();
    down.schemas = reg.schemas;
    down.failWith = Object.assign(new Error('503'), { retriable: true });
    const de2 = new AvroDeserializer(down, v2);
    await assert.rejects(
      de2.decode(good, origin),
      (err: DecodeError) => err.reason === 'registry-unavailable' && err.retriable,
    );
    down.failWith = null;
    assert.equal(((await de2.decode(good)) as { deviceId: string }).deviceId, 'device-1');
  });

  it('decodeSync needs the writer schema loaded first', async () => {
    const reg = new MemoryRegistry();
    const payload = await new AvroSerializer(reg, 's', v1).encode({ deviceId: 'a', value: 1 });
    const de = new AvroDeserializer(reg);
    assert.throws(
      () => de.decodeSync(payload),
      (e: SluiceError) => e.code === 'SLUICE_CODEC_NOT_READY',
    );
    await de.load(payload.readInt32BE(1));
    assert.equal((de.decodeSync(payload) as { deviceId: string }).deviceId, 'a');
  });

  it('property: any value of the schema round-trips, and no random bytes crash the decoder untyped', async () => {
    const reg = new MemoryRegistry();
    const ser = new AvroSerializer(reg, 's', v2);
    const de = new AvroDeserializer(reg, v2);
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          deviceId: fc.string(),
          value: fc.double({ noNaN: true }),
          unit: fc.option(fc.string(), { nil: null }),
        }),
        async (value) => {
          assert.deepEqual({ ...((await de.decode(await ser.encode(value))) as object) }, { ...value });
        },
      ),
    );
    const id = await ser.schemaId();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 40 }), async (body) => {
        const payload = Buffer.concat([Buffer.from([0, 0, 0, 0, id]), body]);
        try {
          await de.decode(payload);
        } catch (err) {
          assert.ok(err instanceof DecodeError, String(err));
        }
      }),
    );
  });
});

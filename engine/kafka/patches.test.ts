import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { decodeRecords, splitProducedBatches } from '../protocol/recordBatch.js';

const require = createRequire(import.meta.url);

type Group = (args: {
  topic: string;
  partitionMetadata: { partitionId: number }[];
  messages: { key: string; partition?: number }[];
  partitioner: (args: { message: { partition?: number } }) => number;
}) => Record<number, { key: string }[]>;

// patches/kafkajs+2.2.4.patch, applied by `npm install` (postinstall: patch-package).
describe('the kafkajs patch', () => {
  it('is applied: sendBatch groups messages per partition in one pass', () => {
    const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
    const group = require(path) as Group;
    assert.match(group.toString(), /for \(const message of messages\)/, `${path} is not patched`);
    const messages = Array.from({ length: 60_000 }, (_, i) => ({
      key: `k${i}`,
      partition: i % 3 === 0 ? 0 : 1,
    }));
    const grouped = group({
      topic: 't',
      partitionMetadata: [{ partitionId: 0 }, { partitionId: 1 }],
      messages,
      partitioner: ({ message }) => message.partition!,
    });
    assert.deepEqual(Object.keys(grouped), ['0', '1']);
    assert.deepEqual(
      grouped[0]!.map((m) => m.key),
      messages.filter((m) => m.partition === 0).map((m) => m.key),
    );
    assert.equal(grouped[1]!.length, 40_000);
  });

  it('is applied: merging topicMessages of one topic concatenates once', () => {
    const source = readFileSync(require.resolve('kafkajs/src/producer/messageProducer.js'), 'utf8');
    assert.match(source, /merged\[index\]\.messages\.concat\(messages\)/);
  });

  it('is applied: the default partitioner hashes keys as Kafka does, without long.js', () => {
    const path = require.resolve('kafkajs/src/producer/partitioners/default/murmur2.js');
    assert.match(readFileSync(path, 'utf8'), /Math\.imul/, `${path} is not patched`);
    const murmur2 = require(path) as (key: Buffer | string) => number;
    // Kafka's own test vectors (UtilsTest.testMurmur2).
    const vectors: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of vectors) assert.equal(murmur2(Buffer.from(key)), hash, key);
    const { Partitioners } = require('kafkajs') as typeof import('kafkajs');
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 12 }, (_, i) => ({
      partitionId: i,
      leader: i === 5 ? -1 : 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));
    const pick = (key: string | null) =>
      partitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
    for (const [key, hash] of vectors) assert.equal(pick(key), (hash & 0x7fffffff) % 12, key);
    // Keyless messages still go round robin over the partitions that have a leader.
    const keyless = new Set(Array.from({ length: 22 }, () => pick(null)));
    assert.equal(keyless.size, 11);
    assert.ok(!keyless.has(5));
  });

  it('is applied: varlongs that fit 32 bits skip long.js and give the same bytes', () => {
    const Encoder = require('kafkajs/src/protocol/encoder.js') as KafkaEncoder;
    assert.match(
      readFileSync(require.resolve('kafkajs/src/protocol/encoder.js'), 'utf8'),
      /Patched by Sluice/,
    );
    const values = [
      0,
      1,
      -1,
      63,
      -64,
      64,
      8191,
      -8192,
      2 ** 20,
      -(2 ** 30),
      2 ** 30 - 1,
      2 ** 30,
      -(2 ** 30) - 1,
    ];
    values.push(2 ** 40 + 7, -(2 ** 45), Number.MAX_SAFE_INTEGER, 1_767_225_600_000);
    for (const v of values) {
      const bytes = new Encoder().writeVarLong(v).buffer;
      assert.deepEqual([...bytes], zigzagVarlong(BigInt(v)), `varlong ${v}`);
      assert.equal(Encoder.sizeOfVarLong(v), bytes.length, `size of varlong ${v}`);
    }
  });

  it('is applied: produce requests still encode records the broker decodes exactly', async () => {
    const request = require('kafkajs/src/protocol/requests/produce/v3/request.js') as ProduceRequest;
    const source = readFileSync(
      require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js'),
      'utf8',
    );
    assert.match(source, /Number\(message\.timestamp/);
    const base = 1_767_225_600_000;
    const messages = Array.from({ length: 300 }, (_, i) => ({
      key: i % 7 === 0 ? null : Buffer.from(`device-${i}`),
      value: i % 11 === 0 ? null : Buffer.alloc(i, i & 0xff),
      headers: i % 5 === 0 ? { trace: Buffer.from(`t${i}`), kind: 'x' } : {},
      // Out of order, and one delta beyond 32-bit zigzag (the slow path).
      timestamp: String(i === 299 ? base + 2 ** 31 : base + ((i * 7919) % 1000)),
    }));
    const { buffer } = await request({
      acks: -1,
      timeout: 1000,
      compression: 0,
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages }] }],
    }).encode();
    // Request body: transactionalId (null), acks, timeout, [topic: name, [partition, records]].
    let pos = 2 + 2 + 4 + 4;
    pos += 2 + buffer.readInt16BE(pos) + 4 + 4;
    const size = buffer.readInt32BE(pos);
    const batches = splitProducedBatches(buffer.subarray(pos + 4, pos + 4 + size), false);
    assert.equal(batches.length, 1);
    const records = decodeRecords(batches[0]!);
    assert.equal(records.length, messages.length);
    records.forEach((r, i) => {
      const m = messages[i]!;
      assert.equal(r.offset, i);
      assert.equal(r.timestamp, Number(m.timestamp), `timestamp of record ${i}`);
      assert.deepEqual(r.key, m.key);
      assert.deepEqual(r.value, m.value);
      assert.deepEqual(
        r.headers.map((h) => [h.key, h.value?.toString()]),
        Object.entries(m.headers).map(([k, v]) => [k, v.toString()]),
      );
    });
  });

  it('is applied: varlongs of up to 7 bytes decode to numbers, longer ones as before', () => {
    const Decoder = require('kafkajs/src/protocol/decoder.js') as KafkaDecoder;
    assert.match(
      readFileSync(require.resolve('kafkajs/src/protocol/decoder.js'), 'utf8'),
      /readVarLongNumber\(\)/,
    );
    const values = [0n, 1n, -1n, 63n, -64n, 64n, 2n ** 31n, -(2n ** 40n), 1_767_225_600_000n];
    values.push(2n ** 48n - 1n, -(2n ** 48n), 2n ** 48n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n));
    for (const v of values) {
      const bytes = zigzagVarlong(v);
      const decoder = new Decoder(Buffer.from([...bytes, 0x2a]));
      const read = decoder.readVarLongNumber();
      assert.equal(typeof read, bytes.length <= 7 ? 'number' : 'object', `type for ${v}`);
      assert.equal(String(read), String(v), `varlong ${v}`);
      assert.equal(decoder.offset, bytes.length, `bytes read for ${v}`);
    }
    // More than 10 bytes: the same error as readVarLong.
    const { KafkaJSInvalidLongError } = require('kafkajs/src/errors.js') as {
      KafkaJSInvalidLongError: new () => Error;
    };
    const malformed = Buffer.alloc(12, 0xff);
    assert.throws(() => new Decoder(malformed).readVarLongNumber(), KafkaJSInvalidLongError);
    assert.throws(() => new Decoder(malformed).readVarLongNumber(), /must contain 9 bytes or less/);
  });

  it('is applied: fetched record batches decode in place, offsets and timestamps as before', async () => {
    const batchPath = require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder.js');
    const recordPath = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
    assert.match(readFileSync(batchPath, 'utf8'), /fastBatchContext/, `${batchPath} is not patched`);
    assert.match(readFileSync(recordPath, 'utf8'), /readHeadersInPlace/, `${recordPath} is not patched`);
    const decodeBatch = require(batchPath) as (decoder: unknown) => Promise<DecodedBatch>;
    const Decoder = require('kafkajs/src/protocol/decoder.js') as KafkaDecoder;
    const Encoder = require('kafkajs/src/protocol/encoder.js') as RecordEncoder;
    const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (
      r: RecordSpec,
    ) => unknown;
    const Header = require('kafkajs/src/protocol/recordBatch/header/v0/index.js') as (h: {
      key: string;
      value: Buffer;
    }) => unknown;
    const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
      RecordBatch: (args: Record<string, unknown>) => Promise<{ buffer: Buffer }>;
    };
    const Long = require('kafkajs/src/utils/long.js') as { fromString(s: string): unknown };

    // Interleaved repeated keys and 2 trailing bytes inside the record's length, which Record()
    // cannot produce: the decoder must skip to the record's end.
    const handmade = (spec: RecordSpec, headers: [string, string][]) => {
      const body = new Encoder()
        .writeInt8(0)
        .writeVarLong(spec.timestampDelta)
        .writeVarInt(spec.offsetDelta)
        .writeVarIntBytes(spec.key)
        .writeVarIntBytes(spec.value)
        .writeVarIntArray(headers.map(([key, value]) => Header({ key, value: Buffer.from(value) })))
        .writeInt8(0x55)
        .writeInt8(0x55);
      return new Encoder().writeVarInt(body.size()).writeEncoder(body);
    };
    const specs = (n: number, deltas: number[]): (RecordSpec & { expectedHeaders: object })[] =>
      Array.from({ length: n }, (_, i) => {
        const headers: Record<string, string | string[]> =
          i % 4 === 1 ? { trace: `t${i}` } : i % 4 === 2 ? { a: ['1', '2'], b: 'x' } : {};
        return {
          offsetDelta: i,
          timestampDelta: deltas[i % deltas.length]!,
          key: i % 3 === 0 ? null : Buffer.from(`key-${i}`),
          value: i % 5 === 0 ? null : Buffer.alloc(i * 3, i),
          headers,
          expectedHeaders: Object.fromEntries(
            Object.entries(headers).map(([k, v]) => [
              k,
              Array.isArray(v) ? v.map((x) => Buffer.from(x)) : Buffer.from(v),
            ]),
          ),
        };
      });

    const cases = [
      // 1.7e12 timestamps, deltas on both sides, and 2^50 (an 8-byte varlong: the Long path).
      { firstOffset: '0', firstTimestamp: '1767225600000', deltas: [0, -1500, 42, 2 ** 50, -7] },
      // First offset above 2^53: only the Long path is exact.
      { firstOffset: '9007199254740993', firstTimestamp: '5', deltas: [-3, 10, 0] },
      // Offsets crossing 2^53 within the batch, gzip-compressed.
      { firstOffset: String(2n ** 53n - 3n), firstTimestamp: '1700000000000', deltas: [1, -1], gzip: true },
      // LOG_APPEND_TIME: every record carries the batch's max timestamp.
      { firstOffset: '77', firstTimestamp: '1767225600000', deltas: [5, -5], logAppendTime: true },
    ];
    for (const c of cases) {
      const records = specs(12, c.deltas);
      const encoded = records.map((r) => Record(r));
      const last = records.length;
      const extra = {
        offsetDelta: last,
        timestampDelta: -2,
        key: Buffer.from('h'),
        value: Buffer.from('v'),
      };
      // In the middle of the batch, so that a wrong skip would garble the records after it.
      encoded.splice(
        5,
        0,
        handmade(extra, [
          ['a', '1'],
          ['b', '2'],
          ['a', '3'],
          ['a', '4'],
        ]),
      );
      const maxTimestamp = String(BigInt(c.firstTimestamp) + 2n ** 50n + 9n);
      const { buffer } = await RecordBatch({
        compression: c.gzip ? 1 : 0,
        records: encoded,
        firstOffset: Long.fromString(c.firstOffset),
        firstTimestamp: Long.fromString(c.firstTimestamp),
        maxTimestamp: Long.fromString(maxTimestamp),
        lastOffsetDelta: last,
      });
      // Attributes (int16) follow firstOffset, length, partitionLeaderEpoch, magic and crc.
      if (c.logAppendTime) buffer[22] = buffer[22]! | 0x08;
      const fetched = new Decoder(Buffer.concat([buffer, Buffer.from([1, 2, 3])]));
      const batch = await decodeBatch(fetched);
      assert.equal(fetched.offset, buffer.length, 'the batch is consumed exactly');

      const batchContext = {
        firstOffset: c.firstOffset,
        firstTimestamp: c.firstTimestamp,
        partitionLeaderEpoch: 0,
        inTransaction: false,
        isControlBatch: false,
        lastOffsetDelta: last,
        producerId: '-1',
        producerEpoch: 0,
        firstSequence: 0,
        maxTimestamp,
        timestampType: c.logAppendTime ? 1 : 0,
        magicByte: 2,
      };
      const expected = [
        ...records.slice(0, 5),
        {
          ...extra,
          expectedHeaders: {
            a: [Buffer.from('1'), Buffer.from('3'), Buffer.from('4')],
            b: Buffer.from('2'),
          },
        },
        ...records.slice(5),
      ].map((r) => ({
        magicByte: 2,
        attributes: 0,
        timestamp: c.logAppendTime
          ? maxTimestamp
          : String(BigInt(c.firstTimestamp) + BigInt(r.timestampDelta)),
        offset: String(BigInt(c.firstOffset) + BigInt(r.offsetDelta)),
        key: r.key,
        value: r.value,
        headers: r.expectedHeaders,
        isControlRecord: false,
        batchContext,
      }));
      assert.equal(batch.records.length, expected.length);
      batch.records.forEach((record, i) => {
        assert.deepEqual(Object.keys(record), Object.keys(expected[i]!));
        assert.deepEqual(record, expected[i], `record ${i} of batch at ${c.firstOffset}`);
      });
    }
  });
});

interface KafkaEncoder {
  new (): { writeVarLong(v: number): { buffer: Buffer } };
  sizeOfVarLong(v: number): number;
}

interface KafkaDecoder {
  new (buffer: Buffer): { offset: number; readVarLongNumber(): number | { toString(): string } };
}

interface RecordEncoder {
  new (): RecordEncoderInstance;
}
interface RecordEncoderInstance {
  writeInt8(v: number): RecordEncoderInstance;
  writeVarInt(v: number): RecordEncoderInstance;
  writeVarLong(v: number): RecordEncoderInstance;
  writeVarIntBytes(v: Buffer | null): RecordEncoderInstance;
  writeVarIntArray(v: unknown[]): RecordEncoderInstance;
  writeEncoder(v: RecordEncoderInstance): RecordEncoderInstance;
  size(): number;
}

interface RecordSpec {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string | string[]>;
}

interface DecodedBatch {
  records: Record<string, unknown>[];
}

type ProduceRequest = (args: {
  acks: number;
  timeout: number;
  compression: number;
  topicData: { topic: string; partitions: { partition: number; messages: unknown[] }[] }[];
}) => { encode(): Promise<{ buffer: Buffer }> };

/** Kafka's varlong: zigzag over 64 bits, then 7 bits a byte, low first. */
function zigzagVarlong(v: bigint): number[] {
  let u = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  while (u >= 0x80n) {
    out.push(Number((u & 0x7fn) | 0x80n));
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}

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
});

interface KafkaEncoder {
  new (): { writeVarLong(v: number): { buffer: Buffer } };
  sizeOfVarLong(v: number): number;
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

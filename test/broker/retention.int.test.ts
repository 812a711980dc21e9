import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { kafkaClient, withBroker } from '../helpers/broker.js';

async function readAll(
  kafka: Kafka,
  topic: string,
  expected: number,
): Promise<{ offset: number; key: string; value: string | null }[]> {
  const consumer = kafka.consumer({ groupId: `read-${topic}-${Math.random()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const out: { offset: number; key: string; value: string | null }[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${expected}`)), 20_000);
    consumer.run({
      eachMessage: async ({ message }) => {
        out.push({
          offset: Number(message.offset),
          key: message.key!.toString(),
          value: message.value ? message.value.toString() : null,
        });
        if (out.length === expected) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  // Nothing more arrives after the expected count.
  await new Promise((r) => setTimeout(r, 300));
  await consumer.disconnect();
  return out;
}

async function waitUntil(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('compaction and retention through real clients', () => {
  let env: Awaited<ReturnType<typeof withBroker>>;
  let kafka: Kafka;
  before(async () => {
    env = await withBroker({ 'log.cleaner.backoff.ms': 100, 'log.retention.check.interval.ms': 100 });
    kafka = kafkaClient(env.bootstrap);
  });
  after(() => env.stop());

  it('the background cleaner keeps the latest value per key and removes expired tombstones', async () => {
    const topic = 'compacted';
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: 1,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'segment.bytes', value: '2048' },
            { name: 'delete.retention.ms', value: '0' },
          ],
        },
      ],
    });
    const producer = kafka.producer();
    await producer.connect();
    const latest = new Map<string, string | null>();
    for (let version = 0; version < 10; version++) {
      const messages = Array.from({ length: 30 }, (_, k) => {
        // Keys 0-4 end deleted: their last write is a tombstone.
        const value = version === 9 && k < 5 ? null : `k${k}-v${version}`;
        latest.set(`k${k}`, value);
        return { key: `k${k}`, value };
      });
      for (const m of messages) await producer.send({ topic, messages: [m] });
    }
    // Close the active segment so every record is eligible, as time would in production.
    await producer.send({ topic, messages: [{ key: 'filler', value: 'x'.repeat(2100) }] });
    await producer.send({ topic, messages: [{ key: 'end', value: 'end' }] });
    await producer.disconnect();
    const expected = [...latest.entries()].filter(([, v]) => v !== null).length + 2;
    await waitUntil(async () => {
      const log = env.broker.topics.partitionLog(topic, 0)!;
      let count = 0;
      for (let offset = log.logStartOffset; offset < log.logEndOffset; ) {
        const { chunks } = log.read(offset, 1 << 20);
        if (chunks.length === 0) break;
        const buf = chunks[0];
        let pos = 0;
        while (pos < buf.length) {
          count += buf.readInt32BE(pos + 57);
          offset = Number(buf.readBigInt64BE(pos)) + buf.readInt32BE(pos + 23) + 1;
          pos += 12 + buf.readInt32BE(pos + 8);
        }
      }
      return count === expected;
    }, 'compaction');
    const records = await readAll(kafka, topic, expected);
    const byKey = new Map(records.map((r) => [r.key, r.value]));
    assert.equal(records.length, expected);
    for (const [k, v] of latest) assert.equal(byKey.get(k), v === null ? undefined : v, `key ${k}`);
    assert.equal(byKey.get('end'), 'end');
    // Offsets keep their original values: the last record is still at 301.
    assert.equal(records[records.length - 1].offset, 301);
    const offsets = await admin.fetchTopicOffsets(topic);
    assert.equal(offsets[0].high, '302');
    await admin.disconnect();
  });

  it('time retention drops old segments and moves the low watermark', async () => {
    const topic = 'short-lived';
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: 1,
          configEntries: [
            { name: 'retention.ms', value: '60000' },
            { name: 'segment.bytes', value: '1024' },
          ],
        },
      ],
    });
    const producer = kafka.producer();
    await producer.connect();
    // Each record outgrows segment.bytes, so each sits in a segment of its own.
    const old = Date.now() - 3_600_000;
    for (let i = 0; i < 40; i++) {
      await producer.send({
        topic,
        messages: [{ key: 'k', value: `old-${i}-${'y'.repeat(1100)}`, timestamp: String(old + i) }],
      });
    }
    for (let i = 0; i < 5; i++) await producer.send({ topic, messages: [{ key: 'k', value: `new-${i}` }] });
    await producer.disconnect();
    await waitUntil(async () => (await admin.fetchTopicOffsets(topic))[0].low === '40', 'retention');
    const records = await readAll(kafka, topic, 5);
    assert.deepEqual(
      records.map((r) => r.value),
      ['new-0', 'new-1', 'new-2', 'new-3', 'new-4'],
    );
    await admin.disconnect();
  });
});

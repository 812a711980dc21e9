import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CompressionTypes, type Consumer, type EachBatchPayload, type Kafka } from 'kafkajs';
import { type Broker, startBroker } from '../../engine/broker/index.js';
import { kafkaClient, tempDir, withBroker } from '../helpers/broker.js';

type Seen = {
  partition: number;
  offset: number;
  key: string | null;
  value: string;
  headers: Record<string, string>;
};

async function drain(
  kafka: Kafka,
  topic: string,
  expected: number,
  groupId = `drain-${Math.random()}`,
): Promise<Seen[]> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: Seen[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw ${seen.length} of ${expected} records`)), 30_000);
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          seen.push({
            partition,
            offset: Number(message.offset),
            key: message.key ? message.key.toString() : null,
            value: message.value!.toString(),
            headers,
          });
          if (seen.length === expected) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return seen;
}

describe('kafkajs against the embedded broker', () => {
  let env: Awaited<ReturnType<typeof withBroker>>;
  let kafka: Kafka;
  before(async () => {
    env = await withBroker();
    kafka = kafkaClient(env.bootstrap);
  });
  after(() => env.stop());

  for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
    it(`produces with keys and headers (${compression === CompressionTypes.None ? 'uncompressed' : 'gzip'}) and consumes from the beginning`, async () => {
      const topic = `kj-produce-${compression}`;
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      const sent = Array.from({ length: 300 }, (_, i) => ({
        key: `key-${i % 17}`,
        value: `value-${i}-${'x'.repeat(i % 50)}`,
        headers: { 'event-type': `t${i % 3}`, seq: String(i) },
      }));
      const acks = [];
      for (let i = 0; i < sent.length; i += 50) {
        acks.push(...(await producer.send({ topic, compression, messages: sent.slice(i, i + 50) })));
      }
      await producer.disconnect();
      assert.ok(acks.length >= 6);
      assert.deepEqual(
        acks.filter((a) => a.errorCode !== 0),
        [],
      );
      const seen = await drain(kafka, topic, sent.length);
      assert.equal(seen.length, 300);
      const bySeq = new Map(seen.map((s) => [Number(s.headers.seq), s]));
      for (let i = 0; i < sent.length; i++) {
        const s = bySeq.get(i)!;
        assert.equal(s.key, sent[i].key);
        assert.equal(s.value, sent[i].value);
        assert.deepEqual(s.headers, sent[i].headers);
      }
      // Same key, same partition; per partition offsets are 0..n-1 and follow send order.
      const partitionOfKey = new Map<string, number>();
      for (const s of seen) {
        const p = partitionOfKey.get(s.key!) ?? s.partition;
        assert.equal(p, s.partition);
        partitionOfKey.set(s.key!, p);
      }
      for (let p = 0; p < 3; p++) {
        const inP = seen.filter((s) => s.partition === p).sort((a, b) => a.offset - b.offset);
        assert.deepEqual(
          inP.map((s) => s.offset),
          inP.map((_, i) => i),
        );
        const seqs = inP.map((s) => Number(s.headers.seq));
        assert.deepEqual(
          seqs,
          [...seqs].sort((a, b) => a - b),
        );
      }
    });
  }

  it('admin: create/delete topics, offsets by time, group offsets, reset, describe', async () => {
    const admin = kafka.admin();
    await admin.connect();
    assert.equal(
      await admin.createTopics({ topics: [{ topic: 'adm-a', numPartitions: 2 }, { topic: 'adm-b' }] }),
      true,
    );
    assert.equal(await admin.createTopics({ topics: [{ topic: 'adm-a', numPartitions: 2 }] }), false);
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: 'adm-bad', replicationFactor: 3 }] }),
      (err: Error) => {
        const [cause] = (err as unknown as { errors: { type: string }[] }).errors;
        assert.equal(cause.type, 'INVALID_REPLICATION_FACTOR');
        return true;
      },
    );
    const meta = await admin.fetchTopicMetadata({ topics: ['adm-a', 'adm-b'] });
    assert.deepEqual(meta.topics.map((t) => [t.name, t.partitions.length]).sort(), [
      ['adm-a', 2],
      ['adm-b', 3],
    ]);

    const producer = kafka.producer();
    await producer.connect();
    const base = 1_700_000_000_000;
    for (let i = 0; i < 10; i++) {
      await producer.send({
        topic: 'adm-a',
        messages: [{ partition: 0, value: `v${i}`, timestamp: String(base + i * 1000) }],
      });
    }
    await producer.disconnect();
    assert.deepEqual(await admin.fetchTopicOffsets('adm-a'), [
      { partition: 0, offset: '10', high: '10', low: '0' },
      { partition: 1, offset: '0', high: '0', low: '0' },
    ]);
    const byTime = await admin.fetchTopicOffsetsByTimestamp('adm-a', base + 4500);
    assert.deepEqual(byTime.find((p) => p.partition === 0)?.offset, '5');

    // A group commits, is described, then reset to earliest / an explicit offset.
    const consumer = kafka.consumer({ groupId: 'adm-group', maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'adm-a', fromBeginning: true });
    let n = 0;
    await new Promise<void>((resolve) => {
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message }) => {
          n++;
          if (Number(message.offset) === 6) {
            await consumer.commitOffsets([{ topic, partition, offset: '7' }]);
            resolve();
          }
        },
      });
    });
    assert.ok(n >= 7);
    const described = await admin.describeGroups(['adm-group']);
    assert.equal(described.groups[0].state, 'Stable');
    assert.equal(described.groups[0].protocolType, 'consumer');
    assert.equal(described.groups[0].members.length, 1);
    await consumer.disconnect();
    assert.deepEqual(await admin.fetchOffsets({ groupId: 'adm-group', topics: ['adm-a'] }), [
      {
        topic: 'adm-a',
        partitions: [
          { partition: 0, offset: '7', metadata: null },
          { partition: 1, offset: '-1', metadata: null },
        ],
      },
    ]);
    await admin.resetOffsets({ groupId: 'adm-group', topic: 'adm-a', earliest: true });
    let offsets = await admin.fetchOffsets({ groupId: 'adm-group', topics: ['adm-a'] });
    // kafkajs commits the EARLIEST sentinel (-2) itself; Kafka stores and returns it as is.
    assert.deepEqual(
      offsets[0].partitions.map((p) => p.offset),
      ['-2', '-2'],
    );
    await admin.setOffsets({
      groupId: 'adm-group',
      topic: 'adm-a',
      partitions: [{ partition: 0, offset: '3' }],
    });
    offsets = await admin.fetchOffsets({ groupId: 'adm-group', topics: ['adm-a'] });
    assert.equal(offsets[0].partitions.find((p) => p.partition === 0)?.offset, '3');
    const groups = await admin.listGroups();
    assert.ok(groups.groups.some((g) => g.groupId === 'adm-group'));

    // DescribeConfigs reports Kafka's defaults and a topic's own overrides.
    await admin.createTopics({
      topics: [{ topic: 'adm-compact', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    });
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: 'adm-compact' }],
    });
    const entry = (name: string) => configs.resources[0].configEntries.find((c) => c.configName === name);
    assert.equal(entry('cleanup.policy')?.configValue, 'compact');
    assert.equal(entry('cleanup.policy')?.isDefault, false);
    assert.equal(entry('compression.type')?.configValue, 'producer');
    assert.equal(entry('retention.ms')?.configValue, '604800000');
    assert.equal(entry('retention.ms')?.isDefault, true);

    await admin.deleteTopics({ topics: ['adm-b'] });
    assert.ok(!(await admin.listTopics()).includes('adm-b'));
    await admin.createPartitions({ topicPartitions: [{ topic: 'adm-a', count: 4 }] });
    assert.equal((await admin.fetchTopicOffsets('adm-a')).length, 4);
    // deleteTopicRecords moves the low watermark.
    await admin.deleteTopicRecords({ topic: 'adm-a', partitions: [{ partition: 0, offset: '4' }] });
    assert.equal((await admin.fetchTopicOffsets('adm-a')).find((p) => p.partition === 0)?.low, '4');
    await admin.disconnect();
  });
});

describe('consumer group membership changes and broker restart', () => {
  it('3 consumers over 6 partitions, one leaves and one joins mid-stream; offsets resume after restart', async () => {
    const dir = tempDir('sluice-group-');
    let broker: Broker = await startBroker({ port: 0, dataDir: dir.path });
    const port = broker.port;
    const topic = 'grp';
    const total = 6000;
    let kafka = kafkaClient(broker.bootstrap);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const produce = async (from: number, to: number) => {
      for (let i = from; i < to; i += 200) {
        await producer.send({
          topic,
          messages: Array.from({ length: Math.min(200, to - i) }, (_, j) => ({
            key: `k${(i + j) % 97}`,
            value: String(i + j),
          })),
        });
      }
    };
    await produce(0, total / 2);

    const processed = new Map<number, number>();
    const consumers: Consumer[] = [];
    const start = async (name: string) => {
      const c = kafka.consumer({
        groupId: 'workers',
        sessionTimeout: 10_000,
        heartbeatInterval: 500,
        maxWaitTimeInMs: 100,
      });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch, heartbeat }: EachBatchPayload) => {
          for (const m of batch.messages)
            processed.set(Number(m.value), (processed.get(Number(m.value)) ?? 0) + 1);
          await heartbeat();
          void name;
        },
      });
      consumers.push(c);
      return c;
    };
    const waitFor = async (cond: () => boolean, what: string) => {
      const deadline = Date.now() + 30_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const a = await start('a');
    await start('b');
    await start('c');
    await waitFor(() => processed.size >= total / 4, 'first quarter');
    await a.disconnect(); // leaves the group mid-stream
    await produce(total / 2, (3 * total) / 4);
    await start('d'); // joins mid-stream
    await produce((3 * total) / 4, total);
    await waitFor(() => processed.size === total, 'every record');
    for (const c of consumers) await c.disconnect();
    await producer.disconnect();
    for (let i = 0; i < total; i++) assert.ok(processed.has(i), `record ${i} processed`);

    // Committed offsets: all 6 partitions at their end, and still so after a restart.
    const committed = async () => {
      const adm = kafka.admin();
      await adm.connect();
      const [res] = await adm.fetchOffsets({ groupId: 'workers', topics: [topic] });
      const ends = await adm.fetchTopicOffsets(topic);
      await adm.disconnect();
      return { res, ends };
    };
    const before = await committed();
    assert.deepEqual(
      before.res.partitions.map((p) => p.offset).sort(),
      before.ends.map((p) => p.high).sort(),
    );
    assert.equal(
      before.ends.reduce((s, p) => s + Number(p.high), 0),
      total,
    );
    await broker.close();
    broker = await startBroker({ port, dataDir: dir.path });
    kafka = kafkaClient(broker.bootstrap);
    const afterRestart = await committed();
    assert.deepEqual(afterRestart.res.partitions, before.res.partitions);

    // A consumer of the group after the restart gets only what is produced from now on.
    const p2 = kafka.producer();
    await p2.connect();
    await p2.send({ topic, messages: [{ key: 'k1', value: 'after-restart' }] });
    await p2.disconnect();
    const late = kafka.consumer({ groupId: 'workers', maxWaitTimeInMs: 100 });
    await late.connect();
    await late.subscribe({ topic, fromBeginning: true });
    const got: string[] = [];
    await new Promise<void>((resolve) => {
      late.run({
        eachMessage: async ({ message }) => {
          got.push(message.value!.toString());
          resolve();
        },
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    await late.disconnect();
    assert.deepEqual(got, ['after-restart']);
    await broker.close();
    dir.remove();
  });
});

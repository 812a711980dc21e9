/**
 * Replay and reset tooling on the embedded broker, through the `sluice` CLI as operators run it:
 * `replay` copies a time slice keeping partition, order, key, headers and timestamp, and
 * `reset` puts a topology application back to its input's start so it reprocesses history.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { REPLAY_HEADERS } from '../../engine/replay/index.js';
import { Serdes, StreamsApp, StreamsBuilder } from '../../engine/topology/index.js';
import { kafkaClient, tempDir, withBroker } from '../helpers/broker.js';
import { sluice } from '../helpers/cli.js';

const cli = (args: string[]) => sluice(args);

interface Read {
  partition: number;
  message: KafkaMessage;
}

async function readAll(kafka: Kafka, topic: string, expected: number, timeoutMs = 20_000): Promise<Read[]> {
  const consumer = kafka.consumer({ groupId: `read-${topic}-${Date.now()}`, maxWaitTimeInMs: 100 });
  const out: Read[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${out.length} of ${expected} records of ${topic}`)),
        timeoutMs,
      );
      if (expected === 0) {
        clearTimeout(timer);
        setTimeout(resolve, 1_000);
      }
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            out.push({ partition, message });
            if (out.length >= expected && expected > 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

const T0 = Date.UTC(2026, 5, 1);

describe('sluice replay', () => {
  it('copies a time slice with partition, order, key, headers and timestamp; --dry-run copies nothing', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [
          { topic: 'events', numPartitions: 3 },
          { topic: 'events.replayed', numPartitions: 3 },
          { topic: 'small', numPartitions: 1 },
        ],
      });
      const producer = kafka.producer();
      await producer.connect();
      // 3 partitions x 100 records, one a minute from T0; records carry two headers.
      for (let p = 0; p < 3; p++) {
        await producer.send({
          topic: 'events',
          messages: Array.from({ length: 100 }, (_, i) => ({
            partition: p,
            key: `k${p}-${i % 7}`,
            value: `v${p}-${i}`,
            timestamp: String(T0 + i * 60_000),
            headers: { 'sluice.event-type': 'Test', seq: String(i) },
          })),
        });
      }
      await producer.disconnect();
      const from = new Date(T0 + 30 * 60_000).toISOString();
      const to = new Date(T0 + 70 * 60_000).toISOString();
      const args = [
        'replay',
        '--bootstrap-server',
        env.bootstrap,
        '--topic',
        'events',
        '--into',
        'events.replayed',
      ];

      const dry = await cli([...args, '--from', from, '--to', to, '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /partition 0: offsets \[30, 70\) \(40\)/);
      assert.match(dry.stdout, /, 120 offset\(s\)/);
      assert.match(dry.stdout, /dry run: nothing copied/);
      assert.deepEqual(await readAll(kafka, 'events.replayed', 0), []);

      const run = await cli([...args, '--from', from, '--to', to, '--execute']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /replayed 120 record\(s\) into events\.replayed/);
      assert.match(run.stdout, /replay .*120\/120 records/, 'plain progress lines when not a TTY');
      const copied = await readAll(kafka, 'events.replayed', 120);
      assert.equal(copied.length, 120);
      const runIds = new Set(copied.map((c) => c.message.headers?.[REPLAY_HEADERS.run]?.toString()));
      assert.equal(runIds.size, 1);
      for (let p = 0; p < 3; p++) {
        const mine = copied.filter((c) => c.partition === p);
        assert.deepEqual(
          mine.map((c) => [
            c.message.key?.toString(),
            c.message.value?.toString(),
            Number(c.message.timestamp),
            c.message.headers?.seq?.toString(),
            c.message.headers?.['sluice.event-type']?.toString(),
            c.message.headers?.[REPLAY_HEADERS.source]?.toString(),
          ]),
          Array.from({ length: 40 }, (_, j) => {
            const i = 30 + j;
            return [`k${p}-${i % 7}`, `v${p}-${i}`, T0 + i * 60_000, String(i), 'Test', `events/${p}/${i}`];
          }),
          `partition ${p} in order`,
        );
      }

      const fewer = await cli([
        'replay',
        '--bootstrap-server',
        env.bootstrap,
        '--topic',
        'events',
        '--into',
        'small',
      ]);
      assert.equal(fewer.code, 1);
      assert.match(fewer.stderr, /small has 1 partitions, fewer than events's 3/);
      const usage = await cli(['replay', '--topic', 'events']);
      assert.equal(usage.code, 2);
      const badTime = await cli([
        'replay',
        '--bootstrap-server',
        env.bootstrap,
        '--topic',
        'events',
        '--into',
        'small',
        '--from',
        'yesterday',
      ]);
      assert.equal(badTime.code, 1);
      assert.match(badTime.stderr, /--from takes an offset, 'earliest', 'latest' or an ISO-8601 date-time/);
    } finally {
      await admin.disconnect();
      await env.stop();
    }
  });
});

describe('sluice reset', () => {
  it('plans without changing anything, refuses while instances run, then resets offsets, internal topics, state and outputs', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    const state = tempDir('sluice-reset-state-');
    const admin = kafka.admin();
    await admin.connect();
    const applicationId = 'counts-app';
    const topology = () => {
      const b = new StreamsBuilder();
      b.stream('words', { key: Serdes.string(), value: Serdes.string() })
        .groupByKey()
        .count({ store: 'word-counts', storeKind: 'lmdb' })
        .toStream()
        .to('word-counts-out', { key: Serdes.string(), value: Serdes.int64() });
      return b.build();
    };
    const start = () =>
      StreamsApp.start({ applicationId, kafka, topology: topology(), stateDir: state.path });
    const lastCounts = async (expected: number) => {
      const out = await readAll(kafka, 'word-counts-out', expected);
      const last = new Map<string, bigint>();
      for (const r of out) last.set(r.message.key!.toString(), r.message.value!.readBigInt64BE(0));
      return { total: out.length, last: Object.fromEntries(last) };
    };
    const committedTo = async (end: number) => {
      for (let i = 0; i < 100; i++) {
        const [t] = await admin.fetchOffsets({ groupId: applicationId, topics: ['words'] });
        if (t && Number(t.partitions[0]!.offset) === end) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`group did not commit offset ${end}`);
    };
    try {
      await admin.createTopics({
        topics: [
          { topic: 'words', numPartitions: 1 },
          { topic: 'word-counts-out', numPartitions: 1 },
        ],
      });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: 'words',
        messages: ['a', 'b', 'a', 'c', 'a', 'b'].map((w) => ({ key: w, value: w })),
      });
      await producer.disconnect();

      let app = await start();
      await committedTo(6);
      assert.deepEqual((await lastCounts(6)).last, { a: 3n, b: 2n, c: 1n });

      const base = ['reset', applicationId, '--bootstrap-server', env.bootstrap, '--state-dir', state.path];
      const busy = await cli([...base, '--to-earliest', '--execute']);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /group counts-app has 1 active member\(s\).*stop every instance/);
      await app.close();

      const changelog = `${applicationId}-word-counts-changelog`;
      const stateDir = join(state.path, applicationId);
      assert.ok(existsSync(stateDir));
      const dry = await cli([...base, '--to-earliest', '--output-topics', 'word-counts-out']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /words\[0\]: 6 -> 0/);
      assert.match(dry.stdout, new RegExp(`delete internal topics: ${changelog}`));
      // 6 updates and the commit marker of the exactly-once transaction.
      assert.match(dry.stdout, /empty output word-counts-out\[0\] up to offset 7/);
      assert.match(dry.stdout, /dry run: nothing changed/);
      // Nothing changed.
      const [after] = await admin.fetchOffsets({ groupId: applicationId, topics: ['words'] });
      assert.equal(after!.partitions[0]!.offset, '6');
      assert.ok((await admin.listTopics()).includes(changelog));
      assert.ok(existsSync(stateDir));

      const usage = await cli([...base, '--execute']);
      assert.equal(usage.code, 2);

      const done = await cli([...base, '--to-earliest', '--output-topics', 'word-counts-out', '--execute']);
      assert.equal(done.code, 0, done.stderr);
      const [reset] = await admin.fetchOffsets({ groupId: applicationId, topics: ['words'] });
      assert.equal(reset!.partitions[0]!.offset, '0');
      assert.ok(!(await admin.listTopics()).includes(changelog));
      assert.ok(!existsSync(stateDir));
      const [out] = await admin.fetchTopicOffsets('word-counts-out');
      assert.deepEqual([out!.low, out!.high], ['7', '7']);

      // Reprocessing from scratch gives the same counts, not doubled ones.
      mkdirSync(state.path, { recursive: true });
      app = await start();
      await committedTo(6);
      const again = await readAll(kafka, 'word-counts-out', 6);
      assert.equal(again.length, 6, 'only the 6 new updates remain after emptying the output');
      const last = new Map(again.map((r) => [r.message.key!.toString(), r.message.value!.readBigInt64BE(0)]));
      assert.deepEqual(Object.fromEntries(last), { a: 3n, b: 2n, c: 1n });
      await app.close();
    } finally {
      await admin.disconnect();
      await env.stop();
      state.remove();
    }
  });
});

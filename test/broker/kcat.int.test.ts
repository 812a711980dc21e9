import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32 } from '@node-rs/crc32';
import type { Admin } from 'kafkajs';
import { kafkaClient, withBroker } from '../helpers/broker.js';
import {
  currentAssignment,
  KcatProcess,
  type KcatRecord,
  kcatConsumeAll,
  kcatConsumePartition,
  kcatMetadata,
  kcatProduce,
  librdkafkaVersion,
  RECORD_FORMAT,
  readSegment,
  segmentFiles,
} from '../helpers/kcat.js';

/** Random bytes without tab and newline (kcat's key and message delimiters). */
function binary(n: number): Buffer {
  const out = Buffer.alloc(n);
  const src = randomBytes(n);
  for (let i = 0; i < n; i++) out[i] = src[i] === 0x09 || src[i] === 0x0a ? 0x00 : src[i];
  return out;
}

interface Sent {
  key: Buffer;
  value: Buffer;
}

/**
 * Distinct records: keys `k-<i>-` + binary, values `rec-<i>-<hex>-` + binary (NUL, quotes, high
 * bytes) + a run of one letter. The run makes even a one-record batch shrink under every codec:
 * librdkafka sends a batch uncompressed when compressing would not make it smaller.
 */
function makeRecords(n: number, prefix = 'rec'): Sent[] {
  return Array.from({ length: n }, (_, i) => ({
    key: Buffer.concat([Buffer.from(`k-${i}-`), binary(4)]),
    value: Buffer.concat([
      Buffer.from(`${prefix}-${i}-${randomBytes(8).toString('hex')}-"\\\t`),
      binary(12),
      Buffer.alloc(120 + (i % 7), 'abcdefg'[i % 7]),
    ]),
  }));
}

const pairId = (key: Buffer | null, value: Buffer | null) =>
  `${key ? key.toString('hex') : '<null>'}:${value ? value.toString('hex') : '<null>'}`;

/** Index `i` encoded in the key `k-<i>-...`. */
const indexOf = (key: Buffer | null) => Number(/^k-(\d+)-/.exec(key?.toString('latin1') ?? '')?.[1] ?? -1);

async function withAdmin<T>(bootstrap: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafkaClient(bootstrap, 'kcat-test-admin').admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

async function endOffsets(admin: Admin, topic: string): Promise<number[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
}

describe('librdkafka (kcat) against the embedded broker', () => {
  it('kcat -L -J describes one broker, its controller and a created topic', {
    timeout: 30_000,
  }, async (t) => {
    t.diagnostic(`librdkafka ${librdkafkaVersion()}`);
    const b = await withBroker();
    try {
      await withAdmin(b.bootstrap, (admin) =>
        admin.createTopics({ topics: [{ topic: 'meta-topic', numPartitions: 4 }], waitForLeaders: false }),
      );
      const md = await kcatMetadata(b.bootstrap);
      assert.deepEqual(md.brokers, [{ id: 0, name: `127.0.0.1:${b.broker.port}` }]);
      assert.equal(md.controllerid, 0);
      assert.deepEqual(md.originating_broker, { id: 0, name: `127.0.0.1:${b.broker.port}/0` });
      // Exactly the broker's topics: the created one and its internal ones (__consumer_offsets, ...).
      const names = md.topics.map((x) => x.topic).sort();
      assert.deepEqual(
        names,
        b.broker.topics
          .all()
          .map((x) => x.name)
          .sort(),
      );
      assert.deepEqual(
        names.filter((n) => !n.startsWith('__')),
        ['meta-topic'],
      );
      assert.ok(names.includes('__consumer_offsets'));
      const topic = md.topics.find((x) => x.topic === 'meta-topic')!;
      assert.equal(topic.error, undefined);
      assert.deepEqual(
        topic.partitions,
        [0, 1, 2, 3].map((p) => ({ partition: p, leader: 0, replicas: [{ id: 0 }], isrs: [{ id: 0 }] })),
      );
      // One topic asked for by name: just that topic.
      const one = await kcatMetadata(b.bootstrap, 'meta-topic');
      assert.deepEqual(
        one.topics.map((x) => [x.topic, x.partitions.length]),
        [['meta-topic', 4]],
      );
      assert.deepEqual(one.brokers, md.brokers);
    } finally {
      await b.stop();
    }
  });

  it('kcat -L -J reports a configured node.id as broker, controller and leader', {
    timeout: 30_000,
  }, async () => {
    const b = await withBroker({ 'node.id': 5, 'num.partitions': 2 });
    try {
      // Auto-created by the metadata request of `-t`.
      const md = await kcatMetadata(b.bootstrap, 'auto-created');
      assert.deepEqual(md.brokers, [{ id: 5, name: `127.0.0.1:${b.broker.port}` }]);
      assert.equal(md.controllerid, 5);
      assert.deepEqual(
        md.topics.map((x) => x.topic),
        ['auto-created'],
      );
      assert.deepEqual(
        md.topics[0].partitions,
        [0, 1].map((p) => ({ partition: p, leader: 5, replicas: [{ id: 5 }], isrs: [{ id: 5 }] })),
      );
    } finally {
      await b.stop();
    }
  });

  const CODECS = [
    { name: 'none', id: 0, kafkajs: true },
    { name: 'gzip', id: 1, kafkajs: true },
    { name: 'snappy', id: 2, kafkajs: false },
    { name: 'lz4', id: 3, kafkajs: false },
    { name: 'zstd', id: 4, kafkajs: false },
  ] as const;
  const N = 10_000;
  const PARTITIONS = 3;

  for (const codec of CODECS) {
    it(`-z ${codec.name}: 10,000 keyed binary records round-trip byte for byte`, {
      timeout: 60_000,
    }, async () => {
      const b = await withBroker();
      const topic = `codec-${codec.name}`;
      try {
        await withAdmin(b.bootstrap, (admin) =>
          admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: false }),
        );
        const sent = makeRecords(N);
        await kcatProduce(b.bootstrap, topic, sent, ['-z', codec.name]);

        const got = await kcatConsumeAll(b.bootstrap, topic);
        assert.equal(got.length, N);
        // The multiset of (key, value) pairs is exactly what was sent.
        assert.deepEqual(
          got.map((r) => pairId(r.key, r.value)).sort(),
          sent.map((r) => pairId(r.key, r.value)).sort(),
        );
        // librdkafka's default partitioner (consistent_random) puts a key on crc32(key) % partitions;
        // within a partition, offsets run 0..n-1 in the order the records were produced.
        const byPartition: KcatRecord[][] = Array.from({ length: PARTITIONS }, () => []);
        for (const r of got) byPartition[r.partition].push(r);
        for (const [p, records] of byPartition.entries()) {
          records.sort((x, y) => x.offset - y.offset);
          assert.deepEqual(
            records.map((r) => r.offset),
            records.map((_, i) => i),
            `partition ${p} offsets`,
          );
          const expected = sent.filter((s) => crc32(s.key) % PARTITIONS === p);
          assert.deepEqual(
            records.map((r) => indexOf(r.key)),
            expected.map((s) => indexOf(s.key)),
            `partition ${p}: records in production order`,
          );
        }
        const ends = await withAdmin(b.bootstrap, (admin) => endOffsets(admin, topic));
        assert.deepEqual(
          ends,
          byPartition.map((r) => r.length),
        );

        // On disk: contiguous batches, every one compressed with the requested codec.
        for (let p = 0; p < PARTITIONS; p++) {
          const files = segmentFiles(join(b.dataDir, `${topic}-${p}`));
          const batches = files.flatMap((f) => readSegment(f).batches);
          assert.deepEqual(
            [...new Set(batches.map((x) => x.codec))],
            [codec.id],
            `partition ${p} batch codecs`,
          );
          assert.equal(
            batches.reduce((n, x) => n + x.recordCount, 0),
            ends[p],
          );
          let next = 0;
          for (const x of batches) {
            assert.equal(x.baseOffset, next, `partition ${p} batch base offset`);
            next = x.lastOffset + 1;
          }
          assert.equal(next, ends[p]);
        }

        // Starting inside a (compressed) batch: the broker serves that whole batch and the client
        // drops the records before the requested offset, so exactly offsets k..end-1 come back.
        const batches0 = segmentFiles(join(b.dataDir, `${topic}-0`)).flatMap((f) => readSegment(f).batches);
        const widest = batches0.reduce((x, y) => (y.recordCount > x.recordCount ? y : x));
        assert.ok(widest.recordCount > 1, 'some batch holds several records');
        const k = widest.baseOffset + 1;
        const tail = await kcatConsumePartition(b.bootstrap, topic, 0, k);
        assert.deepEqual(
          tail.map((r) => [r.offset, pairId(r.key, r.value)]),
          byPartition[0].filter((r) => r.offset >= k).map((r) => [r.offset, pairId(r.key, r.value)]),
        );

        if (codec.kafkajs) {
          // kafkajs reads the same records at the same positions (it has none and gzip built in).
          const viaKafkajs = await consumeWithKafkajs(b.bootstrap, topic, `kafkajs-${codec.name}`, N);
          assert.deepEqual(
            viaKafkajs.map((r) => `${r.partition}/${r.offset}/${pairId(r.key, r.value)}`).sort(),
            got.map((r) => `${r.partition}/${r.offset}/${pairId(r.key, r.value)}`).sort(),
          );
        }
      } finally {
        await b.stop();
      }
    });
  }

  for (const strategy of ['cooperative-sticky', null] as const) {
    const label = strategy ?? 'default eager range';
    it(`kcat -G balanced consumers (${label}) split 6 partitions and commit exactly the end offsets`, {
      timeout: 90_000,
    }, async () => {
      await balancedGroup(strategy);
    });
  }
});

/** Reads `expected` records of `topic` with a kafkajs group consumer from the beginning. */
async function consumeWithKafkajs(
  bootstrap: string,
  topic: string,
  groupId: string,
  expected: number,
): Promise<KcatRecord[]> {
  const consumer = kafkaClient(bootstrap, 'kcat-test-kafkajs').consumer({ groupId, maxWaitTimeInMs: 200 });
  const out: KcatRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`kafkajs read ${out.length} of ${expected} records in 30 s`)),
        30_000,
      );
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              out.push({ partition: batch.partition, offset: Number(m.offset), key: m.key, value: m.value });
            }
            if (out.length >= expected) {
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

async function balancedGroup(strategy: 'cooperative-sticky' | null): Promise<void> {
  const b = await withBroker();
  const topic = 'balanced';
  const group = `kcat-group-${strategy ?? 'default'}`;
  const HALF = 1500;
  const total = 2 * HALF;
  const consumers: KcatProcess[] = [];
  const admin = kafkaClient(b.bootstrap, 'kcat-group-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: false });
    const sent = makeRecords(total, 'grp');
    await kcatProduce(b.bootstrap, topic, sent.slice(0, HALF));

    const args = [
      '-b',
      b.bootstrap,
      '-G',
      group,
      topic,
      '-u',
      '-f',
      RECORD_FORMAT,
      '-X',
      'auto.offset.reset=earliest',
      '-X',
      'enable.auto.commit=true',
      '-X',
      'auto.commit.interval.ms=100',
      // Members learn of a rebalance from a heartbeat: every 3 s by default, 0.5 s here.
      '-X',
      'heartbeat.interval.ms=500',
      ...(strategy ? ['-X', `partition.assignment.strategy=${strategy}`] : []),
    ];
    const first = new KcatProcess(args);
    consumers.push(first);
    await first.waitFor(() => first.records.length > 0, 20_000, 'the first consumer to receive records');
    const second = new KcatProcess(args);
    consumers.push(second);

    // The group settles with three partitions each, disjoint, covering all six.
    const settled = () => {
      const a = currentAssignment(first.stderrLines);
      const c = currentAssignment(second.stderrLines);
      return a.size === 3 && c.size === 3 && new Set([...a, ...c]).size === 6;
    };
    await Promise.all([
      first.waitFor(settled, 30_000, 'the rebalance onto two members'),
      second.waitFor(settled, 30_000, 'the rebalance onto two members'),
    ]);
    const owner = new Map<number, KcatProcess>();
    for (const p of currentAssignment(first.stderrLines)) owner.set(p, first);
    for (const p of currentAssignment(second.stderrLines)) owner.set(p, second);

    await kcatProduce(b.bootstrap, topic, sent.slice(HALF));
    const ends = await endOffsets(admin, topic);
    assert.equal(
      ends.reduce((x, y) => x + y, 0),
      total,
    );
    const distinctSeen = () =>
      new Set(consumers.flatMap((c) => c.records.map((r) => `${r.partition}/${r.offset}`))).size;
    // Every partition's current owner has reached its end (so its position is the end offset).
    const caughtUp = () =>
      ends.every(
        (end, p) => end === 0 || owner.get(p)!.records.some((r) => r.partition === p && r.offset === end - 1),
      );
    try {
      await Promise.all(
        consumers.map((c) =>
          c.waitFor(() => distinctSeen() === total && caughtUp(), 30_000, `all ${total} records`),
        ),
      );
    } catch (err) {
      // Say which member stalled on which partition, with both members' logs.
      const progress = ends.map((end, p) => {
        const o = owner.get(p)!;
        const last = Math.max(-1, ...o.records.filter((r) => r.partition === p).map((r) => r.offset));
        const seen = new Set(
          consumers.flatMap((c) => c.records.filter((r) => r.partition === p).map((r) => r.offset)),
        );
        const missing: string[] = [];
        for (let off = 0; off < end; off++) {
          if (seen.has(off)) continue;
          let to = off;
          while (to + 1 < end && !seen.has(to + 1)) to++;
          missing.push(off === to ? `${off}` : `${off}-${to}`);
          off = to;
        }
        const by = consumers.map((c) => c.records.filter((r) => r.partition === p).map((r) => r.offset));
        const span = (xs: number[]) =>
          xs.length ? `${Math.min(...xs)}..${Math.max(...xs)} (${xs.length})` : 'none';
        return `p${p} owner=${o === first ? 'first' : 'second'} end=${end} last=${last} missing=[${missing.join(',')}] first=${span(by[0]!)} second=${span(by[1]!)}`;
      });
      throw new Error(
        `${(err as Error).message.split('\n')[0]}\n${progress.join('\n')}\n` +
          `first:\n${first.stderrLines.join('\n')}\nsecond:\n${second.stderrLines.join('\n')}`,
      );
    }

    // A clean stop commits the final positions (and auto-commit ran every 100 ms anyway).
    const exits = await Promise.all(consumers.map((c) => c.stop('SIGTERM')));
    assert.deepEqual(
      exits.map((e) => [e.code, e.signal]),
      [
        [0, null],
        [0, null],
      ],
    );
    // The protocol asked for is the one that ran.
    for (const c of consumers) {
      const rebalances = c.stderrLines.filter((l) => / rebalanced/.test(l));
      assert.ok(rebalances.length > 0);
      assert.equal(
        rebalances.every((l) =>
          strategy
            ? l.includes('COOPERATIVE rebalance protocol')
            : l.includes('): assigned:') || l.includes('): revoked:'),
        ),
        true,
        rebalances.join('\n'),
      );
    }

    // Every record arrived at least once, byte for byte, and at the position it was written.
    const received = new Map<string, KcatRecord>();
    for (const c of consumers) {
      for (const r of c.records) {
        const key = `${r.partition}/${r.offset}`;
        const prev = received.get(key);
        if (prev) assert.equal(pairId(r.key, r.value), pairId(prev.key, prev.value), `redelivery of ${key}`);
        else received.set(key, r);
      }
    }
    assert.equal(received.size, total);
    assert.deepEqual(
      [...received.values()].map((r) => pairId(r.key, r.value)).sort(),
      sent.map((s) => pairId(s.key, s.value)).sort(),
    );
    // Records produced after the rebalance went to the owner of their partition alone.
    for (const r of [...first.records, ...second.records]) {
      if (indexOf(r.key) < HALF) continue;
      const got = first.records.includes(r) ? first : second;
      assert.equal(got, owner.get(r.partition), `record ${indexOf(r.key)} of partition ${r.partition}`);
    }
    assert.ok(first.records.some((r) => indexOf(r.key) >= HALF));
    assert.ok(second.records.some((r) => indexOf(r.key) >= HALF));

    const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    assert.equal(committed.length, 1);
    const offsets = committed[0].partitions
      .sort((x, y) => x.partition - y.partition)
      .map((p) => Number(p.offset));
    assert.deepEqual(offsets, ends);
    assert.equal(
      offsets.reduce((x, y) => x + y, 0),
      total,
    );
  } finally {
    for (const c of consumers) if (c.running) await c.stop('SIGKILL').catch(() => {});
    await admin.disconnect();
    await b.stop();
  }
}

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Admin, Kafka, logLevel, type Producer } from 'kafkajs';
import { freePort, kafkaClient, spawnBroker, tempDir } from '../helpers/broker.js';
import {
  type KcatRecord,
  kcatConsumeAll,
  kcatConsumePartition,
  readSegment,
  segmentFiles,
} from '../helpers/kcat.js';

type Spawned = Awaited<ReturnType<typeof spawnBroker>>;

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A process broker on a fresh data dir and port; `restart` reuses both. Everything is torn down by `close`. */
async function processBroker(overrides: Record<string, string> = {}) {
  const dir = tempDir('sluice-crash-');
  const port = await freePort();
  let current: Spawned | null = await spawnBroker(dir.path, port, overrides);
  const clients: { disconnect(): Promise<void> }[] = [];
  return {
    dataDir: dir.path,
    bootstrap: `127.0.0.1:${port}`,
    /** kill -9. */
    async crash() {
      await current?.kill('SIGKILL');
      current = null;
    },
    /** A clean stop (SIGTERM): the broker seals its segments and leaves its clean-shutdown mark. */
    async stop() {
      const last = current;
      current = null;
      if (last) await withTimeout(last.kill('SIGTERM'), 15_000, 'clean broker shutdown');
    },
    async restart() {
      assert.equal(current, null, 'restart only after a crash or stop');
      current = await spawnBroker(dir.path, port, overrides);
    },
    track<C extends { disconnect(): Promise<void> }>(c: C): C {
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) await withTimeout(c.disconnect(), 10_000, 'client disconnect').catch(() => {});
      const last = current;
      current = null;
      if (last) {
        await withTimeout(last.kill('SIGTERM'), 10_000, 'broker shutdown').catch(() => last.kill('SIGKILL'));
      }
      dir.remove();
    },
  };
}

async function connectedAdmin(bootstrap: string): Promise<Admin> {
  const admin = kafkaClient(bootstrap, 'crash-admin').admin();
  await admin.connect();
  return admin;
}

/**
 * A client that gives up at once when the broker is gone (the shared helper retries for
 * seconds, which would outlive the kill and could resend an in-flight request).
 */
function failFastClient(bootstrap: string, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  });
}

function byPartition(records: KcatRecord[], partitions: number): KcatRecord[][] {
  const out: KcatRecord[][] = Array.from({ length: partitions }, () => []);
  for (const r of records) out[r.partition].push(r);
  for (const list of out) list.sort((a, b) => a.offset - b.offset);
  return out;
}

/**
 * Simulates a torn write after a crash: appends to the partition's last segment a copy of one of
 * its batches, renumbered as the next batch and damaged, then `noise` random bytes. `payload`
 * flips a record byte, `crc` flips a byte of the stored CRC (the records stay readable, so a
 * broker that skipped the check would serve them again), `cut` keeps only the first half.
 */
function appendTornBatch(
  partitionDir: string,
  o: { from: 'last' | 'previous'; damage: 'payload' | 'crc' | 'cut'; noise: number },
): { file: string; validSize: number; lastOffset: number; segments: number; batches: number } {
  const files = segmentFiles(partitionDir);
  const file = files[files.length - 1];
  const seg = readSegment(file);
  assert.equal(seg.validBytes, seg.size, `${file} is whole after the kill`);
  const last = seg.batches[seg.batches.length - 1];
  const source = o.from === 'last' ? last : seg.batches[seg.batches.length - 2];
  const copy = Buffer.from(readFileSync(file).subarray(source.position, source.position + source.size));
  copy.writeBigInt64BE(BigInt(last.lastOffset + 1), 0);
  let torn = copy;
  if (o.damage === 'payload') copy[copy.length - 3] ^= 0xff;
  else if (o.damage === 'crc') copy[18] ^= 0xff;
  else torn = copy.subarray(0, copy.length >> 1);
  appendFileSync(file, Buffer.concat([torn, randomBytes(o.noise)]));
  assert.equal(statSync(file).size, seg.size + torn.length + o.noise);
  return {
    file,
    validSize: seg.size,
    lastOffset: last.lastOffset,
    segments: files.length,
    batches: seg.batches.length,
  };
}

interface Acked {
  partition: number;
  offset: number;
  value: string;
}

describe('broker crash recovery (kill -9 of a broker process)', () => {
  it('keeps every acknowledged record exactly once at its offset across two kill -9 rounds', {
    timeout: 90_000,
  }, async (t) => {
    const PARTITIONS = 3;
    const topic = 'crash-acks';
    // Small segments: the kills also land around segment rolls.
    const b = await processBroker({ 'log.segment.bytes': '65536' });
    try {
      const admin = await connectedAdmin(b.bootstrap);
      await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });
      await admin.disconnect();

      const acked: Acked[] = [];
      /** Messages of sends that failed: per send, per partition (a batch is all or nothing). */
      const failedSends: Map<number, string[]>[] = [];
      let seq = 0;

      for (let round = 1; round <= 2; round++) {
        const producer: Producer = b.track(
          failFastClient(b.bootstrap, `crash-producer-${round}`).producer({
            idempotent: false,
            allowAutoTopicCreation: false,
            // No retries: a retried in-flight request would legitimately duplicate records.
            retry: { retries: 0 },
          }),
        );
        await producer.connect();
        const ackedBefore = acked.length;
        let failedAt = 0;
        const sending = (async () => {
          for (;;) {
            const messages = Array.from({ length: 20 }, (_, j) => {
              const n = seq + j;
              return {
                partition: n % PARTITIONS,
                key: `k-${n}`,
                value: `r${round}-${n}-${randomBytes(6).toString('hex')}`,
              };
            });
            seq += messages.length;
            try {
              const res = await producer.send({ topic, acks: -1, messages });
              for (const md of res) {
                assert.equal(md.errorCode, 0);
                const mine = messages.filter((m) => m.partition === md.partition);
                mine.forEach((m, j) => {
                  acked.push({ partition: m.partition, offset: Number(md.baseOffset) + j, value: m.value });
                });
              }
            } catch (err) {
              const lost = new Map<number, string[]>();
              for (const m of messages) lost.set(m.partition, [...(lost.get(m.partition) ?? []), m.value]);
              failedSends.push(lost);
              failedAt = Date.now();
              return err;
            }
          }
        })();
        await sleep(1000);
        const killedAt = Date.now();
        await b.crash();
        const err = await withTimeout(sending, 20_000, 'the sending loop to notice the crash');
        assert.ok(err instanceof Error, 'the send in flight at the kill fails');
        assert.ok(failedAt >= killedAt, `a send failed ${killedAt - failedAt} ms before the kill: ${err}`);
        await withTimeout(producer.disconnect(), 10_000, 'producer disconnect').catch(() => {});
        t.diagnostic(`round ${round}: ${acked.length - ackedBefore} records acknowledged before kill -9`);
        assert.ok(acked.length - ackedBefore >= 500, `only ${acked.length - ackedBefore} acks in 1 s`);

        await b.restart();
        verify(await kcatConsumeAll(b.bootstrap, topic));
      }

      // The restarted broker keeps appending right after the recovered end.
      const ends = byPartition(await kcatConsumeAll(b.bootstrap, topic), PARTITIONS).map((l) => l.length);
      const producer = b.track(
        kafkaClient(b.bootstrap, 'crash-producer-after').producer({ retry: { retries: 0 } }),
      );
      await producer.connect();
      const after = [0, 1, 2].map((p) => ({
        partition: p,
        key: `k-${seq + p}`,
        value: `r3-${seq + p}-after`,
      }));
      const res = await producer.send({ topic, acks: -1, messages: after });
      assert.deepEqual(
        res.map((r) => [r.partition, Number(r.baseOffset)]).sort((x, y) => x[0] - y[0]),
        ends.map((end, p) => [p, end]),
      );
      for (const m of after)
        acked.push({ partition: m.partition, offset: ends[m.partition], value: m.value });
      await producer.disconnect();

      // A clean restart now trusts the indexes written at shutdown: reads from the middle of each
      // partition (an index look-up) and from the beginning still find every record in place.
      await b.stop();
      await b.restart();
      const final = await kcatConsumeAll(b.bootstrap, topic);
      verify(final);
      const parts = byPartition(final, PARTITIONS);
      for (let p = 0; p < PARTITIONS; p++) {
        assert.equal(parts[p].length, ends[p] + 1);
        const mid = Math.floor(parts[p].length / 2);
        const tail = await kcatConsumePartition(b.bootstrap, topic, p, mid);
        assert.deepEqual(
          tail.map((r) => [r.offset, r.value?.toString()]),
          parts[p].slice(mid).map((r) => [r.offset, r.value?.toString()]),
        );
      }

      function verify(records: KcatRecord[]): void {
        const parts = byPartition(records, PARTITIONS);
        for (const [p, list] of parts.entries()) {
          assert.deepEqual(
            list.map((r) => r.offset),
            list.map((_, i) => i),
            `partition ${p}: offsets contiguous from 0`,
          );
        }
        // Every acknowledged record is at the offset its acknowledgement gave.
        for (const a of acked) {
          const r = parts[a.partition][a.offset];
          assert.ok(r, `acknowledged ${a.value} at ${a.partition}/${a.offset} is missing`);
          assert.equal(r.value?.toString(), a.value, `record at ${a.partition}/${a.offset}`);
        }
        // Acknowledged offsets grow in acknowledgement order within each partition.
        for (let p = 0; p < PARTITIONS; p++) {
          const offsets = acked.filter((a) => a.partition === p).map((a) => a.offset);
          assert.deepEqual(
            offsets,
            [...offsets].sort((x, y) => x - y),
          );
        }
        // Nothing is duplicated or corrupt: every key matches its value, every value was sent.
        const values = records.map((r) => r.value?.toString() ?? '<null>');
        assert.equal(new Set(values).size, values.length, 'no record is stored twice');
        for (const r of records) {
          assert.equal(r.key?.toString(), `k-${/^r\d+-(\d+)-/.exec(r.value?.toString() ?? '')?.[1]}`);
        }
        // What was not acknowledged comes from a failed request: per partition its whole batch or
        // nothing, in the order it was sent.
        const ackedValues = new Set(acked.map((a) => a.value));
        const position = new Map(records.map((r) => [r.value?.toString() ?? '', r]));
        const unacked = new Set(values.filter((v) => !ackedValues.has(v)));
        t.diagnostic(`${records.length} records read back, ${unacked.size} of them from failed requests`);
        for (const lost of failedSends) {
          for (const [p, list] of lost) {
            const present = list.filter((v) => unacked.has(v));
            assert.ok(
              present.length === 0 || present.length === list.length,
              `partition ${p}: ${present.length} of the ${list.length} records of a failed request are present`,
            );
            const offsets = present.map((v) => position.get(v)!.offset);
            assert.deepEqual(
              offsets,
              offsets.map((_, i) => offsets[0] + i),
            );
            for (const v of present) unacked.delete(v);
          }
        }
        assert.deepEqual([...unacked], [], 'records that were never sent');
      }
    } finally {
      await b.close();
    }
  });

  it('a consumer group resumes from the offsets committed before kill -9', { timeout: 60_000 }, async () => {
    const topic = 'crash-resume';
    const groupId = 'crash-resume-group';
    const PER_PARTITION = 200;
    const first = [10, 20, 30];
    const targets = [37, 81, 123];
    const b = await processBroker();
    try {
      const admin = b.track(await connectedAdmin(b.bootstrap));
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
      const producer = b.track(kafkaClient(b.bootstrap, 'resume-producer').producer());
      await producer.connect();
      const produced: string[][] = [[], [], []];
      for (let i = 0; i < PER_PARTITION; i += 50) {
        const messages = [0, 1, 2].flatMap((p) =>
          Array.from({ length: 50 }, (_, j) => ({
            partition: p,
            value: `p${p}-${i + j}-${randomBytes(4).toString('hex')}`,
          })),
        );
        await producer.send({ topic, acks: -1, messages });
        for (const m of messages) produced[m.partition].push(m.value);
      }
      await producer.disconnect();

      // First consumer: reads, then commits explicitly (twice: the later commit must win).
      const seen: number[][] = [[], [], []];
      const a = failFastClient(b.bootstrap, 'resume-a').consumer({
        groupId,
        maxWaitTimeInMs: 200,
        // When the broker dies under it, it must stay dead rather than rejoin the restarted broker.
        retry: { retries: 0, restartOnFailure: async () => false },
      });
      await a.connect();
      await a.subscribe({ topic, fromBeginning: true });
      const aDone = new Promise<void>((resolve, reject) => {
        a.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            seen[partition].push(Number(message.offset));
            if (seen.every((s, p) => s.length > targets[p])) resolve();
          },
        }).catch(reject);
      });
      await withTimeout(aDone, 20_000, 'first consumer reading past the targets');
      assert.deepEqual(
        seen.map((s) => s.slice(0, 5)),
        [0, 1, 2].map(() => [0, 1, 2, 3, 4]),
      );
      await a.commitOffsets(first.map((o, partition) => ({ topic, partition, offset: String(o) })));
      await a.commitOffsets(targets.map((o, partition) => ({ topic, partition, offset: String(o) })));
      const committedBefore = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.deepEqual(
        committedBefore[0].partitions.sort((x, y) => x.partition - y.partition).map((p) => Number(p.offset)),
        targets,
      );

      // Crash with the consumer still in the group; it goes away before the broker is back.
      await b.crash();
      await withTimeout(a.disconnect(), 15_000, 'first consumer disconnect').catch(() => {});
      await admin.disconnect();
      // The offsets log holds the two commits, one batch each. A torn copy of the first one (its
      // CRC damaged) after them must not bring the earlier offsets back.
      const tornCommit = appendTornBatch(join(b.dataDir, '__consumer_offsets-0'), {
        from: 'previous',
        damage: 'crc',
        noise: 0,
      });
      assert.deepEqual([tornCommit.batches, tornCommit.lastOffset], [2, 5]);
      await b.restart();
      assert.equal(statSync(tornCommit.file).size, tornCommit.validSize);

      const admin2 = b.track(await connectedAdmin(b.bootstrap));
      const committedAfter = await admin2.fetchOffsets({ groupId, topics: [topic] });
      assert.deepEqual(
        committedAfter[0].partitions.sort((x, y) => x.partition - y.partition).map((p) => Number(p.offset)),
        targets,
      );

      // A new member of the same group starts exactly at the committed offsets.
      const got: { offset: number; value: string }[][] = [[], [], []];
      const c = b.track(kafkaClient(b.bootstrap, 'resume-b').consumer({ groupId, maxWaitTimeInMs: 200 }));
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      const remaining = targets.map((o) => PER_PARTITION - o);
      const cDone = new Promise<void>((resolve, reject) => {
        c.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            got[partition].push({ offset: Number(message.offset), value: String(message.value) });
            if (got.every((g, p) => g.length >= remaining[p])) resolve();
          },
        }).catch(reject);
      });
      await withTimeout(cDone, 30_000, 'second consumer reading to the end');
      await sleep(300); // anything beyond the end would show up here
      await c.disconnect();
      for (let p = 0; p < 3; p++) {
        assert.equal(got[p][0].offset, targets[p], `partition ${p}: first offset after restart`);
        assert.deepEqual(
          got[p],
          produced[p].slice(targets[p]).map((value, i) => ({ offset: targets[p] + i, value })),
        );
      }
    } finally {
      await b.close();
    }
  });

  it('truncates garbage appended to the last segment after kill -9 and keeps producing', {
    timeout: 60_000,
  }, async () => {
    const topic = 'crash-torn';
    const b = await processBroker({ 'log.segment.bytes': '4096' });
    try {
      const admin = b.track(await connectedAdmin(b.bootstrap));
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
      const producer = b.track(kafkaClient(b.bootstrap, 'torn-producer').producer());
      await producer.connect();
      const produced: string[][] = [[], []];
      for (let i = 0; i < 30; i++) {
        const messages = [0, 1].flatMap((p) =>
          Array.from({ length: 10 }, (_, j) => ({
            partition: p,
            value: `v${p}-${i * 10 + j}-${randomBytes(8).toString('hex')}`,
          })),
        );
        await producer.send({ topic, acks: -1, messages });
        for (const m of messages) produced[m.partition].push(m.value);
      }
      await producer.disconnect();
      await admin.disconnect();
      await b.crash();

      // Partition 0: a whole copy of its last batch as the next batch, one payload byte flipped (CRC
      // fails), then noise. Partition 1: the first half of such a batch (a write cut short).
      const torn = [
        appendTornBatch(join(b.dataDir, `${topic}-0`), { from: 'last', damage: 'payload', noise: 97 }),
        appendTornBatch(join(b.dataDir, `${topic}-1`), { from: 'last', damage: 'cut', noise: 0 }),
      ];
      for (const x of torn) {
        assert.ok(x.segments >= 3, `expected several segments, got ${x.segments}`);
        assert.equal(x.lastOffset, 299);
      }

      await b.restart();
      assert.deepEqual(
        torn.map((x) => statSync(x.file).size),
        torn.map((x) => x.validSize),
        'garbage truncated back to the last valid batch',
      );

      const records = byPartition(await kcatConsumeAll(b.bootstrap, topic), 2);
      for (let p = 0; p < 2; p++) {
        assert.deepEqual(
          records[p].map((r) => [r.offset, r.value?.toString()]),
          produced[p].map((v, i) => [i, v]),
        );
      }

      const producer2 = b.track(kafkaClient(b.bootstrap, 'torn-producer-2').producer());
      await producer2.connect();
      const res = await producer2.send({
        topic,
        acks: -1,
        messages: [0, 1].flatMap((partition) => ['n0', 'n1', 'n2'].map((value) => ({ partition, value }))),
      });
      assert.deepEqual(
        res.map((r) => [r.partition, Number(r.baseOffset)]).sort((x, y) => x[0] - y[0]),
        [
          [0, 300],
          [1, 300],
        ],
      );
      const again = byPartition(await kcatConsumeAll(b.bootstrap, topic), 2);
      for (let p = 0; p < 2; p++) {
        assert.deepEqual(
          again[p].map((r) => [r.offset, r.value?.toString()]),
          [...produced[p], 'n0', 'n1', 'n2'].map((v, i) => [i, v]),
        );
        // The segments on disk walk cleanly to their ends.
        for (const f of segmentFiles(join(b.dataDir, `${topic}-${p}`))) {
          const seg = readSegment(f);
          assert.equal(seg.validBytes, seg.size, f);
        }
      }
      await producer2.disconnect();

      // After a clean restart (indexes trusted), reads starting inside older segments and inside the
      // repaired one return exactly the tail of each partition.
      await b.stop();
      await b.restart();
      for (let p = 0; p < 2; p++) {
        for (const from of [0, 150, 298, 302]) {
          const tail = await kcatConsumePartition(b.bootstrap, topic, p, from);
          assert.deepEqual(
            tail.map((r) => [r.offset, r.value?.toString()]),
            again[p].slice(from).map((r) => [r.offset, r.value?.toString()]),
            `partition ${p} from ${from}`,
          );
        }
      }
    } finally {
      await b.close();
    }
  });
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Admin, Kafka, logLevel, type Producer } from 'kafkajs';
import { freePort, kafkaClient, spawnBroker, tempDir } from '../helpers/broker.js';
import { RECORD_FORMAT, RecordParser, runKcat } from '../helpers/kcat.js';

type Spawned = Awaited<ReturnType<typeof spawnBroker>>;

interface Rec {
  partition: number;
  offset: number;
  value: string;
}

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

async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  ms: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await sleep(50);
  }
}

/**
 * A broker process on a fresh data dir and port. `restart` reuses both, with its own
 * overrides and environment. Everything is torn down by `close`.
 */
async function processBroker(overrides: Record<string, string> = {}, env: Record<string, string> = {}) {
  const dir = tempDir('sluice-txn-crash-');
  const port = await freePort();
  let current: Spawned | null = await spawnBroker(dir.path, port, overrides, env);
  const clients: { disconnect(): Promise<void> }[] = [];
  return {
    bootstrap: `127.0.0.1:${port}`,
    get proc() {
      return current?.proc ?? null;
    },
    /** kill -9. */
    async crash() {
      await current?.kill('SIGKILL');
      current = null;
    },
    /** Waits for the broker to exit on its own; resolves with the signal that ended it. */
    async died(ms: number): Promise<NodeJS.Signals | null> {
      const proc = current?.proc;
      assert.ok(proc, 'a running broker');
      if (proc.exitCode === null && proc.signalCode === null) {
        await withTimeout(new Promise((resolve) => proc.once('exit', resolve)), ms, 'the broker to exit');
      }
      current = null;
      return proc.signalCode;
    },
    async restart(o: Record<string, string> = overrides, e: Record<string, string> = {}) {
      assert.equal(current, null, 'restart only after a crash');
      current = await spawnBroker(dir.path, port, o, e);
    },
    track<C extends { disconnect(): Promise<void> }>(c: C): C {
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients.reverse()) {
        await withTimeout(c.disconnect(), 10_000, 'client disconnect').catch(() => {});
      }
      const last = current;
      current = null;
      if (last) {
        await withTimeout(last.kill('SIGTERM'), 10_000, 'broker shutdown').catch(() => last.kill('SIGKILL'));
      }
      dir.remove();
    },
  };
}

/** A client that gives up at once when the broker is gone. */
function failFastClient(bootstrap: string, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  });
}

function txnProducer(kafka: Kafka, transactionalId: string, transactionTimeout: number): Producer {
  return kafka.producer({
    transactionalId,
    transactionTimeout,
    idempotent: true,
    maxInFlightRequests: 1,
    // kafkajs refuses an idempotent producer without retries.
    retry: { retries: 2, initialRetryTime: 100 },
  });
}

/** ListOffsets latest at read_committed (kafkajs's admin default): the last stable offsets. */
async function stableOffsets(admin: Admin, topic: string): Promise<number[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
}

async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<number[]> {
  const [res] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return res.partitions.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
}

/**
 * Every record a read_committed kafkajs consumer (fresh group) gets up to `until[p]` in each
 * partition; its position counts markers and aborted records too.
 */
async function readCommitted(kafka: Kafka, topic: string, until: number[]): Promise<Rec[]> {
  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    maxWaitTimeInMs: 100,
    // A crash fails the read; a restart scheduled by kafkajs would outlive the test.
    retry: { retries: 5, restartOnFailure: async () => false },
  });
  let fetches = 0;
  let failure: Error | null = null;
  consumer.on(consumer.events.FETCH, () => {
    fetches++;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    failure ??= payload.error;
  });
  const records: Rec[] = [];
  const position = new Map<number, number>();
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const next = Number(payload.lastOffset) + 1;
    position.set(payload.partition, Math.max(position.get(payload.partition) ?? 0, next));
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          records.push({ partition, offset: Number(message.offset), value: String(message.value) });
        },
      })
      .catch((err) => {
        failure = err;
      });
    await waitUntil(
      () =>
        failure !== null ||
        (fetches > 0 && until.every((end, p) => end === 0 || (position.get(p) ?? 0) >= end)),
      20_000,
      () => `positions ${JSON.stringify([...position])} to reach ${JSON.stringify(until)}`,
    );
    if (failure) throw failure;
  } finally {
    await withTimeout(consumer.disconnect(), 10_000, 'reader disconnect');
  }
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** The same through librdkafka: `kcat -C -e` with isolation.level=read_committed, to the end. */
async function kcatReadCommitted(bootstrap: string, topic: string): Promise<Rec[]> {
  const args = ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q'];
  args.push('-X', 'isolation.level=read_committed', '-X', 'fetch.wait.max.ms=50', '-f', RECORD_FORMAT);
  const res = await runKcat(args, { timeoutMs: 30_000 });
  assert.equal(res.code, 0, `kcat -C: ${res.stderr}`);
  const parser = new RecordParser();
  const records = parser.push(res.stdout);
  assert.equal(parser.pendingBytes, 0);
  return records
    .map((r) => ({ partition: r.partition, offset: r.offset, value: r.value?.toString() ?? '<null>' }))
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

const PARTITIONS = 3;

describe('transactions across broker crashes (kill -9 of a broker process)', () => {
  for (const how of ['timeout', 'InitProducerId'] as const) {
    it(`an open transaction at kill -9 is aborted after restart (by ${how}); its transactional.id commits again`, {
      timeout: 90_000,
    }, async () => {
      const topic = `crash-open-${how}`;
      const transactionalId = `crash-open-${how}-T`;
      // Default abort check interval (10 s) before the crash: the transaction survives until the kill.
      const b = await processBroker();
      try {
        const admin = b.track(kafkaClient(b.bootstrap, 'txn-crash-admin').admin());
        await admin.connect();
        await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });
        // The timeout variant opens its transaction with a 1 s timeout; the other with 10 minutes,
        // so only InitProducerId can end it.
        const timeoutMs = how === 'timeout' ? 1000 : 600_000;
        const before = b.track(
          txnProducer(failFastClient(b.bootstrap, 'before-crash'), transactionalId, timeoutMs),
        );
        await before.connect();
        const committed = [0, 1, 2].flatMap((partition) =>
          [0, 1].map((i) => ({ partition, value: `committed-${partition}-${i}` })),
        );
        const t1 = await before.transaction();
        await t1.send({ topic, acks: -1, messages: committed });
        await t1.commit();
        // Open, in partitions 0 and 1: offsets 3..5 after the records and commit marker at 0..2.
        const open = [0, 1].flatMap((partition) =>
          [0, 1, 2].map((i) => ({ partition, value: `open-${partition}-${i}` })),
        );
        const t2 = await before.transaction();
        await t2.send({ topic, acks: -1, messages: open });
        assert.deepEqual(await stableOffsets(admin, topic), [3, 3, 3]);

        await b.crash();
        await withTimeout(before.disconnect(), 10_000, 'producer disconnect').catch(() => {});
        await withTimeout(admin.disconnect(), 10_000, 'admin disconnect').catch(() => {});
        await b.restart(
          how === 'timeout' ? { 'transaction.abort.timed.out.transaction.cleanup.interval.ms': '100' } : {},
        );
        const admin2 = b.track(kafkaClient(b.bootstrap, 'txn-crash-admin-2').admin());
        await admin2.connect();
        // The abort marker lands at offset 6 of partitions 0 and 1.
        const ends = [7, 7, 3];
        if (how === 'timeout') {
          await waitUntil(
            async () => JSON.stringify(await stableOffsets(admin2, topic)) === JSON.stringify(ends),
            15_000,
            () => 'the timed-out transaction to be aborted',
          );
        } else {
          // Recovered from the log, the open transaction still holds the last stable offset.
          await sleep(500);
          assert.deepEqual(await stableOffsets(admin2, topic), [3, 3, 3]);
        }

        const after = b.track(txnProducer(kafkaClient(b.bootstrap, 'after-crash'), transactionalId, 60_000));
        await after.connect();
        const t3 = await after.transaction(); // InitProducerId: a new epoch (the open one is aborted here if still open)
        assert.deepEqual(await stableOffsets(admin2, topic), ends);
        const expectCommitted = committed.map((m, i) => [m.partition, i % 2, m.value]);
        assert.deepEqual(
          (await readCommitted(kafkaClient(b.bootstrap), topic, ends)).map((r) => [
            r.partition,
            r.offset,
            r.value,
          ]),
          expectCommitted,
        );
        assert.deepEqual(
          (await kcatReadCommitted(b.bootstrap, topic)).map((r) => [r.partition, r.offset, r.value]),
          expectCommitted,
        );

        await t3.send({
          topic,
          acks: -1,
          messages: [0, 1, 2].map((partition) => ({ partition, value: `after-${partition}` })),
        });
        await t3.commit();
        const finalEnds = [9, 9, 5];
        assert.deepEqual(await stableOffsets(admin2, topic), finalEnds);
        const expectFinal = [
          [0, 0, 'committed-0-0'],
          [0, 1, 'committed-0-1'],
          [0, 7, 'after-0'],
          [1, 0, 'committed-1-0'],
          [1, 1, 'committed-1-1'],
          [1, 7, 'after-1'],
          [2, 0, 'committed-2-0'],
          [2, 1, 'committed-2-1'],
          [2, 3, 'after-2'],
        ];
        assert.deepEqual(
          (await readCommitted(kafkaClient(b.bootstrap), topic, finalEnds)).map((r) => [
            r.partition,
            r.offset,
            r.value,
          ]),
          expectFinal,
        );
        assert.deepEqual(
          (await kcatReadCommitted(b.bootstrap, topic)).map((r) => [r.partition, r.offset, r.value]),
          expectFinal,
        );
      } finally {
        await b.close();
      }
    });
  }

  for (const ending of ['commit', 'abort'] as const) {
    it(`a broker killed between Prepare${ending === 'commit' ? 'Commit' : 'Abort'} and the markers completes the ${ending} on restart`, {
      timeout: 90_000,
    }, async () => {
      const input = `crash-${ending}-in`;
      const output = `crash-${ending}-out`;
      const groupId = `crash-${ending}-group`;
      const transactionalId = `crash-${ending}-T`;
      const b = await processBroker({}, { SLUICE_BROKER_FAULT: 'crash-after-txn-prepare' });
      try {
        const admin = b.track(failFastClient(b.bootstrap, 'txn-crash-admin').admin());
        await admin.connect();
        await admin.createTopics({
          topics: [
            { topic: input, numPartitions: PARTITIONS },
            { topic: output, numPartitions: PARTITIONS },
          ],
        });
        const plain = b.track(failFastClient(b.bootstrap, 'plain').producer());
        await plain.connect();
        await plain.send({
          topic: input,
          acks: -1,
          messages: [0, 1, 2].flatMap((partition) =>
            Array.from({ length: 10 }, (_, i) => ({ partition, value: `in-${partition}-${i}` })),
          ),
        });
        // The group's offsets before the transaction, committed the ordinary way by a member.
        const member = failFastClient(b.bootstrap, 'member').consumer({
          groupId,
          maxWaitTimeInMs: 100,
          retry: { retries: 0, restartOnFailure: async () => false },
        });
        await member.connect();
        await member.subscribe({ topic: input, fromBeginning: true });
        let fetched = false;
        member.on(member.events.FETCH, () => {
          fetched = true;
        });
        await member.run({ autoCommit: false, eachMessage: async () => {} });
        await waitUntil(
          () => fetched,
          20_000,
          () => 'the group member to fetch',
        );
        await member.commitOffsets([0, 1, 2].map((partition) => ({ topic: input, partition, offset: '2' })));
        await member.disconnect();
        assert.deepEqual(await committedOffsets(admin, groupId, input), [2, 2, 2]);

        const producer = b.track(txnProducer(failFastClient(b.bootstrap, 'doomed'), transactionalId, 60_000));
        await producer.connect();
        const txn = await producer.transaction();
        const messages = [0, 1].flatMap((partition) =>
          [0, 1, 2].map((i) => ({ partition, value: `txn-${partition}-${i}` })),
        );
        await txn.send({ topic: output, acks: -1, messages });
        await txn.sendOffsets({
          consumerGroupId: groupId,
          topics: [
            {
              topic: input,
              partitions: [
                { partition: 0, offset: '5' },
                { partition: 1, offset: '7' },
              ],
            },
          ],
        });
        const ended = ending === 'commit' ? txn.commit() : txn.abort();
        const err = await ended.then(
          () => null,
          (e: Error) => e,
        );
        assert.ok(err instanceof Error, `the ${ending} fails: the broker died under it`);
        assert.equal(await b.died(10_000), 'SIGKILL');
        await withTimeout(producer.disconnect(), 10_000, 'producer disconnect').catch(() => {});
        await withTimeout(admin.disconnect(), 10_000, 'admin disconnect').catch(() => {});

        await b.restart({}, {}); // without the fault
        const admin2 = b.track(kafkaClient(b.bootstrap, 'txn-crash-admin-2').admin());
        await admin2.connect();
        // Recovery wrote the markers (offset 3 of partitions 0 and 1) before listening.
        const ends = [4, 4, 0];
        assert.deepEqual(await stableOffsets(admin2, output), ends);
        const expected =
          ending === 'commit' ? messages.map((m, i) => [m.partition, i % 3, m.value]) : ([] as unknown[]);
        assert.deepEqual(
          (await readCommitted(kafkaClient(b.bootstrap), output, ends)).map((r) => [
            r.partition,
            r.offset,
            r.value,
          ]),
          expected,
        );
        assert.deepEqual(
          (await kcatReadCommitted(b.bootstrap, output)).map((r) => [r.partition, r.offset, r.value]),
          expected,
        );
        assert.deepEqual(
          await committedOffsets(admin2, groupId, input),
          ending === 'commit' ? [5, 7, 2] : [2, 2, 2],
        );

        // The transactional.id carries on with a new producer.
        const next = b.track(txnProducer(kafkaClient(b.bootstrap, 'next'), transactionalId, 60_000));
        await next.connect();
        const t2 = await next.transaction();
        await t2.send({ topic: output, acks: -1, messages: [{ partition: 2, value: 'next-2' }] });
        await t2.sendOffsets({
          consumerGroupId: groupId,
          topics: [{ topic: input, partitions: [{ partition: 2, offset: '9' }] }],
        });
        await t2.commit();
        assert.deepEqual(await stableOffsets(admin2, output), [4, 4, 2]);
        assert.deepEqual(
          (await readCommitted(kafkaClient(b.bootstrap), output, [4, 4, 2])).map((r) => [
            r.partition,
            r.offset,
            r.value,
          ]),
          [...expected, [2, 0, 'next-2']],
        );
        assert.deepEqual(
          await committedOffsets(admin2, groupId, input),
          ending === 'commit' ? [5, 7, 9] : [2, 2, 9],
        );
      } finally {
        await b.close();
      }
    });
  }
});

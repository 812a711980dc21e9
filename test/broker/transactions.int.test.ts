import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Kafka, Producer, Transaction } from 'kafkajs';
import type { BrokerConfigInput } from '../../engine/broker/index.js';
import { kafkaClient, withBroker } from '../helpers/broker.js';
import { kcatConsumeAll, kcatProduce } from '../helpers/kcat.js';

interface Rec {
  partition: number;
  offset: number;
  key: string | null;
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

async function waitUntil(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await sleep(20);
  }
}

const byPosition = (a: Rec, b: Rec) => a.partition - b.partition || a.offset - b.offset;
const brief = (records: Rec[]) => records.map((r) => [r.partition, r.offset, r.value]);

/**
 * A kafkajs group consumer on a fresh group that reads `topic` (read_committed unless
 * `readUncommitted`). With `until`, it stops once its position in every partition (the offset
 * after the last batch it was handed, markers and aborted records included) reaches
 * `until[p]`; with `pollMs`, it keeps polling that long after its first fetch.
 */
async function consumeTopic(
  kafka: Kafka,
  topic: string,
  o: {
    readUncommitted?: boolean;
    fromBeginning?: boolean;
    until?: number[];
    pollMs?: number;
    timeoutMs?: number;
    /** Called on every record as it arrives (for timing). */
    onRecord?: (r: Rec) => void;
    /** Called after every fetch. */
    onFetch?: () => void;
  },
): Promise<Rec[]> {
  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    maxWaitTimeInMs: 100,
    readUncommitted: o.readUncommitted ?? false,
    // A crash fails the read; a restart scheduled by kafkajs would outlive the test.
    retry: { retries: 5, restartOnFailure: async () => false },
  });
  const records: Rec[] = [];
  const position = new Map<number, number>();
  let fetches = 0;
  let failure: Error | null = null;
  consumer.on(consumer.events.FETCH, () => {
    fetches++;
    o.onFetch?.();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    failure ??= payload.error;
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.topic !== topic) return;
    const next = Number(payload.lastOffset) + 1;
    position.set(payload.partition, Math.max(position.get(payload.partition) ?? 0, next));
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: o.fromBeginning ?? true });
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          const r = {
            partition,
            offset: Number(message.offset),
            key: message.key ? message.key.toString() : null,
            value: message.value?.toString() ?? '<null>',
          };
          records.push(r);
          o.onRecord?.(r);
        },
      })
      .catch((err) => {
        failure = err;
      });
    const timeoutMs = o.timeoutMs ?? 20_000;
    const until = o.until;
    if (until) {
      await waitUntil(
        () =>
          failure !== null ||
          (fetches > 0 && until.every((end, p) => end === 0 || (position.get(p) ?? 0) >= end)),
        timeoutMs,
        () => `positions ${JSON.stringify([...position])} to reach ${JSON.stringify(until)}`,
      );
    } else {
      await waitUntil(
        () => failure !== null || fetches > 0,
        timeoutMs,
        () => 'a first fetch',
      );
      const before = fetches;
      await sleep(o.pollMs ?? 1000);
      assert.ok(fetches > before + 2, `the consumer kept fetching (${fetches - before} fetches)`);
    }
    if (failure) throw failure;
  } finally {
    await withTimeout(consumer.disconnect(), 10_000, 'reader disconnect');
  }
  return records.sort(byPosition);
}

/**
 * ListOffsets "latest" as kafkajs's admin asks it: with isolation level read_committed (its
 * default), so the answer is the last stable offset; the high watermark when no transaction is open.
 */
async function latestOffsets(admin: Admin, topic: string): Promise<number[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
}

async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<number[]> {
  const [res] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return res.partitions.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
}

/** The error kafkajs threw, as its class name, protocol error type and retriability. */
function describeError(err: unknown): { name: string; type: string | undefined; retriable: boolean } {
  const e = err as { name: string; type?: string; retriable?: boolean; cause?: { type?: string } };
  return { name: e.name, type: e.type ?? e.cause?.type, retriable: e.retriable ?? false };
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

/** A broker, a client and an admin; `track` registers clients disconnected at the end. */
async function setup(config: BrokerConfigInput = {}) {
  const env = await withBroker(config);
  const kafka = kafkaClient(env.bootstrap, 'txn-test');
  const admin = kafka.admin();
  await admin.connect();
  const clients: { disconnect(): Promise<void> }[] = [];
  return {
    env,
    kafka,
    admin,
    track<C extends { disconnect(): Promise<void> }>(c: C): C {
      clients.push(c);
      return c;
    },
    txnProducer(transactionalId: string, transactionTimeout?: number): Producer {
      const p = kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        ...(transactionTimeout === undefined ? {} : { transactionTimeout }),
      });
      clients.push(p);
      return p;
    },
    async close() {
      for (const c of clients.reverse()) {
        await withTimeout(c.disconnect(), 10_000, 'client disconnect').catch(() => {});
      }
      await admin.disconnect();
      await env.stop();
    },
  };
}

describe('idempotent and transactional producers against the embedded broker', () => {
  it('an idempotent producer whose produce responses are lost stores every batch exactly once', {
    timeout: 60_000,
  }, async () => {
    const s = await setup();
    try {
      const topic = 'idem';
      await s.admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
      const producer = s.track(
        s.kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          retry: { retries: 8, initialRetryTime: 100 },
        }),
      );
      await producer.connect();
      const sent: string[][] = [[], [], []];
      const acks: [number, number, number][] = []; // [batch, partition, baseOffset]
      for (let batch = 0; batch < 6; batch++) {
        // The first batch and the fourth lose their response: the broker appends, then drops
        // the connection, and kafkajs retries the same sequence numbers.
        if (batch === 0 || batch === 3) s.env.broker.faults.dropProduceResponses = 1;
        const messages = Array.from({ length: 12 }, (_, i) => ({
          partition: i % 3,
          key: `k${i}`,
          value: `b${batch}-m${i}-${randomBytes(3).toString('hex')}`,
        }));
        const res = await producer.send({ topic, acks: -1, messages });
        assert.equal(s.env.broker.faults.dropProduceResponses, 0, `batch ${batch}: the fault was used`);
        for (const r of res) {
          assert.equal(r.errorCode, 0);
          acks.push([batch, r.partition, Number(r.baseOffset)]);
        }
        for (const m of messages) sent[m.partition].push(m.value);
      }
      // Every batch is acknowledged at the offset it was first written at, the retried ones too.
      assert.deepEqual(
        acks.sort((a, b) => a[0] - b[0] || a[1] - b[1]),
        Array.from({ length: 6 }, (_, batch) => [0, 1, 2].map((p) => [batch, p, batch * 4])).flat(),
      );
      assert.deepEqual(await latestOffsets(s.admin, topic), [24, 24, 24]);
      const records = await consumeTopic(s.kafka, topic, { until: [24, 24, 24] });
      assert.deepEqual(
        brief(records),
        sent.flatMap((values, p) => values.map((v, i) => [p, i, v])),
      );

      // Control: the same lost response to a producer that is not idempotent stores its batch twice.
      const control = 'not-idem';
      await s.admin.createTopics({ topics: [{ topic: control, numPartitions: 3 }] });
      const plain = s.track(s.kafka.producer({ retry: { retries: 8, initialRetryTime: 100 } }));
      await plain.connect();
      s.env.broker.faults.dropProduceResponses = 1;
      const values = [0, 1, 2].map((partition) => ({ partition, value: `plain-${partition}` }));
      await plain.send({ topic: control, acks: -1, messages: values });
      assert.equal(s.env.broker.faults.dropProduceResponses, 0);
      assert.deepEqual(
        brief(await consumeTopic(s.kafka, control, { until: [2, 2, 2] })),
        values.flatMap(({ partition, value }) => [
          [partition, 0, value],
          [partition, 1, value],
        ]),
      );
    } finally {
      await s.close();
    }
  });

  it('consume-transform-produce with sendOffsets: commit publishes output and offsets, abort neither', {
    timeout: 90_000,
  }, async () => {
    const s = await setup();
    try {
      const input = 'ctp-in';
      const output = 'ctp-out';
      const groupId = 'ctp-group';
      await s.admin.createTopics({
        topics: [
          { topic: input, numPartitions: 3 },
          { topic: output, numPartitions: 3 },
        ],
      });
      const plain = s.track(s.kafka.producer());
      await plain.connect();
      const produceInput = async (from: number, count: number) => {
        const messages = [0, 1, 2].flatMap((partition) =>
          Array.from({ length: count }, (_, i) => ({
            partition,
            key: `k${partition}-${from + i}`,
            value: `in-${partition}-${from + i}`,
          })),
        );
        // One record per request: input batches are small, so a run spans several transactions.
        for (const m of messages) await plain.send({ topic: input, acks: -1, messages: [m] });
      };
      const transform = (value: string, offset: number) => `${value.toUpperCase()}@${offset}`;
      await produceInput(0, 8);

      const producer = s.txnProducer('ctp-txn');
      await producer.connect();

      /**
       * A group member of `groupId` that turns each fetched batch into one transaction: the
       * transformed records to `output` (same partition) and the next input offset for the
       * group; the transaction commits or aborts. Returns once `expected` records were handled.
       */
      const processBatches = async (expected: number, end: 'commit' | 'abort') => {
        const consumer = s.kafka.consumer({
          groupId,
          maxWaitTimeInMs: 100,
          retry: { retries: 5, restartOnFailure: async () => false },
        });
        await consumer.connect();
        await consumer.subscribe({ topic: input, fromBeginning: true });
        let handled = 0;
        let transactions = 0;
        try {
          await withTimeout(
            new Promise<void>((resolve, reject) => {
              consumer
                .run({
                  autoCommit: false,
                  eachBatchAutoResolve: false,
                  eachBatch: async ({ batch, resolveOffset }) => {
                    const txn = await producer.transaction();
                    try {
                      await txn.send({
                        topic: output,
                        messages: batch.messages.map((m) => ({
                          partition: batch.partition,
                          key: m.key,
                          value: transform(m.value!.toString(), Number(m.offset)),
                        })),
                      });
                      const next = Number(batch.messages[batch.messages.length - 1].offset) + 1;
                      await txn.sendOffsets({
                        consumerGroupId: groupId,
                        topics: [
                          {
                            topic: input,
                            partitions: [{ partition: batch.partition, offset: String(next) }],
                          },
                        ],
                      });
                      await (end === 'commit' ? txn.commit() : txn.abort());
                    } catch (err) {
                      if (txn.isActive()) await txn.abort().catch(() => {});
                      reject(err);
                      throw err;
                    }
                    transactions++;
                    for (const m of batch.messages) resolveOffset(m.offset);
                    handled += batch.messages.length;
                    if (handled >= expected) resolve();
                  },
                })
                .catch(reject);
            }),
            30_000,
            `processing ${expected} input records`,
          );
          await sleep(300); // a redelivered batch would show up here
        } finally {
          await withTimeout(consumer.disconnect(), 10_000, 'processor disconnect');
        }
        assert.equal(handled, expected);
        return transactions;
      };
      const expectedOutput = (perPartition: [number, number][]) =>
        perPartition.flatMap(([from, to], p) =>
          Array.from({ length: to - from }, (_, i) => transform(`in-${p}-${from + i}`, from + i)).map((v) => [
            p,
            v,
          ]),
        );

      // Commit path: 24 input records, each batch a committed transaction.
      const committedTxns = await processBatches(24, 'commit');
      assert.ok(committedTxns >= 3, `${committedTxns} transactions`);
      let ends = await latestOffsets(s.admin, output);
      let out = await consumeTopic(s.kafka, output, { until: ends });
      assert.deepEqual(
        out.map((r) => [r.partition, r.value]),
        expectedOutput([
          [0, 8],
          [0, 8],
          [0, 8],
        ]),
      );
      // Each transaction's records are followed by its commit marker: the high watermark
      // counts 8 records and one marker per transaction.
      assert.equal(
        ends.reduce((a, b) => a + b, 0),
        24 + committedTxns,
      );
      assert.deepEqual(await committedOffsets(s.admin, groupId, input), [8, 8, 8]);
      assert.deepEqual(await latestOffsets(s.admin, input), [8, 8, 8]);

      // Abort path: 3 more input records per partition; their transactions abort.
      await produceInput(8, 3);
      const abortedTxns = await processBatches(9, 'abort');
      const endsAfterAbort = await latestOffsets(s.admin, output);
      assert.equal(
        endsAfterAbort.reduce((a, b) => a + b, 0) - ends.reduce((a, b) => a + b, 0),
        9 + abortedTxns,
      );
      out = await consumeTopic(s.kafka, output, { until: endsAfterAbort });
      assert.deepEqual(
        out.map((r) => [r.partition, r.value]),
        expectedOutput([
          [0, 8],
          [0, 8],
          [0, 8],
        ]),
        'read_committed never sees the aborted records',
      );
      const uncommitted = await consumeTopic(s.kafka, output, {
        until: endsAfterAbort,
        readUncommitted: true,
      });
      assert.deepEqual(
        uncommitted.map((r) => [r.partition, r.value]),
        expectedOutput([
          [0, 11],
          [0, 11],
          [0, 11],
        ]),
        'read_uncommitted sees the aborted records',
      );
      assert.deepEqual(await committedOffsets(s.admin, groupId, input), [8, 8, 8], 'offsets did not move');

      // The group resumes at its committed offsets: the 9 records are processed again, now committed.
      await processBatches(9, 'commit');
      ends = await latestOffsets(s.admin, output);
      out = await consumeTopic(s.kafka, output, { until: ends });
      assert.deepEqual(
        out.map((r) => [r.partition, r.value]),
        expectedOutput([
          [0, 11],
          [0, 11],
          [0, 11],
        ]),
      );
      assert.deepEqual(await committedOffsets(s.admin, groupId, input), [11, 11, 11]);
    } finally {
      await s.close();
    }
  });

  it('an open transaction holds read_committed readers and ListOffsets at its first offset until it commits', {
    timeout: 60_000,
  }, async () => {
    const s = await setup();
    try {
      const topic = 'lso';
      await s.admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
      const plain = s.track(s.kafka.producer());
      await plain.connect();
      const sendPlain = async (partition: number, values: string[]) => {
        for (const value of values) await plain.send({ topic, acks: -1, messages: [{ partition, value }] });
      };
      await sendPlain(0, ['p0', 'p1', 'p2']);
      await sendPlain(1, ['q0']);

      const producer = s.txnProducer('lso-txn');
      await producer.connect();
      const txn = await producer.transaction();
      await txn.send({
        topic,
        messages: [
          { partition: 0, value: 't0' },
          { partition: 0, value: 't1' },
        ],
      });
      // Non-transactional records after the open transaction's first offset (3).
      await sendPlain(0, ['p5', 'p6']);
      await sendPlain(1, ['q1']);

      // ListOffsets latest at read_committed (kafkajs's admin) answers the last stable offset:
      // 3, the open transaction's first offset, though partition 0's high watermark is 7.
      assert.deepEqual(await latestOffsets(s.admin, topic), [3, 2]);

      // read_committed stops at the last stable offset (3 in partition 0); read_uncommitted does not.
      const whileOpen = await consumeTopic(s.kafka, topic, { pollMs: 1000 });
      assert.deepEqual(brief(whileOpen), [
        [0, 0, 'p0'],
        [0, 1, 'p1'],
        [0, 2, 'p2'],
        [1, 0, 'q0'],
        [1, 1, 'q1'],
      ]);
      const dirty = await consumeTopic(s.kafka, topic, { readUncommitted: true, until: [7, 2] });
      assert.deepEqual(brief(dirty), [
        [0, 0, 'p0'],
        [0, 1, 'p1'],
        [0, 2, 'p2'],
        [0, 3, 't0'],
        [0, 4, 't1'],
        [0, 5, 'p5'],
        [0, 6, 'p6'],
        [1, 0, 'q0'],
        [1, 1, 'q1'],
      ]);

      // Readers starting at "latest" (ListOffsets latest at their isolation level) while the
      // transaction is open: read_committed starts at the last stable offset, read_uncommitted
      // at the high watermark.
      const fromLatest = (readUncommitted: boolean) => {
        const got: Rec[] = [];
        let fetched = 0;
        const ready = consumeTopic(s.kafka, topic, {
          readUncommitted,
          fromBeginning: false,
          until: [9, 3],
          onRecord: (r) => got.push(r),
          onFetch: () => fetched++,
        });
        return { got, ready, fetches: () => fetched };
      };
      const latestCommitted = fromLatest(false);
      const latestDirty = fromLatest(true);
      await waitUntil(
        () => latestCommitted.fetches() > 0 && latestDirty.fetches() > 0,
        20_000,
        () => 'both latest readers to fetch',
      );
      await sleep(300);
      assert.deepEqual(latestCommitted.got, [], 'nothing visible to read_committed from latest yet');
      assert.deepEqual(latestDirty.got, []);

      await txn.commit(); // marker at offset 7 of partition 0
      await sendPlain(0, ['p8']);
      await sendPlain(1, ['q2']);
      const committedLatest = await latestCommitted.ready;
      const dirtyLatest = await latestDirty.ready;
      assert.deepEqual(brief(committedLatest), [
        [0, 3, 't0'],
        [0, 4, 't1'],
        [0, 5, 'p5'],
        [0, 6, 'p6'],
        [0, 8, 'p8'],
        [1, 2, 'q2'],
      ]);
      assert.deepEqual(brief(dirtyLatest), [
        [0, 8, 'p8'],
        [1, 2, 'q2'],
      ]);

      const after = await consumeTopic(s.kafka, topic, { until: [9, 3] });
      assert.deepEqual(brief(after), [
        [0, 0, 'p0'],
        [0, 1, 'p1'],
        [0, 2, 'p2'],
        [0, 3, 't0'],
        [0, 4, 't1'],
        [0, 5, 'p5'],
        [0, 6, 'p6'],
        [0, 8, 'p8'],
        [1, 0, 'q0'],
        [1, 1, 'q1'],
        [1, 2, 'q2'],
      ]);
      assert.deepEqual(await latestOffsets(s.admin, topic), [9, 3]);
    } finally {
      await s.close();
    }
  });

  it('a second producer with the same transactional.id fences the first and aborts its transaction', {
    timeout: 60_000,
  }, async () => {
    const s = await setup();
    try {
      const topic = 'fence';
      await s.admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
      const a = s.txnProducer('fence-T');
      await a.connect();
      const txnA = await a.transaction();
      await txnA.send({
        topic,
        messages: [
          { partition: 0, value: 'a-0' },
          { partition: 1, value: 'a-1' },
        ],
      });

      const b = s.txnProducer('fence-T');
      await b.connect();
      const txnB = await b.transaction(); // InitProducerId: epoch bumped, A's transaction aborted

      // A, fenced: a produce to a partition already in its transaction, adding a partition, and
      // the commit all fail with INVALID_PRODUCER_EPOCH.
      const produceErr = await caught(txnA.send({ topic, messages: [{ partition: 0, value: 'a-late' }] }));
      assert.deepEqual(describeError(produceErr), {
        name: 'KafkaJSProtocolError',
        type: 'INVALID_PRODUCER_EPOCH',
        retriable: false,
      });
      const addErr = await caught(txnA.send({ topic, messages: [{ partition: 2, value: 'a-new' }] }));
      assert.deepEqual(describeError(addErr), {
        name: 'KafkaJSProtocolError',
        type: 'INVALID_PRODUCER_EPOCH',
        retriable: false,
      });
      const commitErr = await caught(txnA.commit());
      assert.deepEqual(describeError(commitErr), {
        name: 'KafkaJSProtocolError',
        type: 'INVALID_PRODUCER_EPOCH',
        retriable: false,
      });

      await txnB.send({
        topic,
        messages: [
          { partition: 0, value: 'b-0' },
          { partition: 2, value: 'b-2' },
        ],
      });
      await txnB.commit();

      // Partition 0: a-0, abort marker, b-0, commit marker. Partition 1: a-1, abort marker.
      const ends = await latestOffsets(s.admin, topic);
      assert.deepEqual(ends, [4, 2, 2]);
      assert.deepEqual(brief(await consumeTopic(s.kafka, topic, { until: ends })), [
        [0, 2, 'b-0'],
        [2, 0, 'b-2'],
      ]);
      assert.deepEqual(brief(await consumeTopic(s.kafka, topic, { until: ends, readUncommitted: true })), [
        [0, 0, 'a-0'],
        [0, 2, 'b-0'],
        [1, 0, 'a-1'],
        [2, 0, 'b-2'],
      ]);
    } finally {
      await s.close();
    }
  });

  it('the broker aborts a transaction that outlives its timeout and fences its producer', {
    timeout: 60_000,
  }, async () => {
    const s = await setup({ 'transaction.abort.timed.out.transaction.cleanup.interval.ms': 100 });
    try {
      const topic = 'txn-timeout';
      await s.admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
      // A read_committed reader that is already polling when the transaction starts.
      const arrivals: { value: string; at: number }[] = [];
      let fetches = 0;
      const reading = consumeTopic(s.kafka, topic, {
        until: [7],
        timeoutMs: 30_000,
        onRecord: (r) => arrivals.push({ value: r.value, at: Date.now() }),
        onFetch: () => fetches++,
      });
      await waitUntil(
        () => fetches > 0,
        20_000,
        () => 'the reader to fetch',
      );

      const slow = s.txnProducer('timeout-slow', 1000);
      await slow.connect();
      const stale = await slow.transaction();
      const startedAt = Date.now();
      await stale.send({
        topic,
        messages: [
          { partition: 0, value: 'stale-0' },
          { partition: 0, value: 'stale-1' },
        ],
      });
      // Committed data behind the open transaction, from another transactional producer and a plain one.
      const other = s.txnProducer('timeout-other');
      await other.connect();
      const txn = await other.transaction();
      await txn.send({ topic, messages: [{ partition: 0, value: 'other-0' }] });
      await txn.commit();
      const plain = s.track(s.kafka.producer());
      await plain.connect();
      await plain.send({ topic, acks: -1, messages: [{ partition: 0, value: 'plain-0' }] });

      await sleep(Math.max(0, startedAt + 2500 - Date.now()));
      // stale-0 0, stale-1 1, other-0 2, commit marker 3, plain-0 4, abort marker 5 (after the
      // timeout); then one more committed record at 6.
      assert.deepEqual(await latestOffsets(s.admin, topic), [6]);
      const commitErr = await caught(stale.commit());
      assert.deepEqual(describeError(commitErr), {
        name: 'KafkaJSProtocolError',
        type: 'INVALID_PRODUCER_EPOCH',
        retriable: false,
      });
      await plain.send({ topic, acks: -1, messages: [{ partition: 0, value: 'plain-1' }] });

      const seen = await reading;
      assert.deepEqual(brief(seen), [
        [0, 2, 'other-0'],
        [0, 4, 'plain-0'],
        [0, 6, 'plain-1'],
      ]);
      // The committed records behind the open transaction became visible only once it timed out.
      const firstVisible = arrivals[0].at - startedAt;
      assert.ok(firstVisible >= 1000, `other-0 was visible ${firstVisible} ms after the transaction began`);
      assert.ok(
        firstVisible < 2500,
        `other-0 became visible only ${firstVisible} ms after the transaction began`,
      );
      assert.deepEqual(brief(await consumeTopic(s.kafka, topic, { until: [7], readUncommitted: true })), [
        [0, 0, 'stale-0'],
        [0, 1, 'stale-1'],
        [0, 2, 'other-0'],
        [0, 4, 'plain-0'],
        [0, 6, 'plain-1'],
      ]);
    } finally {
      await s.close();
    }
  });

  it('kafkajs read_committed hides aborted transactions that interleave with others', {
    timeout: 60_000,
  }, async () => {
    // Fetch responses list the aborted transactions overlapping the records returned, as Kafka
    // does: in the order they aborted, including ones that began before the fetch offset. The Java
    // client and librdkafka cope with any such list. kafkajs 2.2.4
    // (consumer/filterAbortedMessages.js) does not: it takes the list as sorted by first offset
    // and moves at most one entry per record into its aborted set, each when it reaches that
    // entry's first offset, whoever's record it is. And after a batch it fetches again from the
    // offset after the last record it delivered, so the next list holds transactions that
    // began before that offset.
    //   Partition 0 (abort order): x0 @0 (X), y0 @1 (Y), Y aborts @2, X aborts @3, z0 @4
    //   committed by Z @5. List [Y@1, X@0]: at x0 nothing is moved, so x0 is delivered.
    //   Partition 1 (refetch): x1 @0 (X), y1 @1 (Y), z1 @2 (Z), Y commits @3, Z aborts @4,
    //   X aborts @5. Even listed as [X@0, Z@2], kafkajs delivers y1 and fetches again from 2;
    //   that list is [X@0, Z@2] again and z1 moves X in, so z1 is delivered.
    //   Partition 2 (two transactions begun before the refetch offset, both with records after
    //   it): x2 @0 (X), z2 @1 (Z), y2 @2 (Y), z3 @3 (Z), x3 @4 (X), Y commits @5, Z aborts @6,
    //   X aborts @7. kafkajs delivers y2 and fetches again from 3; a list [X@0, Z@1] (sorted,
    //   both producers present) lets z3 move X in, so z3 is delivered. A list kafkajs reads
    //   right gives each transaction the offset of its producer's first batch in the response:
    //   [Z@3, X@4].
    const s = await setup();
    try {
      const topic = 'abort-interleaved';
      await s.admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
      const [x, y, z] = ['X', 'Y', 'Z'].map((name) => s.txnProducer(`interleaved-${name}`));
      await Promise.all([x.connect(), y.connect(), z.connect()]);
      const send = async (txn: Transaction, partition: number, value: string) =>
        txn.send({ topic, messages: [{ partition, value }] });

      let [tx, ty, tz] = [await x.transaction(), await y.transaction(), await z.transaction()];
      await send(tx, 0, 'x0');
      await send(ty, 0, 'y0');
      await ty.abort();
      await tx.abort();
      await send(tz, 0, 'z0');
      await tz.commit();

      [tx, ty, tz] = [await x.transaction(), await y.transaction(), await z.transaction()];
      await send(tx, 1, 'x1');
      await send(ty, 1, 'y1');
      await send(tz, 1, 'z1');
      await ty.commit();
      await tz.abort();
      await tx.abort();

      [tx, ty, tz] = [await x.transaction(), await y.transaction(), await z.transaction()];
      await send(tx, 2, 'x2');
      await send(tz, 2, 'z2');
      await send(ty, 2, 'y2');
      await send(tz, 2, 'z3');
      await send(tx, 2, 'x3');
      await ty.commit();
      await tz.abort();
      await tx.abort();
      const ends = [6, 6, 8];
      assert.deepEqual(await latestOffsets(s.admin, topic), ends);

      assert.deepEqual(brief(await consumeTopic(s.kafka, topic, { until: ends, readUncommitted: true })), [
        [0, 0, 'x0'],
        [0, 1, 'y0'],
        [0, 4, 'z0'],
        [1, 0, 'x1'],
        [1, 1, 'y1'],
        [1, 2, 'z1'],
        [2, 0, 'x2'],
        [2, 1, 'z2'],
        [2, 2, 'y2'],
        [2, 3, 'z3'],
        [2, 4, 'x3'],
      ]);
      const committed = [
        [0, 4, 'z0'],
        [1, 1, 'y1'],
        [2, 2, 'y2'],
      ];
      // librdkafka (read_committed is its default isolation level) sees only the committed records.
      const kcat = await kcatConsumeAll(s.env.bootstrap, topic);
      assert.deepEqual(
        kcat
          .sort((a, b) => a.partition - b.partition || a.offset - b.offset)
          .map((r) => [r.partition, r.offset, r.value?.toString()]),
        committed,
      );
      // So must kafkajs, the project's client.
      assert.deepEqual(brief(await consumeTopic(s.kafka, topic, { until: ends })), committed);
    } finally {
      await s.close();
    }
  });

  it('kcat with enable.idempotence=true produces 10,000 records exactly once', {
    timeout: 90_000,
  }, async () => {
    const s = await setup();
    try {
      const topic = 'kcat-idem';
      await s.admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
      const records = Array.from({ length: 10_000 }, (_, i) => ({
        key: Buffer.from(`k${i % 101}`),
        value: Buffer.from(`v-${i}-${randomBytes(6).toString('hex')}`),
      }));
      // kcatProduce fails on a non-zero exit or anything error-like on stderr.
      await kcatProduce(s.env.bootstrap, topic, records, [
        '-X',
        'enable.idempotence=true',
        '-X',
        'linger.ms=5',
      ]);
      const back = await kcatConsumeAll(s.env.bootstrap, topic);
      assert.equal(back.length, 10_000);
      const pair = (k: Buffer | null, v: Buffer | null) => `${k?.toString()}\t${v?.toString()}`;
      assert.deepEqual(
        back.map((r) => pair(r.key, r.value)).sort(),
        records.map((r) => pair(r.key, r.value)).sort(),
      );
      const ends = await latestOffsets(s.admin, topic);
      assert.equal(
        ends.reduce((a, b) => a + b, 0),
        10_000,
      );
      for (let p = 0; p < 3; p++) {
        const offsets = back.filter((r) => r.partition === p).map((r) => r.offset);
        assert.deepEqual(
          offsets,
          offsets.map((_, i) => i),
          `partition ${p}: offsets 0..n-1`,
        );
        // Per key, records keep the order they were sent in.
        const values = back
          .filter((r) => r.partition === p)
          .map((r) => Number(r.value!.toString().split('-')[1]));
        const byKey = new Map<number, number[]>();
        for (const v of values) byKey.set(v % 101, [...(byKey.get(v % 101) ?? []), v]);
        for (const list of byKey.values())
          assert.deepEqual(
            list,
            [...list].sort((x, y) => x - y),
          );
      }
    } finally {
      await s.close();
    }
  });
});

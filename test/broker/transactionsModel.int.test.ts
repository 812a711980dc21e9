import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { Admin, Kafka, Producer, Transaction } from 'kafkajs';
import { type Broker, startBroker } from '../../engine/broker/index.js';
import { kafkaClient, tempDir } from '../helpers/broker.js';
import { RECORD_FORMAT, RecordParser, runKcat } from '../helpers/kcat.js';

/**
 * Model-based test of transactions: random interleavings of three transactional producers over
 * a 3-partition topic, against a model of every partition's log (records, commit and abort
 * markers, offsets). SLUICE_SOAK=1 runs 100 sequences instead of 15; SLUICE_SEED replays one.
 *
 * A read_committed consumer gets records in offset order: a transaction's records sit where they
 * were appended (at send time), so when transactions interleave in a partition their committed
 * records come in append order, not commit order. The model therefore predicts exact offsets.
 */
const PARTITIONS = 3;
const PRODUCERS = 3;
const SOAK = process.env.SLUICE_SOAK === '1';
const NUM_RUNS = SOAK ? 100 : 15;
const MAX_OPS = 12;
const OP_TIMEOUT_MS = 15_000;

type Op =
  | { kind: 'send'; producer: number; partitions: number[]; loseResponse: boolean }
  | { kind: 'commit' | 'abort' | 'fence'; producer: number }
  | { kind: 'restart' };

interface Scenario {
  ops: Op[];
  /** How the transactions still open after the ops end, producer by producer. */
  finish: 'commit' | 'abort';
}

type Entry = { kind: 'data'; txn: number; value: string } | { kind: 'marker'; txn: number; commit: boolean };

/** Every partition's log as the broker must write it; offsets are indexes. */
class LogModel {
  readonly logs: Entry[][] = Array.from({ length: PARTITIONS }, () => []);
  private status = new Map<number, 'open' | 'committed' | 'aborted'>();
  /** The open transaction of each logical producer and the partitions it wrote to. */
  private open: ({ id: number; partitions: Set<number> } | null)[] = Array(PRODUCERS).fill(null);
  private nextTxn = 0;

  send(producer: number, records: { partition: number; value: string }[]): void {
    let txn = this.open[producer];
    if (!txn) {
      txn = { id: this.nextTxn++, partitions: new Set() };
      this.open[producer] = txn;
      this.status.set(txn.id, 'open');
    }
    for (const r of records) {
      this.logs[r.partition].push({ kind: 'data', txn: txn.id, value: r.value });
      txn.partitions.add(r.partition);
    }
  }

  /** EndTxn (or the abort InitProducerId does): a marker in every partition of the transaction. */
  end(producer: number, commit: boolean): void {
    const txn = this.open[producer];
    this.open[producer] = null;
    if (!txn) return;
    this.status.set(txn.id, commit ? 'committed' : 'aborted');
    for (const p of [...txn.partitions].sort()) this.logs[p].push({ kind: 'marker', txn: txn.id, commit });
  }

  hasOpenPartitions(producer: number): boolean {
    return (this.open[producer]?.partitions.size ?? 0) > 0;
  }

  /** The first offset of an open transaction, else the log end. */
  lastStableOffset(p: number): number {
    const i = this.logs[p].findIndex((e) => e.kind === 'data' && this.status.get(e.txn) === 'open');
    return i < 0 ? this.logs[p].length : i;
  }

  /** [partition, offset, value] of the data records: all, or those of committed or aborted transactions. */
  records(which: 'all' | 'committed' | 'aborted'): [number, number, string][] {
    const out: [number, number, string][] = [];
    this.logs.forEach((log, p) => {
      log.forEach((e, offset) => {
        if (e.kind !== 'data') return;
        if (which !== 'all' && this.status.get(e.txn) !== which) return;
        out.push([p, offset, e.value]);
      });
    });
    return out;
  }
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

async function expectFenced(p: Promise<unknown>, what: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e as { name?: string; type?: string },
  );
  assert.ok(err, `${what} succeeded`);
  assert.deepEqual(
    { name: err.name, type: err.type },
    { name: 'KafkaJSProtocolError', type: 'INVALID_PRODUCER_EPOCH' },
    what,
  );
}

/** ListOffsets latest at read_committed (kafkajs's admin default): the last stable offsets. */
async function stableOffsets(admin: Admin, topic: string): Promise<number[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
}

/** `kcat -C -e` at an isolation level: every record up to the end (the LSO for read_committed). */
async function kcatRead(
  bootstrap: string,
  topic: string,
  isolation: string,
): Promise<[number, number, string][]> {
  const args = ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q'];
  args.push('-X', `isolation.level=${isolation}`, '-X', 'fetch.wait.max.ms=50', '-f', RECORD_FORMAT);
  const res = await runKcat(args, { timeoutMs: 30_000 });
  assert.equal(res.code, 0, `kcat -C: ${res.stderr}`);
  const parser = new RecordParser();
  const records = parser.push(res.stdout);
  assert.equal(parser.pendingBytes, 0);
  return records
    .map((r): [number, number, string] => [r.partition, r.offset, r.value?.toString() ?? '<null>'])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/** A read_committed kafkajs consumer (fresh group) until its position reaches `until[p]` everywhere. */
async function kafkajsReadCommitted(
  kafka: Kafka,
  topic: string,
  until: number[],
): Promise<[number, number, string][]> {
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
  const records: [number, number, string][] = [];
  const position = new Map<number, number>();
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    position.set(
      payload.partition,
      Math.max(position.get(payload.partition) ?? 0, Number(payload.lastOffset) + 1),
    );
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          records.push([partition, Number(message.offset), String(message.value)]);
        },
      })
      .catch((err) => {
        failure = err;
      });
    const deadline = Date.now() + 20_000;
    while (!(fetches > 0 && until.every((end, p) => end === 0 || (position.get(p) ?? 0) >= end))) {
      if (failure) throw failure;
      if (Date.now() > deadline) {
        throw new Error(
          `reader positions ${JSON.stringify([...position])} never reached ${JSON.stringify(until)}`,
        );
      }
      await sleep(20);
    }
  } finally {
    await withTimeout(consumer.disconnect(), 10_000, 'reader disconnect');
  }
  return records.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      producer: fc.nat(PRODUCERS - 1),
      partitions: fc.array(fc.nat(PARTITIONS - 1), { minLength: 1, maxLength: 4 }),
      // The broker appends the batch but drops the connection instead of answering: kafkajs
      // retries the same sequence numbers, which the broker acknowledges without a second copy.
      loseResponse: fc.nat(9).map((n) => n >= 8),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('commit' as const), producer: fc.nat(PRODUCERS - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('abort' as const), producer: fc.nat(PRODUCERS - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('fence' as const), producer: fc.nat(PRODUCERS - 1) }),
  },
  // A clean broker restart on the same data directory and port, transactions left open.
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  ops: fc.array(opArb, { minLength: 1, maxLength: MAX_OPS }),
  finish: fc.constantFrom('commit' as const, 'abort' as const),
});

describe('transactions: model-based interleavings of three transactional producers', () => {
  it(`${NUM_RUNS} random sequences of send (some with lost responses), commit, abort, fence and broker restart match the modelled logs`, {
    timeout: SOAK ? 1_800_000 : 240_000,
  }, async (t) => {
    const dir = tempDir('sluice-txn-model-');
    let broker: Broker = await startBroker({ port: 0, dataDir: dir.path });
    const port = broker.port;
    const bootstrap = broker.bootstrap;
    const kafka = kafkaClient(bootstrap, 'txn-model');
    const admin = kafka.admin();
    await admin.connect();
    let run = 0;
    const seed = process.env.SLUICE_SEED
      ? Number(process.env.SLUICE_SEED)
      : Date.now() ^ (Math.random() * 2 ** 31);
    t.diagnostic(`seed ${seed} (replay with SLUICE_SEED=${seed})`);
    const started = Date.now();
    try {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (scenario) => {
          run++;
          const topic = `model-${run}`;
          await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });
          const model = new LogModel();
          const actors: { instance: Producer | null; txn: Transaction | null }[] = Array.from(
            { length: PRODUCERS },
            () => ({ instance: null, txn: null }),
          );
          const everyInstance: Producer[] = [];
          const newInstance = async (i: number) => {
            const instance = kafka.producer({
              transactionalId: `${topic}-producer-${i}`,
              idempotent: true,
              maxInFlightRequests: 1,
            });
            everyInstance.push(instance);
            await instance.connect();
            return instance;
          };
          let n = 0;
          const step = async (op: Op) => {
            if (op.kind === 'restart') {
              await broker.close();
              // The broker shares this event loop: give the clients a moment to see their
              // connections closed, or kafkajs writes its next request to a dead socket.
              await sleep(100);
              broker = await startBroker({ port, dataDir: dir.path });
              return;
            }
            const actor = actors[op.producer];
            if (op.kind === 'send') {
              actor.instance ??= await newInstance(op.producer);
              actor.txn ??= await actor.instance.transaction();
              const messages = op.partitions.map((partition) => ({
                partition,
                value: `${topic}-p${op.producer}-${n++}`,
              }));
              if (op.loseResponse) broker.faults.dropProduceResponses = 1;
              await actor.txn.send({ topic, messages });
              assert.equal(broker.faults.dropProduceResponses, 0, 'the produce response was dropped');
              model.send(op.producer, messages);
            } else if (op.kind === 'commit' || op.kind === 'abort') {
              if (!actor.txn) return;
              await (op.kind === 'commit' ? actor.txn.commit() : actor.txn.abort());
              actor.txn = null;
              model.end(op.producer, op.kind === 'commit');
            } else {
              // A new instance's InitProducerId fences the old one and aborts its transaction.
              const fresh = await newInstance(op.producer);
              const freshTxn = await fresh.transaction();
              const hadPartitions = model.hasOpenPartitions(op.producer);
              model.end(op.producer, false);
              if (actor.instance) {
                // The zombie can neither write (to any partition) nor commit.
                const zombie = actor.txn ?? (await actor.instance.transaction());
                await expectFenced(
                  zombie.send({
                    topic,
                    messages: [{ partition: n % PARTITIONS, value: `${topic}-zombie-${n++}` }],
                  }),
                  'a send by the fenced producer',
                );
                if (hadPartitions) await expectFenced(zombie.commit(), 'a commit by the fenced producer');
                await actor.instance.disconnect();
              }
              actor.instance = fresh;
              actor.txn = freshTxn;
            }
          };
          try {
            for (const [i, op] of scenario.ops.entries()) {
              await withTimeout(step(op), OP_TIMEOUT_MS, `op ${i} ${JSON.stringify(op)}`);
            }
            // With transactions still open: read_committed ends at the modelled last stable
            // offsets; read_uncommitted sees every record written, at its modelled offset.
            const lso = model.logs.map((_, p) => model.lastStableOffset(p));
            assert.deepEqual(await stableOffsets(admin, topic), lso, 'last stable offsets');
            assert.deepEqual(
              await kcatRead(bootstrap, topic, 'read_uncommitted'),
              model.records('all'),
              'read_uncommitted',
            );
            assert.deepEqual(
              await kcatRead(bootstrap, topic, 'read_committed'),
              model.records('committed').filter(([p, offset]) => offset < lso[p]),
              'read_committed up to the last stable offsets',
            );

            for (const [i, actor] of actors.entries()) {
              if (!actor.txn) continue;
              await withTimeout(
                scenario.finish === 'commit' ? actor.txn.commit() : actor.txn.abort(),
                OP_TIMEOUT_MS,
                `finishing producer ${i}`,
              );
              actor.txn = null;
              model.end(i, scenario.finish === 'commit');
            }
            const ends = model.logs.map((log) => log.length);
            assert.deepEqual(
              await stableOffsets(admin, topic),
              ends,
              'end offsets after every transaction ended',
            );
            const committed = model.records('committed');
            assert.deepEqual(
              await kcatRead(bootstrap, topic, 'read_committed'),
              committed,
              'kcat read_committed',
            );
            // kafkajs too, though its read_committed filter relies on how the broker lists aborted
            // transactions (see "kafkajs read_committed hides aborted transactions that interleave
            // with others" in transactions.int.test.ts).
            assert.deepEqual(
              await kafkajsReadCommitted(kafka, topic, ends),
              committed,
              'kafkajs read_committed',
            );
          } finally {
            for (const p of everyInstance)
              await withTimeout(p.disconnect(), 10_000, 'producer disconnect').catch(() => {});
          }
        }),
        {
          numRuns: NUM_RUNS,
          seed,
          // Shrinking replays whole sequences against the broker: bounded in time.
          interruptAfterTimeLimit: SOAK ? 1_500_000 : 200_000,
          markInterruptAsFailure: false,
          includeErrorInReport: true,
        },
      );
      assert.ok(run >= NUM_RUNS, `only ${run} of ${NUM_RUNS} sequences ran in the time limit`);
    } finally {
      t.diagnostic(`${run} sequences in ${Date.now() - started} ms`);
      await admin.disconnect();
      await broker.close();
      dir.remove();
    }
  });
});

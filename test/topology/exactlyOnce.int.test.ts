import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { kafkaClient, tempDir, withBroker } from '../helpers/broker.js';
import { kill9, startFixture } from '../helpers/processes.js';

const soak = process.env.SLUICE_SOAK === '1';
const EVENTS = soak ? 1_000_000 : 200_000;
const KEYS = 1000;
const KILLS = soak ? 15 : 5;

/** Starts the count+sum app as its own process; resolves once it runs. */
function startApp(bootstrap: string, stateDir: string, storeKind: string): Promise<ChildProcess> {
  return startFixture('test/fixtures/countSumApp.ts', [
    bootstrap,
    'eos-app',
    'eos-in',
    'eos-out',
    stateDir,
    storeKind,
  ]);
}

/** Follows the output with read_committed: the latest {count, sum} per key, and every count seen. */
async function followOutput(kafka: Kafka) {
  const latest = new Map<string, { count: number; sum: number }>();
  const problems: string[] = [];
  /** Input events the committed output accounts for so far. */
  const progress = { events: 0 };
  const consumer = kafka.consumer({
    groupId: `eos-reader-${Date.now()}`,
    maxWaitTimeInMs: 100,
    maxBytes: 20 << 20,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: 'eos-out', fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const key = m.key!.toString();
        const v = JSON.parse(m.value!.toString()) as { count: number; sum: number };
        const prev = latest.get(key);
        // Exactly-once: a key's committed updates only ever grow; a repeat means double counting.
        if (prev && v.count <= prev.count) problems.push(`${key}: count ${v.count} after ${prev.count}`);
        progress.events += v.count - (prev?.count ?? 0);
        latest.set(key, v);
      }
    },
  });
  return { latest, problems, progress, stop: () => consumer.disconnect() };
}

describe('exactly-once topology under kill -9', () => {
  let env: Awaited<ReturnType<typeof withBroker>>;
  let kafka: Kafka;
  before(async () => {
    env = await withBroker({ 'transaction.abort.timed.out.transaction.cleanup.interval.ms': 1000 });
    kafka = kafkaClient(env.bootstrap);
  });
  after(() => env.stop());

  it(`counts and sums ${EVENTS.toLocaleString('en-US')} events exactly across ${KILLS} kill -9 restarts`, {
    timeout: 600_000,
  }, async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: 'eos-in', numPartitions: 6 },
        { topic: 'eos-out', numPartitions: 6 },
      ],
    });
    const expected = new Map<string, { count: number; sum: number }>();
    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < EVENTS; i += 5000) {
      const messages = Array.from({ length: Math.min(5000, EVENTS - i) }, (_, j) => {
        const n = i + j;
        const key = `key-${n % KEYS}`;
        const value = n % 97;
        const e = expected.get(key) ?? { count: 0, sum: 0 };
        expected.set(key, { count: e.count + 1, sum: e.sum + value });
        const bytes = Buffer.alloc(8);
        bytes.writeBigInt64BE(BigInt(value));
        return { key, value: bytes };
      });
      await producer.send({ topic: 'eos-in', messages });
    }
    await producer.disconnect();

    const output = await followOutput(kafka);
    const state = tempDir('sluice-eos-state-');
    const done = () => [...expected].every(([key, e]) => output.latest.get(key)?.count === e.count);
    let killedMidRun = 0;
    try {
      let app = await startApp(env.bootstrap, state.path, 'memory');
      for (let k = 0; k < KILLS; k++) {
        // Each kill lands at a random moment once the new process has committed something: a
        // fixed delay let a fast runtime finish the whole input before the kills were done.
        const before = output.progress.events;
        const deadline = Date.now() + 60_000;
        while (output.progress.events === before && !done() && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)));
        if (!done()) killedMidRun++;
        await kill9(app);
        app = await startApp(env.bootstrap, state.path, k % 2 === 0 ? 'lmdb' : 'memory');
      }
      const deadline = Date.now() + 300_000;
      while (!done() && Date.now() < deadline && output.problems.length === 0)
        await new Promise((r) => setTimeout(r, 200));
      app.kill('SIGTERM');
      await new Promise((r) => app.once('exit', r));
    } finally {
      await output.stop();
      state.remove();
    }
    assert.deepEqual(output.problems, []);
    // The kills must land while there is work in flight, or they prove nothing.
    process.stderr.write(`exactly-once: ${killedMidRun} of ${KILLS} kills landed mid-run\n`);
    assert.ok(killedMidRun >= Math.min(KILLS, 3), `only ${killedMidRun} kills happened mid-run`);
    const wrong = [...expected]
      .map(([key, e]) => ({ key, expected: e, got: output.latest.get(key) }))
      .filter(({ expected: e, got }) => got?.count !== e.count || got.sum !== e.sum);
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} keys are wrong`);
    assert.equal(output.latest.size, KEYS);
    // Offsets committed with the outputs: the group is at the end of every input partition.
    const [committed] = await admin.fetchOffsets({ groupId: 'eos-app', topics: ['eos-in'] });
    const ends = await admin.fetchTopicOffsets('eos-in');
    assert.deepEqual(
      committed.partitions.map((p) => [p.partition, p.offset]).sort(),
      ends.map((p) => [p.partition, p.high]).sort(),
    );
    await admin.disconnect();
  });
});

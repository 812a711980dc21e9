/**
 * Scaling out and failing over: three processes of one application (test/fixtures/countSumApp.ts,
 * a count+sum per key under exactly-once) share a 6-partition input; one is killed with SIGKILL
 * mid-run. Its tasks move to the two survivors, which restore the state from the changelog and
 * carry on. The committed output must show every key's updates exactly once, and the final
 * aggregates must be exact.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { kafkaClient, tempDir, withBroker } from '../helpers/broker.js';
import { withAdmin } from '../helpers/readAll.js';

const root = new URL('../..', import.meta.url).pathname;
const EVENTS = Number(process.env.SLUICE_SCALING_EVENTS ?? 30_000);
const KEYS = 1_000;
const PARTITIONS = 6;
const INSTANCES = 3;

interface Instance {
  name: string;
  child: ChildProcess;
  stderr: () => string;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
  explain?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${explain ? `: ${explain()}` : ''}`,
      );
    }
    await sleep(200);
  }
}

/** One process of the fixture app; resolves once it prints "running". */
function startInstance(
  name: string,
  args: {
    bootstrap: string;
    applicationId: string;
    input: string;
    output: string;
    stateDir: string;
    storeKind: string;
    standbys: number;
  },
): Promise<Instance> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'test/fixtures/countSumApp.ts'),
      args.bootstrap,
      args.applicationId,
      args.input,
      args.output,
      args.stateDir,
      args.storeKind,
      String(args.standbys),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' } },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-20_000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 30 s: ${stderr}`)), 30_000);
    child.stdout?.on('data', (d) => {
      if (String(d).includes('running')) {
        clearTimeout(timer);
        resolve({ name, child, stderr: () => stderr });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code ?? signal} before running: ${stderr}`));
    });
  });
}

function stopInstance(i: Instance, signal: NodeJS.Signals): Promise<void> {
  const { child } = i;
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Committed offsets of the group per input partition (-1: none). */
async function committed(kafka: Kafka, groupId: string, topic: string): Promise<number[]> {
  return withAdmin(kafka, async (admin) => {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const out = new Array<number>(PARTITIONS).fill(-1);
    for (const p of t?.partitions ?? []) out[p.partition] = Number(p.offset);
    return out;
  });
}

/**
 * Follows a topic read_committed from the beginning: every key's committed updates in order,
 * and how far each partition has been read (markers included).
 */
async function follow(kafka: Kafka, topic: string) {
  const updates = new Map<string, { count: number; sum: number }[]>();
  const position = new Array<number>(PARTITIONS).fill(0);
  const consumer = kafka.consumer({
    groupId: `follower-${randomUUID()}`,
    maxWaitTimeInMs: 100,
    maxBytes: 20 << 20,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    position[payload.partition] = Math.max(position[payload.partition]!, Number(payload.lastOffset) + 1);
  });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const key = m.key!.toString();
        const list = updates.get(key) ?? [];
        list.push(JSON.parse(m.value!.toString()) as { count: number; sum: number });
        updates.set(key, list);
      }
    },
  });
  return { updates, position, stop: () => consumer.disconnect() };
}

async function runScaling(storeKind: 'memory' | 'lmdb', standbys = 0): Promise<void> {
  const env = await withBroker();
  const kafka = kafkaClient(env.bootstrap);
  const dirs = Array.from({ length: INSTANCES + 1 }, () => tempDir('sluice-scaling-'));
  const instances: Instance[] = [];
  let follower: Awaited<ReturnType<typeof follow>> | null = null;
  const applicationId = `scaling-${storeKind}-${randomUUID().slice(0, 8)}`;
  const input = 'meter.reading.recorded';
  const output = 'meter.totals';
  try {
    await withAdmin(kafka, (admin) =>
      admin.createTopics({
        topics: [
          { topic: input, numPartitions: PARTITIONS },
          { topic: output, numPartitions: PARTITIONS },
        ],
        waitForLeaders: true,
      }),
    );
    const args = { bootstrap: env.bootstrap, applicationId, input, output, storeKind, standbys };
    instances.push(
      ...(await Promise.all(
        dirs.slice(0, INSTANCES).map((d, i) => startInstance(`instance ${i}`, { ...args, stateDir: d.path })),
      )),
    );
    await waitFor(
      `${INSTANCES} members in a stable group`,
      () =>
        withAdmin(kafka, async (admin) => {
          const { groups } = await admin.describeGroups([applicationId]);
          return groups[0]?.state === 'Stable' && groups[0].members.length === INSTANCES;
        }),
      30_000,
    );

    // Events: key i % KEYS, value 1..97 (so sums are not counts), one producer, batches of 1,000.
    const expected = new Map<string, { count: number; sum: number }>();
    const events = Array.from({ length: EVENTS }, (_, i) => {
      const key = `meter-${String(i % KEYS).padStart(4, '0')}`;
      const value = ((i * 31) % 97) + 1;
      const e = expected.get(key) ?? { count: 0, sum: 0 };
      expected.set(key, { count: e.count + 1, sum: e.sum + value });
      const buf = Buffer.alloc(8);
      buf.writeBigInt64BE(BigInt(value));
      return { key, value: buf };
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const started = Date.now();
    // Paced, and not awaited yet: input keeps arriving while an instance is killed, however fast
    // the group is on this machine.
    const producing = (async () => {
      for (let i = 0; i < EVENTS; i += 1_000) {
        await producer.send({ topic: input, acks: -1, messages: events.slice(i, i + 1_000) });
        await sleep(100);
      }
      await producer.disconnect();
    })();
    producing.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled

    // Kill one instance while the group is working through the input, once every task has
    // committed state (so the victim's tasks have state to restore elsewhere).
    const victim = instances[1]!;
    const atKill = await waitFor(
      'every partition to have committed offsets, a third of the events in all',
      async () => {
        const c = await committed(kafka, applicationId, input);
        const total = c.reduce((s, o) => s + Math.max(0, o), 0);
        return c.every((o) => o > 0) && total >= EVENTS / 3 ? total : undefined;
      },
      30_000,
    );
    await stopInstance(victim, 'SIGKILL');
    const killedAt = Date.now() - started;
    assert.ok(atKill < EVENTS, `killed mid-run (${atKill} of ${EVENTS} committed)`);
    await producing;

    const ends = await withAdmin(kafka, (admin) => admin.fetchTopicOffsets(input));
    assert.equal(
      ends.reduce((s, e) => s + Number(e.high), 0),
      EVENTS,
    );
    await waitFor(
      'the survivors to commit the whole input',
      async () => {
        const c = await committed(kafka, applicationId, input);
        return ends.every((e) => c[e.partition]! >= Number(e.high));
      },
      60_000,
      () => instances.map((i) => `${i.name}: ${i.stderr().slice(-2_000)}`).join('\n'),
    );
    const processedAt = Date.now() - started;

    // The committed output to its end: every key's updates exactly once, in order.
    const outEnds = await withAdmin(kafka, (admin) => admin.fetchTopicOffsets(output));
    follower = await follow(kafka, output);
    const f = follower;
    await waitFor(
      'the output to be read to its end',
      async () => outEnds.every((e) => f.position[e.partition]! >= Number(e.high)),
      30_000,
    );
    assert.equal(f.updates.size, KEYS);
    for (const [key, exp] of expected) {
      const got = f.updates.get(key) ?? [];
      assert.deepEqual(
        got.map((u) => u.count),
        Array.from({ length: exp.count }, (_, i) => i + 1),
        `${key}: every update exactly once`,
      );
      assert.deepEqual(got.at(-1), exp, `${key}: final aggregate`);
    }

    // The group now has the two survivors, which own all six tasks.
    const { groups } = await withAdmin(kafka, (admin) => admin.describeGroups([applicationId]));
    assert.equal(groups[0]!.members.length, INSTANCES - 1);
    process.stderr.write(
      `scaling ${storeKind}${standbys ? ` with ${standbys} standby` : ''}: ${EVENTS} events; one instance killed at ${killedAt} ms with ${atKill} committed; all committed at ${processedAt} ms\n`,
    );
  } finally {
    await follower?.stop();
    await Promise.all(instances.map((i) => stopInstance(i, 'SIGTERM')));
    await env.stop();
    for (const d of dirs) d.remove();
  }
}

describe('three instances of one application', { timeout: 180_000 }, () => {
  it('lose one to kill -9 and still count every event exactly once (memory stores)', () =>
    runScaling('memory'));
  it('lose one to kill -9 and still count every event exactly once (lmdb stores)', () => runScaling('lmdb'));
  it('lose one to kill -9 and still count every event exactly once (lmdb stores, one standby replica)', () =>
    runScaling('lmdb', 1));
});

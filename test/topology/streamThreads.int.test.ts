/**
 * StreamThreads on the embedded broker: one application instance on two worker threads, each a
 * group member with its own tasks; exact counts, metrics added up across threads, and failures
 * of a thread (or of its factory) reported, not swallowed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { readRanges, topicRanges } from '../../engine/replay/index.js';
import { StreamThreads } from '../../engine/topology/index.js';
import { kafkaClient, tempDir, withBroker } from '../helpers/broker.js';
import type { ThreadedCountsArg } from './fixtures/threadedCounts.js';

const fixture = new URL('./fixtures/threadedCounts.ts', import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function sum(reg: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = reg.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((s, v) => s + v.value, 0);
}

async function setup(kafka: Kafka): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      { topic: 'clicks', numPartitions: 6 },
      { topic: 'click-counts', numPartitions: 6 },
    ],
  });
  await admin.disconnect();
}

async function produce(kafka: Kafka, n: number, keys: number): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: n }, (_, i) => ({ key: `k${i % keys}`, value: 'x' }));
  for (let i = 0; i < messages.length; i += 1000)
    await producer.send({ topic: 'clicks', messages: messages.slice(i, i + 1000) });
  await producer.disconnect();
}

async function lastCounts(kafka: Kafka): Promise<Map<string, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  const ranges = await topicRanges(admin, 'click-counts', 'earliest').finally(() => admin.disconnect());
  const last = new Map<string, bigint>();
  await readRanges(kafka, ranges, async (_r, messages) => {
    for (const m of messages) last.set(m.key!.toString(), m.value!.readBigInt64BE(0));
  });
  return last;
}

describe('StreamThreads', () => {
  it('runs one app on two threads that share the partitions; counts are exact', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    const dir = tempDir('sluice-threads-');
    await setup(kafka);
    const arg: ThreadedCountsArg = {
      bootstrap: env.bootstrap,
      applicationId: 'threaded-counts',
      stateDir: dir.path,
    };
    let app: StreamThreads | null = null;
    try {
      app = await StreamThreads.start({ module: fixture, arg, numStreamThreads: 2 });
      assert.equal(app.numStreamThreads, 2);
      await produce(kafka, 12_000, 60);
      const labels = { application: 'threaded-counts' };
      await until('12,000 records in, across both threads', async () => {
        return (await sum(await app!.metrics(), 'sluice_topology_records_in_total', labels)) === 12_000;
      });
      // Both threads are group members with tasks of their own: one consumer group, two members.
      const admin = kafka.admin();
      await admin.connect();
      const { groups } = await admin.describeGroups(['threaded-counts']).finally(() => admin.disconnect());
      assert.equal(groups[0]!.members.length, 2);
      assert.equal(app.error, null);
      await app.close();
      // Closed threads leave their final metrics behind.
      assert.equal(await sum(await app.metrics(), 'sluice_topology_records_in_total', labels), 12_000);
      app = null;
      const counts = await lastCounts(kafka);
      assert.equal(counts.size, 60);
      for (const [key, count] of counts) assert.equal(count, 200n, key);
    } finally {
      await app?.close();
      await env.stop();
      dir.remove();
    }
  });

  it('reports a thread that stops on a record, and a factory that is missing', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    const dir = tempDir('sluice-threads-fail-');
    await setup(kafka);
    let app: StreamThreads | null = null;
    try {
      await assert.rejects(
        StreamThreads.start({ module: fixture, exportName: 'notAFactory', numStreamThreads: 2 }),
        (err: Error & { code?: string }) =>
          err.code === 'SLUICE_TOPOLOGY_THREAD_FAILED' &&
          /does not export a function notAFactory/.test(err.message),
      );
      await assert.rejects(StreamThreads.start({ module: fixture, numStreamThreads: 0 }), /numStreamThreads/);
      const arg: ThreadedCountsArg = {
        bootstrap: env.bootstrap,
        applicationId: 'threaded-poison',
        stateDir: dir.path,
        poisonKey: 'k7',
      };
      app = await StreamThreads.start({ module: fixture, arg, numStreamThreads: 2 });
      await produce(kafka, 600, 20);
      await until('the failure of the thread that met k7', async () => app!.error !== null);
      assert.equal((app.error as Error & { code?: string }).code, 'SLUICE_TOPOLOGY_THREAD_FAILED');
      assert.match(app.error!.message, /^stream thread [01]: .*poison record for k7/);
      assert.match(String((app.error!.cause as Error).message), /poison record for k7/);
    } finally {
      await app?.close();
      await env.stop();
      dir.remove();
    }
  });
});

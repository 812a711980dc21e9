/**
 * StreamThreads on the embedded broker: one application instance on two worker threads, each a
 * group member with its own tasks; exact counts, metrics added up across threads, and failures
 * of a thread (or of its factory) reported, not swallowed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { StreamThreads } from '../../engine/topology/index.js';
import { kafkaClient, tempDir, withBroker } from '../helpers/broker.js';
import { lastCounts, metricSum, produceClicks, until } from '../helpers/clicks.js';
import type { ThreadedCountsArg } from './fixtures/threadedCounts.js';

const fixture = new URL('./fixtures/threadedCounts.ts', import.meta.url);
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
      await produceClicks(kafka, 12_000, 60, 1000);
      const labels = { application: 'threaded-counts' };
      await until('12,000 records in, across both threads', async () => {
        return (await metricSum(await app!.metrics(), 'sluice_topology_records_in_total', labels)) === 12_000;
      });
      // Both threads are group members with tasks of their own: one consumer group, two members.
      const admin = kafka.admin();
      await admin.connect();
      const { groups } = await admin.describeGroups(['threaded-counts']).finally(() => admin.disconnect());
      assert.equal(groups[0]!.members.length, 2);
      assert.equal(app.error, null);
      await app.close();
      // Closed threads leave their final metrics behind.
      assert.equal(await metricSum(await app.metrics(), 'sluice_topology_records_in_total', labels), 12_000);
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
      await produceClicks(kafka, 600, 20);
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

/**
 * ProjectionThreads on the embedded broker, registry and PostgreSQL: one projection on three
 * worker threads, each a member of the projection's group with partitions of its own; the read
 * model exact, metrics added up across threads, and a thread whose factory throws failing the
 * start without leaving any thread behind.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { AvroSerializer } from '../../engine/codec/index.js';
import { ProjectionThreads } from '../../engine/projection/index.js';
import { RegistryClient, type RunningRegistry, startRegistry } from '../../engine/registry/index.js';
import { kafkaClient, withBroker } from '../helpers/broker.js';
import { metricSum, until } from '../helpers/clicks.js';
import type { ThreadedReadingsArg } from './fixtures/threadedReadings.js';
import { freshSchema, type Reading, readingSchema, type TestSchema, waitCaughtUp } from './support.js';

const fixture = new URL('./fixtures/threadedReadings.ts', import.meta.url);
const GROUP = 'sluice-projection-readings-v1';
const EVENTS = 20_000;
const DEVICES = 60;
const PARTITIONS = 6;
let seq = 0;

describe('ProjectionThreads', () => {
  let broker: Awaited<ReturnType<typeof withBroker>>;
  let registryServer: RunningRegistry;
  let platform: { bootstrap: string; registryUrl: string };
  let kafka: Kafka;
  let writer: AvroSerializer<Reading>;
  before(async () => {
    // As Kafka's own default (3 s, shorter here), a new group's first generation waits for more
    // members: threads that join together all get partitions in it.
    broker = await withBroker({ 'group.initial.rebalance.delay.ms': 500 });
    registryServer = await startRegistry({ port: 0, bootstrapServers: [broker.bootstrap] });
    platform = { bootstrap: broker.bootstrap, registryUrl: registryServer.url };
    kafka = kafkaClient(platform.bootstrap);
    const registry = new RegistryClient({ url: platform.registryUrl });
    writer = new AvroSerializer<Reading>(registry, 'test.readings-value', readingSchema);
  });
  after(async () => {
    await registryServer.close();
    await broker.stop();
  });

  async function topicWith(partitions: number): Promise<string> {
    const topic = `test.reading.threads-${++seq}-${Date.now()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    await admin.disconnect();
    return topic;
  }

  /** Readings of devices dev-0..dev-59, device d in partition d % 6. */
  async function produce(topic: string, n: number): Promise<Reading[]> {
    const readings = Array.from({ length: n }, (_, i) => ({
      deviceId: `dev-${i % DEVICES}`,
      value: (i * 7) % 101,
      seq: i,
    }));
    const producer = kafka.producer();
    await producer.connect();
    for (let from = 0; from < n; from += 5000) {
      const messages = [];
      for (const r of readings.slice(from, from + 5000)) {
        const partition = Number(r.deviceId.slice(4)) % PARTITIONS;
        messages.push({ key: r.deviceId, value: await writer.encode(r), partition });
      }
      await producer.send({ topic, messages, acks: -1 });
    }
    await producer.disconnect();
    return readings;
  }

  async function groupMembers(): Promise<number> {
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.describeGroups([GROUP]).finally(() => admin.disconnect());
    return groups[0]?.members.length ?? 0;
  }

  /** Open PostgreSQL connections of the threads (by their application_name). */
  async function connections(schema: TestSchema, appName: string): Promise<number> {
    const { rows } = await schema.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [appName],
    );
    return rows[0]!.n;
  }

  it('runs one projection on three threads that share the partitions; the read model is exact', async () => {
    const schema = await freshSchema();
    const topic = await topicWith(PARTITIONS);
    const arg: ThreadedReadingsArg = {
      bootstrap: platform.bootstrap,
      registryUrl: platform.registryUrl,
      schema: schema.name,
      topic,
      appName: `threads-${randomUUID().slice(0, 8)}`,
    };
    let threads: ProjectionThreads | null = null;
    try {
      const produced = await produce(topic, EVENTS);
      threads = await ProjectionThreads.start({
        module: fixture,
        arg,
        threads: 3,
        resourceLimits: { maxYoungGenerationSizeMb: 48 },
      });
      assert.equal(threads.threads, 3);
      // One group, three members: each thread's runner joined it.
      assert.equal(await groupMembers(), 3);
      const running = threads;
      await waitCaughtUp(kafka, schema.pool, 'readings', 1, [topic], 60_000, () =>
        assert.equal(running.error, null),
      );
      const labels = { projection: 'readings', version: '1' };
      // Batches are counted once committed: wait for the last one's metrics.
      await until('20,000 events applied, across the threads', async () => {
        const m = await running.metrics();
        return (await metricSum(m, 'sluice_projection_events_applied_total', labels)) === EVENTS;
      });
      const metrics = await threads.metrics();
      // Every thread handled events of its own partitions; together, every event.
      const shares = await Promise.all(
        [0, 1, 2].map((i) => metricSum(metrics, 'sluice_test_thread_events_total', { thread: String(i) })),
      );
      for (const [i, share] of shares.entries()) assert.ok(share > 0, `thread ${i} handled no events`);
      assert.ok(shares.reduce((a, b) => a + b, 0) >= EVENTS, `threads handled ${shares.join(' + ')} events`);
      // Joined together: one generation, one assignment per thread, no rebalance after.
      assert.equal(await metricSum(metrics, 'sluice_projection_assignments_total', labels), 3);
      assert.equal(threads.error, null);
      assert.ok((await connections(schema, arg.appName)) > 0);
      await threads.close();
      // Closed threads leave their final metrics behind, and none of their connections.
      assert.equal(
        await metricSum(await threads.metrics(), 'sluice_projection_events_applied_total', labels),
        EVENTS,
      );
      threads = null;
      await until(
        'the threads’ connections closed',
        async () => (await connections(schema, arg.appName)) === 0,
      );

      const { rows: events } = await schema.pool.query<{ n: number; offsets: number; top: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT "offset")::int AS offsets, max("offset")::int AS top
         FROM reading_events_v1 GROUP BY partition ORDER BY partition`,
      );
      assert.equal(events.length, PARTITIONS);
      for (const e of events) {
        // Each partition's events, none missing (offsets 0..top), none twice.
        assert.equal(e.n, e.top + 1);
        assert.equal(e.offsets, e.n);
      }
      assert.equal(
        events.reduce((s, e) => s + e.n, 0),
        EVENTS,
      );
      const want = new Map<string, { count: number; sum: number }>();
      for (const r of produced) {
        const t = want.get(r.deviceId) ?? { count: 0, sum: 0 };
        want.set(r.deviceId, { count: t.count + 1, sum: t.sum + r.value });
      }
      const { rows: totals } = await schema.pool.query<{ device_id: string; count: string; sum: string }>(
        'SELECT device_id, count, sum FROM device_totals_v1',
      );
      assert.deepEqual(
        new Map(totals.map((r) => [r.device_id, { count: Number(r.count), sum: Number(r.sum) }])),
        want,
      );
      const { rows: latest } = await schema.pool.query<{ device_id: string; seq: string }>(
        'SELECT device_id, seq FROM device_latest_v1',
      );
      assert.equal(latest.length, DEVICES);
      const lastSeq = new Map(produced.map((r) => [r.deviceId, r.seq]));
      for (const r of latest) assert.equal(Number(r.seq), lastSeq.get(r.device_id), r.device_id);
      const { rows: checkpoints } = await schema.pool.query<{ n: number; total: string }>(
        `SELECT count(*)::int AS n, sum(next_offset) AS total FROM sluice_projection_checkpoints
         WHERE projection = 'readings' AND version = 1`,
      );
      assert.deepEqual(checkpoints[0], { n: PARTITIONS, total: String(EVENTS) });
    } finally {
      await threads?.close();
      await schema.drop();
    }
  });

  it('fails the start when a thread’s factory throws, and leaves no thread running', async () => {
    const schema = await freshSchema();
    const topic = await topicWith(PARTITIONS);
    const arg: ThreadedReadingsArg = {
      bootstrap: platform.bootstrap,
      registryUrl: platform.registryUrl,
      schema: schema.name,
      topic,
      appName: `threads-fail-${randomUUID().slice(0, 8)}`,
      failThread: 2,
    };
    try {
      await produce(topic, 1000);
      await assert.rejects(
        ProjectionThreads.start({ module: fixture, arg, threads: 0 }),
        (err: Error & { code?: string }) => err.code === 'SLUICE_PROJECTION_THREADS_CONFIG',
      );
      // While the start runs, the healthy threads set up (their connections show); thread 2 fails.
      let most = 0;
      let starting = true;
      const watching = (async () => {
        while (starting) {
          most = Math.max(most, await connections(schema, arg.appName));
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await assert
        .rejects(
          ProjectionThreads.start({ module: fixture, arg, threads: 3 }),
          (err: Error & { code?: string }) =>
            err.code === 'SLUICE_PROJECTION_THREAD_FAILED' &&
            /^projection thread 2: no projection in thread 2$/.test(err.message) &&
            /no projection in thread 2/.test(String((err.cause as Error).message)),
        )
        .finally(() => {
          starting = false;
        });
      await watching;
      assert.ok(most > 0, 'the healthy threads had connected before the failure');
      // Nothing left: no thread's connection, no member in the group, no event applied.
      await until(
        'the threads’ connections closed',
        async () => (await connections(schema, arg.appName)) === 0,
      );
      assert.equal(await groupMembers(), 0);
      const { rows } = await schema.pool.query<{ n: string | null }>(
        'SELECT sum(next_offset) AS n FROM sluice_projection_checkpoints',
      );
      assert.equal(rows[0]!.n, null);
    } finally {
      await schema.drop();
    }
  });
});

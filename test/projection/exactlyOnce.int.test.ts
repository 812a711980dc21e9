import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { AvroSerializer } from '../../engine/codec/index.js';
import { RegistryClient } from '../../engine/registry/index.js';
import { kafkaClient } from '../helpers/broker.js';
import { withPlatform } from '../helpers/platform.js';
import { kill9, startFixture } from '../helpers/processes.js';
import { freshSchema, type Reading, readingSchema, type TestSchema, waitCaughtUp } from './support.js';

const soak = process.env.SLUICE_SOAK === '1';
const EVENTS = soak ? 1_000_000 : 200_000;
const DEVICES = 1000;
const PARTITIONS = 6;
const KILLS = soak ? 15 : 5;
const TOPIC = 'sensors.reading.eos';

/** Starts the projection as its own process; resolves once it runs. */
function startApp(env: { bootstrap: string; registryUrl: string }, pgSchema: string): Promise<ChildProcess> {
  return startFixture('test/projection/fixtures/readingsApp.ts', [
    env.bootstrap,
    env.registryUrl,
    pgSchema,
    TOPIC,
  ]);
}

/** Events applied so far: the sum of the SQL checkpoints. */
async function applied(schema: TestSchema): Promise<number> {
  const { rows } = await schema.pool
    .query<{ n: string | null }>('SELECT sum(next_offset) AS n FROM sluice_projection_checkpoints')
    .catch(() => ({ rows: [{ n: null }] }));
  return Number(rows[0]?.n ?? 0);
}

describe('exactly-once projection under kill -9', () => {
  let platform: Awaited<ReturnType<typeof withPlatform>>;
  let kafka: Kafka;
  before(async () => {
    platform = await withPlatform();
    kafka = kafkaClient(platform.bootstrap);
  });
  after(() => platform.stop());

  it(`applies ${EVENTS.toLocaleString('en-US')} events exactly once across ${KILLS} kill -9 restarts`, {
    timeout: 900_000,
  }, async () => {
    const schema = await freshSchema();
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }], waitForLeaders: true });
    const registry = new RegistryClient({ url: platform.registryUrl });
    const writer = new AvroSerializer<Reading>(registry, `${TOPIC}-value`, readingSchema);
    await writer.schemaId();
    const expected = new Map<string, { count: number; sum: number; seq: number; value: number }>();
    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < EVENTS; i += 10_000) {
      const messages = [];
      for (let n = i; n < Math.min(EVENTS, i + 10_000); n++) {
        const device = n % DEVICES;
        const r: Reading = { deviceId: `dev-${device}`, value: (n * 31) % 997, seq: n };
        const e = expected.get(r.deviceId) ?? { count: 0, sum: 0, seq: -1, value: 0 };
        expected.set(r.deviceId, { count: e.count + 1, sum: e.sum + r.value, seq: n, value: r.value });
        messages.push({ key: r.deviceId, value: writer.encodeSync(r), partition: device % PARTITIONS });
      }
      await producer.send({ topic: TOPIC, messages, acks: -1 });
    }
    await producer.disconnect();

    let killedMidRun = 0;
    let app: ChildProcess | null = null;
    try {
      app = await startApp(platform, schema.name);
      for (let k = 0; k < KILLS; k++) {
        // Kill once this process has applied some events, at a random moment of its work: inside
        // a transaction, between commit and the next batch, while fetching.
        const from = await applied(schema);
        // The projection applies over 100,000 events a second: small steps keep all kills mid-run.
        const target = from + 1_000 + Math.floor(Math.random() * (EVENTS / (KILLS * 8)));
        const deadline = Date.now() + 60_000;
        while ((await applied(schema)) < target && Date.now() < deadline && app.exitCode === null) {
          await new Promise((r) => setTimeout(r, 20));
        }
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 40)));
        if ((await applied(schema)) < EVENTS) killedMidRun++;
        await kill9(app);
        app = await startApp(platform, schema.name);
      }
      await waitCaughtUp(kafka, schema.pool, 'readings', 1, [TOPIC], 300_000, () =>
        assert.equal(app?.exitCode, null, 'the projection process died'),
      );
      app.kill('SIGTERM');
      await new Promise((r) => app!.once('exit', r));
    } finally {
      if (app && app.exitCode === null) await kill9(app);
      await admin.disconnect();
    }
    try {
      // The kills must land while there is work in flight, or they prove nothing.
      assert.equal(killedMidRun, KILLS, `only ${killedMidRun} kills happened mid-run`);
      const { rows: events } = await schema.pool.query<{ n: string; distinct_n: string }>(
        `SELECT count(*) AS n, count(DISTINCT (partition, "offset")) AS distinct_n FROM reading_events_v1`,
      );
      assert.equal(Number(events[0]!.n), EVENTS, 'a row per event');
      assert.equal(Number(events[0]!.distinct_n), EVENTS, 'no event applied twice');
      const { rows: totals } = await schema.pool.query<{ device_id: string; count: string; sum: string }>(
        'SELECT device_id, count, sum FROM device_totals_v1',
      );
      const { rows: latest } = await schema.pool.query<{ device_id: string; value: string; seq: string }>(
        'SELECT device_id, value, seq FROM device_latest_v1',
      );
      assert.equal(totals.length, DEVICES);
      const wrong = totals.filter((t) => {
        const e = expected.get(t.device_id)!;
        return Number(t.count) !== e.count || Number(t.sum) !== e.sum;
      });
      assert.deepEqual(wrong.slice(0, 5), []);
      const stale = latest.filter((l) => Number(l.seq) !== expected.get(l.device_id)!.seq);
      assert.deepEqual(stale.slice(0, 5), []);
      const { rows: errors } = await schema.pool.query('SELECT count(*)::int AS n FROM projection_errors');
      assert.equal(errors[0].n, 0);
    } finally {
      await schema.drop();
    }
  });
});

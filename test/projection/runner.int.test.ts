import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { loadCatalogue } from '../../engine/catalogue/index.js';
import { AvroSerializer } from '../../engine/codec/index.js';
import { registry as metricsRegistry } from '../../engine/observability/metrics.js';
import { ProjectionRunner, projectionStatus, type WriteMode } from '../../engine/projection/index.js';
import { RegistryClient } from '../../engine/registry/index.js';
import type { DeadLetterValue } from '../../engine/topology/index.js';
import { kafkaClient } from '../helpers/broker.js';
import { withPlatform } from '../helpers/platform.js';
import {
  deadLetterSerializer,
  freshSchema,
  type Reading,
  readingSchema,
  readingsProjection,
  type TestSchema,
  waitCaughtUp,
} from './support.js';

const root = new URL('../..', import.meta.url).pathname;
let seq = 0;

async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const metric = metricsRegistry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((s, v) => s + v.value, 0);
}

/** What the read model must hold after applying `readings` in order, each exactly once. */
function expectedModel(readings: { r: Reading; partition: number }[]) {
  const totals = new Map<string, { count: number; sum: number }>();
  const latest = new Map<string, { value: number; seq: number }>();
  for (const { r } of readings) {
    const t = totals.get(r.deviceId) ?? { count: 0, sum: 0 };
    totals.set(r.deviceId, { count: t.count + 1, sum: t.sum + r.value });
    latest.set(r.deviceId, { value: r.value, seq: r.seq });
  }
  return { totals, latest };
}

async function readModel(schema: TestSchema, version = 1) {
  const events = await schema.pool.query<{
    device_id: string;
    value: string;
    partition: number;
    offset: string;
  }>(
    `SELECT device_id, value, partition, "offset" FROM reading_events_v${version} ORDER BY partition, "offset"`,
  );
  const totals = await schema.pool.query<{ device_id: string; count: string; sum: string }>(
    `SELECT device_id, count, sum FROM device_totals_v${version}`,
  );
  const latest = await schema.pool.query<{ device_id: string; value: string; seq: string }>(
    `SELECT device_id, value, seq FROM device_latest_v${version}`,
  );
  return {
    events: events.rows,
    totals: new Map(totals.rows.map((r) => [r.device_id, { count: Number(r.count), sum: Number(r.sum) }])),
    latest: new Map(latest.rows.map((r) => [r.device_id, { value: Number(r.value), seq: Number(r.seq) }])),
  };
}

describe('ProjectionRunner on the embedded broker, registry and PostgreSQL', () => {
  let platform: Awaited<ReturnType<typeof withPlatform>>;
  let kafka: Kafka;
  let registry: RegistryClient;
  let writer: AvroSerializer<Reading>;
  before(async () => {
    platform = await withPlatform();
    kafka = kafkaClient(platform.bootstrap);
    registry = new RegistryClient({ url: platform.registryUrl });
    writer = new AvroSerializer<Reading>(registry, 'test.readings-value', readingSchema);
  });
  after(() => platform.stop());

  /** A fresh topic with `partitions`; readings keyed by device, so each device stays in one partition. */
  async function topicWith(partitions: number): Promise<string> {
    const topic = `test.reading.recorded-${++seq}-${Date.now()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    await admin.disconnect();
    return topic;
  }

  /** Produces readings; returns each with the partition it landed in, in offset order per partition. */
  async function produce(topic: string, readings: Reading[], partitions: number) {
    const producer = kafka.producer();
    await producer.connect();
    const out: { r: Reading; partition: number }[] = [];
    const messages = [];
    for (const r of readings) {
      const partition = Number(r.deviceId.replace(/\D/g, '') || 0) % partitions;
      out.push({ r, partition });
      messages.push({ key: r.deviceId, value: await writer.encode(r), partition });
    }
    await producer.send({ topic, messages, acks: -1 });
    await producer.disconnect();
    return out;
  }

  function start(
    schema: TestSchema,
    topic: string,
    extra: { writeMode?: WriteMode; version?: number; maxBatchEvents?: number } = {},
  ) {
    return ProjectionRunner.start({
      definition: readingsProjection(registry, topic, extra.version ?? 1),
      kafka,
      pool: schema.pool,
      deadLetterSerializer: deadLetterSerializer(registry),
      maxBatchEvents: extra.maxBatchEvents ?? 500,
      maxBatchWaitMs: 50,
      sessionTimeoutMs: 6000,
      heartbeatIntervalMs: 500,
      writeMode: extra.writeMode,
    });
  }

  async function applied(schema: TestSchema): Promise<number> {
    const { rows } = await schema.pool
      .query<{ n: string | null }>('SELECT sum(next_offset) AS n FROM sluice_projection_checkpoints')
      .catch(() => ({ rows: [{ n: null }] }));
    return Number(rows[0]?.n ?? 0);
  }

  /** Waits until the checkpoints add up to at least `n` applied events. */
  async function waitApplied(schema: TestSchema, n: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if ((await applied(schema)) >= n) return;
      if (Date.now() > deadline) throw new Error(`fewer than ${n} events applied after 60 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const readings = (n: number, devices: number, from = 0): Reading[] =>
    Array.from({ length: n }, (_, i) => ({
      deviceId: `dev-${(from + i) % devices}`,
      value: ((from + i) * 7) % 101,
      seq: from + i,
    }));

  for (const writeMode of ['unnest', 'copy'] as const) {
    it(`applies events to exact rows and checkpoints (${writeMode})`, async () => {
      const schema = await freshSchema();
      const topic = await topicWith(3);
      try {
        const produced = await produce(topic, readings(3000, 17), 3);
        const runner = await start(schema, topic, { writeMode });
        try {
          await waitCaughtUp(kafka, schema.pool, 'readings', 1, [topic], 60_000, () =>
            assert.equal(runner.error, null),
          );
        } finally {
          await runner.close();
        }
        const model = await readModel(schema);
        const want = expectedModel(produced);
        assert.equal(model.events.length, 3000);
        // Each partition's events in offset order, none missing, none twice.
        for (let p = 0; p < 3; p++) {
          const offsets = model.events.filter((e) => e.partition === p).map((e) => Number(e.offset));
          assert.deepEqual(
            offsets,
            offsets.map((_, i) => i),
          );
        }
        assert.deepEqual(model.totals, want.totals);
        assert.deepEqual(model.latest, want.latest);
        const status = await projectionStatus(schema.pool, 'readings', { kafka });
        assert.equal(status?.version, 1);
        assert.equal(status?.lag, 0);
        assert.equal(status?.errorCount, 0);
        assert.equal(
          status?.partitions.reduce((s, p) => s + p.nextOffset, 0),
          3000,
        );
      } finally {
        await schema.drop();
      }
    });
  }

  it('resumes from the SQL checkpoint, not from the offsets committed to Kafka', async () => {
    const schema = await freshSchema();
    const topic = await topicWith(2);
    try {
      const first = await produce(topic, readings(1000, 10), 2);
      let runner = await start(schema, topic);
      await waitCaughtUp(kafka, schema.pool, 'readings', 1, [topic]);
      await runner.close();
      const second = await produce(topic, readings(1000, 10, 1000), 2);
      // Kafka's committed offsets lie: partition 0 says everything is done (events would be
      // lost), partition 1 says nothing is (events would be applied twice).
      const admin = kafka.admin();
      await admin.connect();
      const ends = await admin.fetchTopicOffsets(topic);
      const groupId = 'sluice-projection-readings-v1';
      await admin.setOffsets({
        groupId,
        topic,
        partitions: [
          { partition: 0, offset: ends.find((e) => e.partition === 0)!.high },
          { partition: 1, offset: '0' },
        ],
      });
      runner = await start(schema, topic);
      try {
        await waitCaughtUp(kafka, schema.pool, 'readings', 1, [topic]);
        // Both runs' batches were committed: give a late duplicate the chance to show.
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        await runner.close();
      }
      await admin.disconnect();
      const model = await readModel(schema);
      assert.equal(model.events.length, 2000);
      const want = expectedModel([...first, ...second]);
      assert.deepEqual(model.totals, want.totals);
      assert.deepEqual(model.latest, want.latest);
    } finally {
      await schema.drop();
    }
  });

  it('shares partitions between instances and stays exact through rebalances', async () => {
    const schema = await freshSchema();
    const topic = await topicWith(4);
    try {
      // Every statement on device_latest takes 10 ms: the rebalances land while there is work in flight.
      await schema.pool.query(`
        CREATE TABLE device_latest_v1 (device_id text PRIMARY KEY, value bigint NOT NULL, seq bigint NOT NULL);
        CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NULL; END $$;
        CREATE TRIGGER slow AFTER INSERT ON device_latest_v1 FOR EACH STATEMENT EXECUTE FUNCTION slow();`);
      const produced = await produce(topic, readings(40_000, 40), 4);
      const joins = () => counter('sluice_projection_assignments_total', { projection: 'readings' });
      const joinsBefore = await joins();
      const a = await start(schema, topic, { maxBatchEvents: 200 });
      let b: ProjectionRunner | null = null;
      try {
        await waitApplied(schema, 4_000);
        // A second instance joins: the partitions are split, each side seeks to its checkpoints.
        b = await start(schema, topic, { maxBatchEvents: 200 });
        await waitApplied(schema, 24_000);
        // The first leaves mid-stream: the second takes its partitions over where SQL says.
        assert.ok((await applied(schema)) < 40_000, 'the first instance leaves mid-stream');
        await a.close();
        await waitCaughtUp(kafka, schema.pool, 'readings', 1, [topic], 60_000, () =>
          assert.equal(b?.error, null),
        );
        // a alone; a and b with two partitions each; b alone after a left.
        assert.ok((await joins()) - joinsBefore >= 4, `only ${(await joins()) - joinsBefore} assignments`);
        const model = await readModel(schema);
        assert.equal(model.events.length, 40_000);
        const want = expectedModel(produced);
        assert.deepEqual(model.totals, want.totals);
        assert.deepEqual(model.latest, want.latest);
      } finally {
        await a.close();
        await b?.close();
      }
    } finally {
      await schema.drop();
    }
  });

  for (const writeMode of ['unnest', 'copy'] as const) {
    it(`dead-letters poison events to <topic>.dlq and projection_errors, and applies the rest (${writeMode})`, async () => {
      const schema = await freshSchema();
      const topic = await topicWith(1);
      try {
        const good = (i: number) => writer.encode({ deviceId: `dev-${i}`, value: i, seq: i });
        const unknownId = Buffer.from(await good(99));
        unknownId.writeInt32BE(987_654, 1);
        const values = [
          await good(0), // 0
          Buffer.from('not avro at all'), // 1 bad magic
          await good(2), // 2
          unknownId, // 3 unknown schema id
          await writer.encode({ deviceId: 'boom', value: 1, seq: 4 }), // 4 handler throws
          await good(5), // 5
          await writer.encode({ deviceId: 'dev-6', value: -6, seq: 6 }), // 6 CHECK (value >= 0) violated
          await good(7), // 7
        ];
        const producer = kafka.producer();
        await producer.connect();
        await producer.send({
          topic,
          messages: values.map((value, i) => ({ key: `k${i}`, value, headers: { trace: `t${i}` } })),
        });
        await producer.disconnect();
        const runner = await start(schema, topic, { writeMode });
        try {
          await waitCaughtUp(kafka, schema.pool, 'readings', 1, [topic]);
        } finally {
          await runner.close();
        }
        const model = await readModel(schema);
        assert.deepEqual(
          model.events.map((e) => [Number(e.offset), e.device_id, Number(e.value)]),
          [
            [0, 'dev-0', 0],
            [2, 'dev-2', 2],
            [5, 'dev-5', 5],
            [7, 'dev-7', 7],
          ],
        );
        assert.deepEqual([...model.totals.keys()].sort(), ['dev-0', 'dev-2', 'dev-5', 'dev-7']);

        const { rows: errors } = await schema.pool.query(
          `SELECT "offset", error_class, error_code, message, payload FROM projection_errors
         WHERE projection = 'readings' AND version = 1 ORDER BY "offset"`,
        );
        assert.deepEqual(
          errors.map((e) => [Number(e.offset), e.error_class, e.error_code]),
          [
            [1, 'DecodeError', 'SLUICE_CODEC_BAD_MAGIC'],
            [3, 'DecodeError', 'SLUICE_CODEC_UNKNOWN_SCHEMA_ID'],
            [4, 'ProjectionError', 'SLUICE_PROJECTION_HANDLER_FAILED'],
            [6, 'RowRejectedError', 'SLUICE_PROJECTION_ROW_REJECTED'],
          ],
        );
        assert.match(errors[2].message, /handler cannot project device boom/);
        assert.match(errors[3].message, /check constraint.*\(SQLSTATE 23514\)/);
        for (const e of errors) assert.ok(values[Number(e.offset)]!.equals(e.payload), 'payload kept');

        // The dead letters, decoded with the catalogue's schema.
        const dlqType = loadCatalogue(`${root}/schemas`).schemas.get(
          'sluice.platform.DeadLetterRecorded',
        )!.type;
        const consumer = kafka.consumer({ groupId: `dlq-reader-${Date.now()}`, maxWaitTimeInMs: 100 });
        const letters: DeadLetterValue[] = [];
        await consumer.connect();
        await consumer.subscribe({ topic: `${topic}.dlq`, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ message }) => {
            letters.push(dlqType.fromBuffer(message.value!.subarray(5)) as DeadLetterValue);
          },
        });
        const deadline = Date.now() + 15_000;
        while (letters.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        await consumer.disconnect();
        letters.sort((a, b) => a.sourceOffset - b.sourceOffset);
        assert.deepEqual(
          letters.map((l) => [l.sourceTopic, l.sourceOffset, l.stage, l.errorCode, l.consumerGroup]),
          [
            [topic, 1, 'DECODE', 'SLUICE_CODEC_BAD_MAGIC', 'sluice-projection-readings-v1'],
            [topic, 3, 'DECODE', 'SLUICE_CODEC_UNKNOWN_SCHEMA_ID', 'sluice-projection-readings-v1'],
            [topic, 4, 'PROJECT', 'SLUICE_PROJECTION_HANDLER_FAILED', 'sluice-projection-readings-v1'],
            [topic, 6, 'PROJECT', 'SLUICE_PROJECTION_ROW_REJECTED', 'sluice-projection-readings-v1'],
          ],
        );
        for (const l of letters) {
          assert.ok(values[l.sourceOffset]!.equals(l.originalValue!), 'original bytes kept');
          assert.equal(l.originalKey?.toString(), `k${l.sourceOffset}`);
          assert.deepEqual(
            l.originalHeaders.map((h) => [h.key, h.value?.toString()]),
            [['trace', `t${l.sourceOffset}`]],
          );
        }
        assert.equal(await counter('sluice_projection_errors_total', { projection: 'readings', topic }), 4);
        const status = await projectionStatus(schema.pool, 'readings');
        assert.equal(status?.errorCount, 4);
        assert.equal(status?.lastError?.offset, 6);
      } finally {
        await schema.drop();
      }
    });
  }

  it('retries transient database errors (serialization failure, deadlock, lost connection) without dead letters', async () => {
    const schema = await freshSchema();
    const topic = await topicWith(2);
    try {
      // Fail the first three writes to device_totals: nextval is not rolled back with the transaction.
      await schema.pool.query(`
        CREATE TABLE device_totals_v1 (device_id text PRIMARY KEY, count bigint NOT NULL, sum bigint NOT NULL);
        CREATE SEQUENCE failures;
        CREATE FUNCTION fail_first() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          CASE nextval('failures')
            WHEN 1 THEN RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001';
            WHEN 2 THEN RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01';
            WHEN 3 THEN PERFORM pg_terminate_backend(pg_backend_pid());
            ELSE NULL;
          END CASE;
          RETURN NULL;
        END $$;
        CREATE TRIGGER fail_first AFTER INSERT OR UPDATE ON device_totals_v1
          FOR EACH STATEMENT EXECUTE FUNCTION fail_first();`);
      const produced = await produce(topic, readings(2000, 13), 2);
      const before = await counter('sluice_projection_retries_total', { projection: 'readings' });
      const runner = await start(schema, topic);
      try {
        await waitCaughtUp(kafka, schema.pool, 'readings', 1, [topic], 60_000, () =>
          assert.equal(runner.error, null),
        );
      } finally {
        await runner.close();
      }
      const model = await readModel(schema);
      assert.equal(model.events.length, 2000);
      assert.deepEqual(model.totals, expectedModel(produced).totals);
      const { rows } = await schema.pool.query('SELECT count(*)::int AS n FROM projection_errors');
      assert.equal(rows[0].n, 0);
      assert.ok((await counter('sluice_projection_retries_total', { projection: 'readings' })) - before >= 3);
    } finally {
      await schema.drop();
    }
  });
});

/**
 * Read models end to end: catalogue events produced as Avro (registry wire format, the
 * catalogue's subjects) to the embedded broker, the real ProjectionRunner folding them into a
 * migrated database (the PostgreSQL service, then the embedded one), and the stable views and
 * rollups queried as docs/queries.md does. Covers a multi-type topic (training.run.lifecycle)
 * and the dead-letter path: an undecodable prediction reaches dead_letters through `.dlq`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { AvroSerializer } from '../../engine/codec/index.js';
import { type ProjectionDefinition, ProjectionRunner } from '../../engine/projection/index.js';
import { RegistryClient } from '../../engine/registry/index.js';
import {
  accuracyProjection,
  catalogue,
  deadLettersProjection,
  predictionsProjection,
  sensorReadingsProjection,
  trainingRunsProjection,
} from '../../projections/index.js';
import type { SluiceEventName } from '../../schemas/generated/events.js';
import { kafkaClient } from '../helpers/broker.js';
import { withPlatform } from '../helpers/platform.js';
import { type TestDatabase, targets } from '../helpers/postgres.js';
import { deadLetterSerializer, waitCaughtUp } from '../projection/support.js';
import { fixture, HOUR, MINUTE, PRED, RUN } from './fixtures.js';
import { iso, migratedDatabase, rowsOf } from './support.js';

/** A record of `topic`: its key (the catalogue's key field) and its value, typed as decoded. */
interface Produced {
  type: SluiceEventName;
  key: string;
  value: unknown;
}

for (const target of targets) {
  describe(`read model projections on the embedded broker and the ${target.name}`, () => {
    let platform: Awaited<ReturnType<typeof withPlatform>>;
    let kafka: Kafka;
    let registry: RegistryClient;
    let db: TestDatabase;
    let pool: pg.Pool;
    const runners: ProjectionRunner[] = [];
    const f = fixture();

    /** Creates the catalogue's topic, then produces `records` in order, each to its key's partition. */
    async function produce(topic: string, records: readonly Produced[], extra: Buffer[] = []): Promise<void> {
      const spec = catalogue().topic(topic);
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: spec.partitions }], waitForLeaders: true });
      await admin.disconnect();
      const serializers = new Map(
        spec.subjects.map((s) => [
          s.fullName,
          new AvroSerializer(registry, s.subject, catalogue().schemas.get(s.fullName)!.json),
        ]),
      );
      const messages = [];
      for (const r of records) {
        messages.push({
          key: r.key,
          value: await serializers.get(r.type)!.encode(r.value),
          headers: { 'sluice.event-type': r.type },
        });
      }
      for (const value of extra) messages.push({ key: 'bad', value });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, messages, acks: -1 });
      await producer.disconnect();
    }

    async function run(def: ProjectionDefinition): Promise<void> {
      runners.push(
        await ProjectionRunner.start({
          definition: def,
          kafka,
          pool,
          deadLetterSerializer: deadLetterSerializer(registry),
          maxBatchEvents: 100,
          maxBatchWaitMs: 50,
          sessionTimeoutMs: 6000,
          heartbeatIntervalMs: 500,
        }),
      );
      await waitCaughtUp(
        kafka,
        pool,
        def.name,
        def.version,
        def.sources.map((s) => s.topic),
        60_000,
        () => {
          for (const r of runners) if (r.error) throw r.error;
        },
      );
    }

    before(async () => {
      platform = await withPlatform();
      kafka = kafkaClient(platform.bootstrap);
      registry = new RegistryClient({ url: platform.registryUrl });
      db = await migratedDatabase(target.fresh);
      pool = db.pool(6);
      const ev = f.events;
      await produce(
        'inference.prediction.made',
        ev.predictions['inference.prediction.made'].map((value) => ({
          type: 'sluice.inference.PredictionMade',
          key: value.subjectId,
          value,
        })),
        [Buffer.from('not avro')],
      );
      await produce(
        'feedback.prediction.scored',
        ev.accuracy['feedback.prediction.scored'].map((value) => ({
          type: 'sluice.feedback.PredictionScored',
          key: value.subjectId,
          value,
        })),
      );
      await produce(
        'sensors.reading.recorded',
        ev.sensor_readings['sensors.reading.recorded'].map((value) => ({
          type: 'sluice.sensors.SensorReadingRecorded',
          key: value.deviceId,
          value,
        })),
      );
      await produce(
        'training.run.lifecycle',
        ev.training_runs['training.run.lifecycle'].map(({ type, event }) => ({
          type,
          key: event.runId,
          value: event,
        })),
      );
      await run(predictionsProjection(registry));
      await run(accuracyProjection(registry));
      await run(sensorReadingsProjection(registry));
      await run(trainingRunsProjection(registry));
      // The predictions runner dead-lettered the bad record to inference.prediction.made.dlq.
      await run(deadLettersProjection(registry, { topics: ['inference.prediction.made.dlq'] }));
    });

    after(async () => {
      for (const r of runners) await r.close();
      await db?.stop();
      await platform?.stop();
    });

    it('predictions: one row per prediction, the redelivered one included once', async () => {
      const rows = await rowsOf(
        pool,
        'SELECT prediction_id, subject_id, model_version, confidence, occurred_at FROM predictions ORDER BY prediction_id',
      );
      assert.deepEqual(rows, [
        {
          prediction_id: PRED.p1,
          subject_id: 's-1',
          model_version: 1,
          confidence: 0.875,
          occurred_at: iso(f.t(0, 10)),
        },
        {
          prediction_id: PRED.p2,
          subject_id: 's-1',
          model_version: 2,
          confidence: 0.5,
          occurred_at: iso(f.t(1, 5)),
        },
        {
          prediction_id: PRED.p3,
          subject_id: 's-2',
          model_version: 2,
          confidence: 0.375,
          occurred_at: iso(f.t(1, 30)),
        },
        {
          prediction_id: PRED.p4,
          subject_id: 's-3',
          model_version: 1,
          confidence: 0.9375,
          occurred_at: iso(f.t(0, 40)),
        },
        {
          prediction_id: PRED.p5,
          subject_id: 's-4',
          model_version: 1,
          confidence: 0.25,
          occurred_at: iso(f.t(2)),
        },
      ]);
      const minutes = await rowsOf(
        pool,
        'SELECT bucket, model_name, model_version, predictions, avg_confidence, min_confidence, max_latency_ms FROM predictions_1m ORDER BY bucket, model_name, model_version',
      );
      assert.deepEqual(minutes, [
        {
          bucket: iso(f.t(0)),
          model_name: 'defects',
          model_version: 1,
          predictions: '2',
          avg_confidence: 0.90625,
          min_confidence: 0.875,
          max_latency_ms: 12,
        },
        {
          bucket: iso(f.t(1)),
          model_name: 'defects',
          model_version: 2,
          predictions: '2',
          avg_confidence: 0.4375,
          min_confidence: 0.375,
          max_latency_ms: 20,
        },
        {
          bucket: iso(f.t(2)),
          model_name: 'widgets',
          model_version: 1,
          predictions: '1',
          avg_confidence: 0.25,
          min_confidence: 0.25,
          max_latency_ms: 3,
        },
      ]);
    });

    it('accuracy per model version per minute', async () => {
      const rows = await rowsOf(
        pool,
        'SELECT bucket, model_version, scored, correct, accuracy, avg_confidence FROM accuracy_1m ORDER BY bucket, model_version',
      );
      assert.deepEqual(rows, [
        {
          bucket: iso(f.t(3)),
          model_version: 2,
          scored: '1',
          correct: '0',
          accuracy: 0,
          avg_confidence: 0.5,
        },
        {
          bucket: iso(f.t(4)),
          model_version: 1,
          scored: '2',
          correct: '2',
          accuracy: 1,
          avg_confidence: 0.90625,
        },
        {
          bucket: iso(f.t(4)),
          model_version: 2,
          scored: '1',
          correct: '1',
          accuracy: 1,
          avg_confidence: 0.375,
        },
        {
          bucket: iso(f.t(5)),
          model_version: 1,
          scored: '1',
          correct: '1',
          accuracy: 1,
          avg_confidence: 0.9375,
        },
      ]);
      const scores = await pool.query('SELECT count(*)::int AS n FROM prediction_scores');
      assert.equal(scores.rows[0].n, 5);
    });

    it('sensor readings and their 1-minute rollups, BAD readings left out', async () => {
      const at10 = f.day + 10 * HOUR;
      const rows = await rowsOf(
        pool,
        'SELECT bucket, device_id, metric, readings, avg_value, min_value, max_value, sum_value FROM sensor_readings_1m ORDER BY device_id, metric, bucket',
      );
      const minute = (bucket: number, device: string, metric: string, values: number[]) => ({
        bucket: iso(bucket),
        device_id: device,
        metric,
        readings: String(values.length),
        avg_value: values.reduce((a, b) => a + b) / values.length,
        min_value: Math.min(...values),
        max_value: Math.max(...values),
        sum_value: values.reduce((a, b) => a + b),
      });
      assert.deepEqual(rows, [
        minute(at10, 'press-7', 'temperature', [20.5, 21.5]),
        minute(at10 + MINUTE, 'press-7', 'temperature', [22]),
        minute(f.day + 11 * HOUR + 30 * MINUTE, 'press-7', 'temperature', [25]),
        minute(at10, 'press-7', 'vibration_rms', [0.5]),
        minute(at10, 'press-8', 'temperature', [30]),
      ]);
      const raw = await rowsOf(
        pool,
        "SELECT value, quality FROM sensor_readings WHERE device_id = 'press-7' AND metric = 'temperature' ORDER BY occurred_at",
      );
      assert.deepEqual(raw, [
        { value: 20.5, quality: 'GOOD' }, // not the redelivered 77
        { value: 21.5, quality: 'GOOD' },
        { value: 99, quality: 'BAD' },
        { value: 22, quality: 'UNKNOWN' },
        { value: 25, quality: 'GOOD' },
      ]);
    });

    it('training runs from the five event types of one topic', async () => {
      const rows = await rowsOf(
        pool,
        'SELECT run_id, status, started_at, finished_at, last_epoch, last_epoch_metrics, metrics, error_message FROM training_runs ORDER BY requested_at',
      );
      assert.deepEqual(rows, [
        {
          run_id: RUN.r1,
          status: 'COMPLETED',
          started_at: iso(f.t(1)),
          finished_at: iso(f.t(5)),
          last_epoch: 2,
          last_epoch_metrics: { loss: 0.25, val_accuracy: 0.875 },
          metrics: { accuracy: 0.875 },
          error_message: null,
        },
        {
          run_id: RUN.r2,
          status: 'FAILED',
          started_at: iso(f.t(7)),
          finished_at: iso(f.t(8)),
          last_epoch: null,
          last_epoch_metrics: null,
          metrics: null,
          error_message: 'out of memory',
        },
        {
          run_id: RUN.r3,
          status: 'REQUESTED',
          started_at: null,
          finished_at: null,
          last_epoch: null,
          last_epoch_metrics: null,
          metrics: null,
          error_message: null,
        },
      ]);
    });

    it('an undecodable prediction is dead-lettered and lands in dead_letters', async () => {
      const rows = await rowsOf(
        pool,
        `SELECT source_topic, stage, error_code, consumer_group, attempts,
                convert_from(original_key, 'UTF8') AS key, convert_from(original_value, 'UTF8') AS value
         FROM dead_letters`,
      );
      assert.deepEqual(rows, [
        {
          source_topic: 'inference.prediction.made',
          stage: 'DECODE',
          error_code: 'SLUICE_CODEC_BAD_MAGIC',
          consumer_group: 'sluice-projection-predictions-v1',
          attempts: 1,
          key: 'bad',
          value: 'not avro',
        },
      ]);
    });
  });
}

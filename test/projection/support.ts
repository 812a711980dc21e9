/**
 * Shared by the projection tests and their child-process fixture: a fresh PostgreSQL schema per
 * test, a small readings projection (a row per event, a per-device count+sum, the latest value
 * per device), and waiting for a projection's SQL checkpoints to reach the end of its topics.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import { AvroDeserializer, type AvroSerializer, type SchemaRegistryLike } from '../../engine/codec/index.js';
import {
  accumulate,
  deadLetterSerializer as engineDeadLetterSerializer,
  insertIgnore,
  type ProjectionDefinition,
  source,
  upsert,
} from '../../engine/projection/index.js';
import type { DeadLetterValue } from '../../engine/topology/index.js';

const root = new URL('../..', import.meta.url).pathname;

/** The test database; trust auth, the `postgres` role exists on every Debian/Docker install. */
export const DATABASE_URL = process.env.SLUICE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  name: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A pool whose search_path is `schema`: every unqualified table the runner or the test makes lands there. */
export function schemaPool(schema: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max, options: `-c search_path=${schema}` });
  pool.on('error', () => {}); // idle clients killed by a test's pg_terminate_backend
  return pool;
}

export async function freshSchema(): Promise<TestSchema> {
  const name = `sluice_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${name}`);
  await admin.end();
  const pool = schemaPool(name);
  return {
    name,
    pool,
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      await c.end();
    },
  };
}

export const readingSchema = {
  type: 'record',
  name: 'Reading',
  namespace: 'sluice.test',
  fields: [
    { name: 'deviceId', type: 'string' },
    { name: 'value', type: 'long' },
    { name: 'seq', type: 'long' },
  ],
};
export interface Reading {
  deviceId: string;
  value: number;
  seq: number;
}

/**
 * reading_events: a row per event with no unique key, so a twice-applied event shows as an
 * extra row; device_totals: count and sum accumulated per device; device_latest: the value of
 * the highest seq per device (an upsert). Values must be >= 0 (a CHECK), so a negative value is
 * a row the database rejects; device id "boom" makes the handler throw.
 */
export function readingsProjection(
  registry: SchemaRegistryLike,
  topic: string,
  version = 1,
): ProjectionDefinition<'events' | 'totals' | 'latest'> {
  return {
    name: 'readings',
    version,
    targets: {
      events: {
        table: 'reading_events',
        columns: { topic: 'text', partition: 'int4', offset: 'int8', device_id: 'text', value: 'int8' },
        key: [],
        conflict: insertIgnore(),
      },
      totals: {
        table: 'device_totals',
        columns: { device_id: 'text', count: 'int8', sum: 'int8' },
        key: ['device_id'],
        conflict: accumulate({ count: 'sum', sum: 'sum' }),
      },
      latest: {
        table: 'device_latest',
        columns: { device_id: 'text', value: 'int8', seq: 'int8' },
        key: ['device_id'],
        conflict: upsert('value', 'seq'),
      },
    },
    sources: [
      source<Reading, 'events' | 'totals' | 'latest'>(
        topic,
        new AvroDeserializer<Reading>(registry, readingSchema),
        (r, emit, ctx) => {
          if (r.deviceId === 'boom') throw new Error(`handler cannot project device ${r.deviceId}`);
          emit('events', {
            topic: ctx.topic,
            partition: ctx.partition,
            offset: ctx.offset,
            device_id: r.deviceId,
            value: r.value,
          });
          emit('totals', { device_id: r.deviceId, count: 1, sum: r.value });
          emit('latest', { device_id: r.deviceId, value: r.value, seq: r.seq });
        },
      ),
    ],
    async setup(client, tables) {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${tables('reading_events')} (
          topic text NOT NULL, partition int NOT NULL, "offset" bigint NOT NULL,
          device_id text NOT NULL, value bigint NOT NULL CHECK (value >= 0));
        CREATE TABLE IF NOT EXISTS ${tables('device_totals')} (
          device_id text PRIMARY KEY, count bigint NOT NULL, sum bigint NOT NULL);
        CREATE TABLE IF NOT EXISTS ${tables('device_latest')} (
          device_id text PRIMARY KEY, value bigint NOT NULL, seq bigint NOT NULL);`);
    },
  };
}

/** The catalogue's dead-letter serializer, as an application would build it. */
export const deadLetterSerializer = (registry: SchemaRegistryLike): AvroSerializer<DeadLetterValue> =>
  engineDeadLetterSerializer(registry, join(root, 'schemas'));

/** Waits until the projection's checkpoints equal the topics' end offsets (every event applied). */
export async function waitCaughtUp(
  kafka: Kafka,
  pool: pg.Pool,
  projection: string,
  version: number,
  topics: string[],
  timeoutMs = 60_000,
  stillOk: () => void = () => {},
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = new Map<string, number>();
    for (const t of topics) {
      for (const o of await admin.fetchTopicOffsets(t)) ends.set(`${t}:${o.partition}`, Number(o.high));
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      stillOk();
      const { rows } = await pool
        .query<{ topic: string; partition: number; next_offset: string }>(
          'SELECT topic, partition, next_offset FROM sluice_projection_checkpoints WHERE projection = $1 AND version = $2',
          [projection, version],
        )
        .catch(() => ({ rows: [] as { topic: string; partition: number; next_offset: string }[] }));
      const at = new Map(rows.map((r) => [`${r.topic}:${r.partition}`, Number(r.next_offset)]));
      if ([...ends].every(([k, end]) => (at.get(k) ?? -1) >= end)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `not caught up after ${timeoutMs} ms: ends ${JSON.stringify([...ends])}, at ${JSON.stringify([...at])}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Shared by the read-model tests: the documented queries, a migrated database per target, and
 * `project` / `load`, which turn events into rows with the projections' own handlers and write
 * them with the engine's TargetWriter: the runner's write path, without Kafka.
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import type { SchemaRegistryLike } from '../../engine/codec/index.js';
import { migrate } from '../../engine/migrate/index.js';
import {
  type EventContext,
  type ProjectionDefinition,
  type Row,
  TargetWriter,
  tableResolver,
} from '../../engine/projection/index.js';
import type { TestDatabase } from '../helpers/postgres.js';

const root = new URL('../..', import.meta.url).pathname;
export const migrationsDir = `${root}migrations`;

/** Definitions are built without a registry: handlers never decode. */
export const offlineRegistry: SchemaRegistryLike = {
  getSchemaById: () => Promise.reject(new Error('offline registry')),
  register: () => Promise.reject(new Error('offline registry')),
  lookup: () => Promise.reject(new Error('offline registry')),
};

export interface DocumentedQuery {
  name: string;
  sql: string;
}

/** Every ```sql block of docs/queries.md named by a `-- query: <name>` line. */
export function documentedQueries(): DocumentedQuery[] {
  const text = readFileSync(`${root}docs/queries.md`, 'utf8');
  const out: DocumentedQuery[] = [];
  for (const [, sql] of text.matchAll(/```sql\n([\s\S]*?)```/g)) {
    const name = /^-- query: ([a-z0-9_]+)\s*$/m.exec(sql!)?.[1];
    if (name) out.push({ name, sql: sql! });
  }
  return out;
}

/** A fresh database of `fresh`, migrated with this repository's migrations. */
export async function migratedDatabase(fresh: () => Promise<TestDatabase>): Promise<TestDatabase> {
  const db = await fresh();
  try {
    await migrate({ db: db.url, dir: migrationsDir });
    return db;
  } catch (err) {
    await db.stop();
    throw err;
  }
}

/** The rows `events` (values of `topic`, as decoded) make, by target, in emission order. */
export function project(
  def: ProjectionDefinition,
  topic: string,
  events: readonly unknown[],
): Map<string, Row[]> {
  const src = def.sources.find((s) => s.topic === topic);
  if (!src) throw new Error(`${def.name} has no source for ${topic}`);
  const rows = new Map<string, Row[]>();
  events.forEach((event, offset) => {
    const ctx: EventContext = {
      topic,
      partition: 0,
      offset: String(offset),
      key: null,
      timestamp: 0,
      tables: tableResolver(def),
    };
    src.handle(event, (target, row) => rows.set(target, [...(rows.get(target) ?? []), row]), ctx);
  });
  return rows;
}

/** Projects `events` per topic and writes the rows into the definition's tables, in one transaction. */
export async function load(
  pool: pg.Pool,
  def: ProjectionDefinition,
  eventsByTopic: Readonly<Record<string, readonly unknown[]>>,
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const resolve = tableResolver(def);
    for (const [topic, events] of Object.entries(eventsByTopic)) {
      for (const [target, rows] of project(def, topic, events)) {
        const spec = def.targets[target as keyof typeof def.targets];
        await new TargetWriter(target, spec, resolve(spec.table)).write(client, rows, 'unnest');
      }
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Query rows with Dates as ISO strings, so expectations are plain data. */
export async function rowsOf(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<unknown[]> {
  const { rows } = await pool.query(sql, params);
  return rows.map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])),
  );
}

export const iso = (ms: number): string => new Date(ms).toISOString();

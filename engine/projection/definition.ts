import type { PoolClient } from 'pg';
import type { AvroDeserializer } from '../codec/index.js';
import { ProjectionError } from './errors.js';

/** SQL types a target column may have: what the bulk paths know how to encode and cast. */
export type ColumnType =
  | 'text'
  | 'uuid'
  | 'int2'
  | 'int4'
  | 'int8'
  | 'float4'
  | 'float8'
  | 'numeric'
  | 'bool'
  | 'timestamptz'
  | 'timestamp'
  | 'date'
  | 'json'
  | 'jsonb'
  | 'bytea';

/**
 * One row for a target, by column name. Values: strings, numbers, bigints, booleans, Dates (or
 * epoch milliseconds for timestamp columns), Buffers for bytea, any JSON value for json/jsonb;
 * null or a missing column is SQL NULL.
 */
export type Row = Readonly<Record<string, unknown>>;

/** How a column of an existing row changes when a row with the same key arrives. */
export type MergeOp = 'sum' | 'min' | 'max' | 'replace';

/**
 * What happens when a row's key already exists, in the table or earlier in the same batch:
 * - `ignore`: the first row wins (`ON CONFLICT DO NOTHING`); with an empty key every row is
 *   appended (a row per event, exactly once thanks to the checkpoint);
 * - `upsert`: the `update` columns take the latest row's values, the others keep the first's;
 * - `accumulate`: each listed column merges (`sum`: `count = t.count + excluded.count`, `min`,
 *   `max`, `replace`); unlisted columns keep the first row's values.
 */
export type ConflictPolicy =
  | { readonly kind: 'ignore' }
  | { readonly kind: 'upsert'; readonly update: readonly string[] }
  | { readonly kind: 'accumulate'; readonly merge: Readonly<Record<string, MergeOp>> };

export const insertIgnore = (): ConflictPolicy => ({ kind: 'ignore' });
export const upsert = (...update: string[]): ConflictPolicy => ({ kind: 'upsert', update });
export const accumulate = (merge: Record<string, MergeOp>): ConflictPolicy => ({ kind: 'accumulate', merge });

/** A named destination of rows: a (logical) table, its columns in order, its key, its conflict policy. */
export interface TargetSpec {
  /** Logical table name, optionally schema-qualified (`analytics.predictions`); see `tableName`. */
  readonly table: string;
  readonly columns: Readonly<Record<string, ColumnType>>;
  /** Columns of the table's primary key or unique index the conflict policy keys on. */
  readonly key: readonly string[];
  readonly conflict: ConflictPolicy;
}

/** Quoted SQL identifier of a logical table for this projection version, e.g. `"predictions_v2"`. */
export type TableResolver = (logicalTable: string) => string;

/** Where an event came from, handed to handlers along with the table resolver; valid during the call only. */
export interface EventContext {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  /** The record's timestamp, epoch milliseconds. */
  readonly timestamp: number;
  readonly tables: TableResolver;
}

export type Emit<T extends string = string> = (target: T, row: Row) => void;

/** What the runner needs of a value decoder; the codec's AvroDeserializer fits. */
export type ValueDecoder<E> = Pick<AvroDeserializer<E>, 'isLoaded' | 'load' | 'decodeSync'>;

/**
 * A subscribed topic: how its values decode, and how an event becomes rows. `handle` must be a
 * pure function of the event (replays must give the same rows); it may emit any number of rows.
 * Records with a null value (tombstones) are skipped.
 */
export interface ProjectionSource<E = unknown, T extends string = string> {
  readonly topic: string;
  readonly decoder: ValueDecoder<E>;
  handle(event: E, emit: Emit<T>, ctx: EventContext): void;
}

export interface ProjectionDefinition<T extends string = string> {
  /** Lower-case letters, digits, `_`, `-`: it names the consumer group and the checkpoints. */
  readonly name: string;
  /** A positive integer; a new version is a rebuild from the earliest offsets into new tables. */
  readonly version: number;
  readonly targets: Readonly<Record<T, TargetSpec>>;
  readonly sources: readonly ProjectionSource<unknown, T>[];
  /** Idempotent DDL of the read model (CREATE TABLE IF NOT EXISTS ...), run once at start. */
  setup?(client: PoolClient, tables: TableResolver): Promise<void>;
  /** Physical table name of a logical one; default `<table>_v<version>` (blue/green rebuilds). */
  tableName?(table: string, version: number): string;
}

/** Keeps the event type of one source for its handler: `source(topic, decoder, (e, emit) => ...)`. */
export function source<E, T extends string = string>(
  topic: string,
  decoder: ValueDecoder<E>,
  handle: (event: E, emit: Emit<T>, ctx: EventContext) => void,
): ProjectionSource<E, T> {
  return { topic, decoder, handle };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function defaultTableName(table: string, version: number): string {
  return `${table}_v${version}`;
}

/** The resolver of a definition: logical name to quoted, possibly schema-qualified, identifier. */
export function tableResolver(def: ProjectionDefinition): TableResolver {
  const physical = def.tableName ?? defaultTableName;
  return (logical) => {
    const dot = logical.indexOf('.');
    if (dot < 0) return quoteIdent(physical(logical, def.version));
    return `${quoteIdent(logical.slice(0, dot))}.${quoteIdent(physical(logical.slice(dot + 1), def.version))}`;
  };
}

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const SUMMABLE = new Set<ColumnType>(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric']);

/** Checks a definition once at start, so a mistake fails loudly instead of dead-lettering every event. */
export function validateDefinition(def: ProjectionDefinition): void {
  const bad = (msg: string): never => {
    throw new ProjectionError('SLUICE_PROJECTION_INVALID_DEFINITION', `projection ${def.name}: ${msg}`);
  };
  if (!NAME.test(def.name)) bad('name must match [a-z0-9][a-z0-9_-]*');
  if (!Number.isInteger(def.version) || def.version < 1) bad('version must be a positive integer');
  if (def.sources.length === 0) bad('no sources');
  const topics = new Set<string>();
  for (const s of def.sources) {
    if (topics.has(s.topic)) bad(`topic ${s.topic} has two sources`);
    topics.add(s.topic);
  }
  for (const [name, t] of Object.entries<TargetSpec>(def.targets)) {
    const cols = Object.keys(t.columns);
    const where = `target ${name}`;
    if (cols.length === 0) bad(`${where} has no columns`);
    for (const k of t.key) if (!(k in t.columns)) bad(`${where}: key column ${k} is not a column`);
    const c = t.conflict;
    if (c.kind !== 'ignore' && t.key.length === 0) bad(`${where}: ${c.kind} needs a key`);
    if (c.kind === 'upsert') {
      for (const u of c.update) {
        if (!(u in t.columns)) bad(`${where}: update column ${u} is not a column`);
        if (t.key.includes(u)) bad(`${where}: update column ${u} is part of the key`);
      }
    }
    if (c.kind === 'accumulate') {
      for (const [col, op] of Object.entries(c.merge)) {
        if (!(col in t.columns)) bad(`${where}: merge column ${col} is not a column`);
        if (t.key.includes(col)) bad(`${where}: merge column ${col} is part of the key`);
        if (op === 'sum' && !SUMMABLE.has(t.columns[col]!))
          bad(`${where}: cannot sum ${t.columns[col]} ${col}`);
      }
    }
  }
}

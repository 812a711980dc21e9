import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  BinaryOut,
  type BinaryRows,
  binaryCapable,
  binaryHeader,
  binaryTrailer,
  compileBinaryRows,
  NotBinary,
} from './binaryCopy.js';
import { type ColumnType, quoteIdent, type Row, type TargetSpec } from './definition.js';
import { foldRows } from './fold.js';
import { classifyWriteError } from './pgErrors.js';
import { arrayLiteral, copyEncoder, ValueEncodeError } from './sqlText.js';

/**
 * How a batch's rows reach a target table:
 * - `unnest`: one `INSERT ... SELECT * FROM unnest($1::t1[], ...) ON CONFLICT ...` per target;
 *   one parameter per column whatever the row count, so no 65535-parameter chunking, and a
 *   named prepared statement per connection; one round trip;
 * - `copy`: `COPY` into a session temp table, then `INSERT ... SELECT ... ON CONFLICT` from it
 *   (two round trips, but PostgreSQL parses COPY text much faster than array literals);
 * - `auto` (the runner's default): `unnest` below `COPY_MIN_ROWS` folded rows, `copy` from there.
 *   Measured on 12-column prediction rows (bench/projection.bench.ts, write path): unnest is
 *   ahead up to about a thousand rows per statement, COPY + merge from a few thousand on.
 */
export type WriteMode = 'unnest' | 'copy' | 'auto';

/**
 * COPY's data format: `auto` sends binary when the target's column types and the batch's
 * values allow it exactly (see binaryCopy.ts), text otherwise; `text` always sends text.
 * Binary halves the encoding work here and spares the database its text parsing.
 */
export type CopyFormat = 'auto' | 'text';

/** Where `auto` switches from unnest to COPY + merge. */
export const COPY_MIN_ROWS = 500;

/** The sessions whose temp staging tables exist (created outside any transaction, so never rolled back). */
const staged = new WeakMap<PoolClient, Set<string>>();

/** Rows encoded per COPY data chunk, between yields to the event loop. */
const COPY_SLICE = 2000;

export class TargetWriter {
  readonly columns: readonly string[];
  private readonly types: readonly ColumnType[];
  private readonly copyEncoders: readonly ((v: unknown) => string)[];
  private readonly copyLines: CopyLines;
  private readonly insertSql: string;
  private readonly statementName: string;
  private readonly stage: string;
  private readonly stageDdl: string;
  private readonly copySql: string;
  private readonly mergeSql: string;
  private readonly directCopySql: string;
  private readonly binaryRows: BinaryRows | null;
  /** Bytes per binary row of the last slice, to size the next slice's buffer. */
  private binaryRowBytes = 256;
  private directFailures = 0;
  private directSkip = 0;

  constructor(
    readonly name: string,
    readonly spec: TargetSpec,
    /** Quoted physical table name. */
    readonly table: string,
    copyFormat: CopyFormat = 'auto',
  ) {
    this.columns = Object.keys(spec.columns);
    this.types = this.columns.map((c) => spec.columns[c]!);
    this.copyEncoders = this.types.map(copyEncoder);
    this.copyLines = compileCopyLines(this.columns);
    this.binaryRows =
      copyFormat === 'auto' && binaryCapable(this.types) ? compileBinaryRows(this.columns, this.types) : null;
    const cols = this.columns.map(quoteIdent).join(', ');
    const conflict = conflictClause(spec);
    const arrays = this.types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
    this.insertSql = `INSERT INTO ${table} AS t (${cols}) SELECT * FROM unnest(${arrays}) ${conflict}`;
    const hash = createHash('sha1').update(this.insertSql).digest('hex').slice(0, 20);
    this.statementName = `sluice_projection_${hash}`;
    this.stage = quoteIdent(`sluice_stage_${hash}`);
    const typed = this.columns.map((c, i) => `${quoteIdent(c)} ${this.types[i]}`).join(', ');
    this.stageDdl = `CREATE TEMP TABLE IF NOT EXISTS ${this.stage} (${typed})`;
    this.copySql = `COPY ${this.stage} (${cols}) FROM STDIN`;
    this.directCopySql = `COPY ${table} (${cols}) FROM STDIN`;
    // One simple-protocol round trip: merge, then empty the stage for the next batch.
    this.mergeSql = `INSERT INTO ${table} AS t (${cols}) SELECT ${cols} FROM ${this.stage} ${conflict}; TRUNCATE ${this.stage}`;
  }

  /** Creates this session's staging table for the copy path; call outside a transaction. */
  async prepareSession(client: PoolClient): Promise<void> {
    let known = staged.get(client);
    if (!known) staged.set(client, (known = new Set()));
    if (known.has(this.stage)) return;
    await client.query(this.stageDdl);
    known.add(this.stage);
  }

  /**
   * Folds `rows` by key and encodes them for one statement. Synchronous and free of I/O, so the
   * runner does it for the next batch while the database still writes the previous one.
   */
  async encode(rows: readonly Row[], mode: WriteMode): Promise<EncodedRows> {
    const folded = dataStep(() => foldRows(this.spec, rows));
    if (mode === 'unnest' || (mode === 'auto' && folded.length < COPY_MIN_ROWS)) {
      const params = dataStep(() =>
        this.columns.map((c, i) =>
          arrayLiteral(
            this.types[i]!,
            folded.map((r) => r[c]),
          ),
        ),
      );
      return { path: 'unnest', rows: folded.length, payload: params };
    }
    if (this.binaryRows) {
      const payload = await this.encodeBinary(folded);
      if (payload) return { path: 'copy', format: 'binary', rows: folded.length, payload };
    }
    const payload: string[] = [];
    for (let from = 0; from < folded.length; from += COPY_SLICE) {
      // Yield between slices: the previous batch's COPY stream and query results need the event loop.
      if (from > 0) await yieldNow();
      payload.push(dataStep(() => this.copyText(folded, from, Math.min(folded.length, from + COPY_SLICE))));
    }
    return { path: 'copy', format: 'text', rows: folded.length, payload };
  }

  /** Binary COPY data of the rows, a Buffer per slice; null when some value needs the text path. */
  private async encodeBinary(rows: readonly Row[]): Promise<Buffer[] | null> {
    const write = this.binaryRows!;
    const payload = [binaryHeader()];
    for (let from = 0; from < rows.length; from += COPY_SLICE) {
      if (from > 0) await yieldNow();
      const to = Math.min(rows.length, from + COPY_SLICE);
      const out = new BinaryOut(Math.ceil(this.binaryRowBytes * (to - from) * 1.1) + 64);
      try {
        dataStep(() => write(out, rows, from, to));
      } catch (err) {
        if (err instanceof ValueEncodeError && err.cause instanceof NotBinary) return null;
        throw err;
      }
      this.binaryRowBytes = Math.max(16, out.pos / (to - from));
      payload.push(out.buf.subarray(0, out.pos));
    }
    payload.push(binaryTrailer());
    return payload;
  }

  /** Merges encoded rows into the table, inside the caller's transaction; returns the number of rows sent. */
  async writeEncoded(client: PoolClient, encoded: EncodedRows): Promise<number> {
    if (encoded.rows === 0) return 0;
    if (encoded.path === 'unnest') {
      await client.query({ name: this.statementName, text: this.insertSql, values: encoded.payload });
      return encoded.rows;
    }
    const binary = encoded.format === 'binary' ? ' WITH (FORMAT binary)' : '';
    if (await this.copyDirect(client, encoded.payload, binary)) return encoded.rows;
    await this.prepareSession(client);
    await pipeline(Readable.from(encoded.payload), client.query(copyFrom(this.copySql + binary)));
    await client.query(this.mergeSql);
    return encoded.rows;
  }

  /**
   * Tries COPY straight into the table, under a savepoint: rows whose keys are all new (a
   * rebuild, an append-only table) need no staging and no merge, which halves the database's
   * work. A conflict (or any rejected row) rolls the attempt back and the merge path runs; after
   * failures the attempt is skipped for 2, 4, ... 64 batches, so keyed aggregates do not pay
   * for it every time.
   */
  private async copyDirect(
    client: PoolClient,
    payload: (string | Buffer)[],
    options: string,
  ): Promise<boolean> {
    if (this.directSkip > 0) {
      this.directSkip--;
      return false;
    }
    await client.query('SAVEPOINT sluice_direct');
    try {
      await pipeline(Readable.from(payload), client.query(copyFrom(this.directCopySql + options)));
    } catch (err) {
      if (classifyWriteError(err) === 'transient') throw err;
      await client.query('ROLLBACK TO SAVEPOINT sluice_direct; RELEASE SAVEPOINT sluice_direct');
      this.directFailures = Math.min(this.directFailures + 1, 6);
      this.directSkip = 2 ** this.directFailures;
      return false;
    }
    await client.query('RELEASE SAVEPOINT sluice_direct');
    this.directFailures = 0;
    return true;
  }

  async write(client: PoolClient, rows: readonly Row[], mode: WriteMode): Promise<number> {
    return this.writeEncoded(client, await this.encode(rows, mode));
  }

  /** COPY text of rows [from, to). */
  private copyText(rows: readonly Row[], from: number, to: number): string {
    return this.copyLines(this.copyEncoders, rows, from, to);
  }
}

type CopyLines = (
  encoders: readonly ((v: unknown) => string)[],
  rows: readonly Row[],
  from: number,
  to: number,
) => string;

/**
 * A COPY line builder specialised to one target's columns, as avsc compiles its codecs: each
 * column's encoder gets its own call site and each property read its own inline cache, where a
 * loop over columns would make both megamorphic. Column names only appear as JSON string literals.
 */
function compileCopyLines(columns: readonly string[]): CopyLines {
  const fields = columns.map((c, i) => `e${i}(row[${JSON.stringify(c)}])`).join(" + '\\t' + ");
  const body = `
    ${columns.map((_, i) => `const e${i} = encoders[${i}];`).join('\n')}
    let text = '';
    for (let r = from; r < to; r++) {
      const row = rows[r];
      text += ${fields} + '\\n';
    }
    return text;`;
  return new Function('encoders', 'rows', 'from', 'to', body) as CopyLines;
}

/** One target's rows of a batch, folded and encoded for the path chosen. */
export type EncodedRows =
  | { path: 'unnest'; rows: number; payload: string[] }
  | { path: 'copy'; format: 'text'; rows: number; payload: string[] }
  | { path: 'copy'; format: 'binary'; rows: number; payload: Buffer[] };

const yieldNow = () => new Promise((resolve) => setImmediate(resolve));

/** Folding and encoding only fail on the rows' data: say so, so the write path blames an event. */
function dataStep<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ValueEncodeError) throw err;
    throw new ValueEncodeError((err as Error).message, { cause: err });
  }
}

/** The ON CONFLICT clause of a target's policy; `t` is the table, EXCLUDED the incoming row. */
export function conflictClause(spec: TargetSpec): string {
  const target = spec.key.length === 0 ? '' : ` (${spec.key.map(quoteIdent).join(', ')})`;
  const c = spec.conflict;
  const sets: string[] = [];
  if (c.kind === 'upsert') {
    for (const col of c.update) sets.push(`${quoteIdent(col)} = EXCLUDED.${quoteIdent(col)}`);
  } else if (c.kind === 'accumulate') {
    for (const [col, op] of Object.entries(c.merge)) {
      const q = quoteIdent(col);
      const expr =
        op === 'sum'
          ? `COALESCE(t.${q} + EXCLUDED.${q}, t.${q}, EXCLUDED.${q})`
          : op === 'min'
            ? `LEAST(t.${q}, EXCLUDED.${q})`
            : op === 'max'
              ? `GREATEST(t.${q}, EXCLUDED.${q})`
              : `EXCLUDED.${q}`;
      sets.push(`${q} = ${expr}`);
    }
  }
  return sets.length === 0
    ? `ON CONFLICT${target} DO NOTHING`
    : `ON CONFLICT${target} DO UPDATE SET ${sets.join(', ')}`;
}

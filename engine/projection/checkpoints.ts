import type { Pool, PoolClient } from 'pg';

/**
 * The runner's own tables. Created idempotently at start, under an advisory lock because two
 * sessions running CREATE TABLE IF NOT EXISTS at once can still collide on the catalog.
 * Checkpoints hold, per projection version and partition, the next offset to apply; they are
 * written in the same transaction as the rows, which is what makes the projection exactly-once.
 */
const DDL = `
CREATE TABLE IF NOT EXISTS sluice_projection_checkpoints (
  projection text NOT NULL,
  version integer NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL,
  next_offset bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, version, topic, partition)
);
CREATE TABLE IF NOT EXISTS projection_errors (
  projection text NOT NULL,
  version integer NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL,
  "offset" bigint NOT NULL,
  error_class text NOT NULL,
  error_code text,
  message text NOT NULL,
  payload bytea,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, version, topic, partition, "offset")
);
CREATE INDEX IF NOT EXISTS projection_errors_recent ON projection_errors (projection, recorded_at DESC);
`;

/** Any fixed number: the advisory lock serialising DDL of projections. */
const DDL_LOCK = 0x5107ce;

/** Runs `fn` in a transaction holding the DDL advisory lock. */
export async function withDdlLock(pool: Pool, fn: (client: PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  const ignore = () => {}; // a dropped connection rejects the query too
  client.on('error', ignore);
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
    await fn(client);
    await client.query('COMMIT');
    client.off('error', ignore);
    client.release();
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    client.off('error', ignore);
    client.release(err as Error);
    throw err;
  }
}

export async function createEngineTables(client: PoolClient): Promise<void> {
  await client.query(DDL);
}

export interface PartitionRef {
  topic: string;
  partition: number;
}

export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * The checkpoint of every partition, creating missing ones at `start` (the log start offset):
 * a new projection version starts from the earliest event. ON CONFLICT DO NOTHING makes two
 * instances racing on a fresh partition agree on one row.
 */
export async function ensureCheckpoints(
  pool: Pool,
  projection: string,
  version: number,
  partitions: readonly (PartitionRef & { start: number })[],
): Promise<Map<string, number>> {
  if (partitions.length > 0) {
    await pool.query(
      `INSERT INTO sluice_projection_checkpoints (projection, version, topic, partition, next_offset)
       SELECT $1, $2, * FROM unnest($3::text[], $4::int4[], $5::int8[])
       ON CONFLICT DO NOTHING`,
      [
        projection,
        version,
        partitions.map((p) => p.topic),
        partitions.map((p) => p.partition),
        partitions.map((p) => String(p.start)),
      ],
    );
  }
  const { rows } = await pool.query<{ topic: string; partition: number; next_offset: string }>(
    `SELECT topic, partition, next_offset FROM sluice_projection_checkpoints
     WHERE projection = $1 AND version = $2`,
    [projection, version],
  );
  return new Map(rows.map((r) => [tpKey(r.topic, r.partition), Number(r.next_offset)]));
}

/**
 * Locks the checkpoint rows of `partitions` for this transaction and returns them. Another
 * instance writing the same partition (a zombie after a rebalance) waits here, then sees the
 * advanced checkpoint and skips what was already applied.
 */
export async function lockCheckpoints(
  client: PoolClient,
  projection: string,
  version: number,
  partitions: readonly PartitionRef[],
): Promise<Map<string, number>> {
  const { rows } = await client.query<{ topic: string; partition: number; next_offset: string }>(
    `SELECT c.topic, c.partition, c.next_offset FROM sluice_projection_checkpoints c
     JOIN unnest($3::text[], $4::int4[]) AS p(topic, partition) USING (topic, partition)
     WHERE c.projection = $1 AND c.version = $2
     ORDER BY c.topic, c.partition
     FOR UPDATE OF c`,
    [projection, version, partitions.map((p) => p.topic), partitions.map((p) => p.partition)],
  );
  return new Map(rows.map((r) => [tpKey(r.topic, r.partition), Number(r.next_offset)]));
}

export async function advanceCheckpoints(
  client: PoolClient,
  projection: string,
  version: number,
  next: readonly (PartitionRef & { next: number })[],
): Promise<void> {
  if (next.length === 0) return;
  await client.query(
    `UPDATE sluice_projection_checkpoints c
     SET next_offset = GREATEST(c.next_offset, u.next_offset), updated_at = now()
     FROM unnest($3::text[], $4::int4[], $5::int8[]) AS u(topic, partition, next_offset)
     WHERE c.projection = $1 AND c.version = $2 AND c.topic = u.topic AND c.partition = u.partition`,
    [
      projection,
      version,
      next.map((p) => p.topic),
      next.map((p) => p.partition),
      next.map((p) => String(p.next)),
    ],
  );
}

export interface ErrorRow extends PartitionRef {
  offset: number;
  errorClass: string;
  errorCode: string | null;
  message: string;
  payload: Buffer | null;
}

export async function recordErrors(
  client: PoolClient,
  projection: string,
  version: number,
  errors: readonly ErrorRow[],
): Promise<void> {
  if (errors.length === 0) return;
  await client.query(
    `INSERT INTO projection_errors
       (projection, version, topic, partition, "offset", error_class, error_code, message, payload)
     SELECT $1, $2, * FROM unnest($3::text[], $4::int4[], $5::int8[], $6::text[], $7::text[], $8::text[], $9::bytea[])
     ON CONFLICT DO NOTHING`,
    [
      projection,
      version,
      errors.map((e) => e.topic),
      errors.map((e) => e.partition),
      errors.map((e) => String(e.offset)),
      errors.map((e) => e.errorClass),
      errors.map((e) => e.errorCode),
      // Postgres text cannot hold NUL bytes; a message quoting binary data must still be stored.
      errors.map((e) => e.message.replaceAll('\u0000', '\\0')),
      errors.map((e) => e.payload),
    ],
  );
}

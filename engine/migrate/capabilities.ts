import type { QueryResult, QueryResultRow } from 'pg';
import type { Logger } from '../observability/logger.js';
import type { Capabilities } from './directives.js';
import { MigrationError } from './errors.js';

/** A pg Pool, Client or PoolClient. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** The value recorded for a capability the database does not have. */
export const ABSENT = 'absent';

/**
 * The path this database's read models take, for code that must query them accordingly
 * (hypertable and continuous aggregate, or plain table and view): what `migrate` recorded
 * in sluice_capabilities, or, before any migrate, whether the extension is installed.
 */
export async function capabilities(db: Queryable): Promise<Capabilities> {
  const recorded = await recordedTimescale(db);
  if (recorded !== undefined) return { timescaledb: recorded };
  return { timescaledb: await installedTimescale(db) };
}

/**
 * Decides the TimescaleDB path on a database's first migrate (take it when the extension is
 * available, creating it) and keeps it afterwards: the migrations already applied assumed
 * it, so a server that gains TimescaleDB later stays on the plain path (warned), and one
 * that loses it is refused. With `dryRun` nothing is created or recorded.
 */
export async function settleCapabilities(
  db: Queryable,
  opts: { dryRun: boolean; log: Logger },
): Promise<Capabilities> {
  const offer = (
    await db.query<{ default_version: string; installed_version: string | null }>(
      "SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'timescaledb'",
    )
  ).rows[0];
  const recorded = await recordedTimescale(db);
  if (recorded === null) {
    if (offer)
      opts.log.warn(
        'timescaledb is available but this database was migrated without it; keeping the plain PostgreSQL path (migrate a fresh database and rebuild the read models to switch)',
      );
    return { timescaledb: null };
  }
  if (!offer) {
    if (recorded !== undefined)
      throw new MigrationError(
        'SLUICE_MIGRATION_CAPABILITY',
        `this database was migrated with TimescaleDB ${recorded}, which this server does not offer (pg_available_extensions); install it, or migrate a fresh database`,
      );
    if (!opts.dryRun) await record(db, ABSENT);
    return { timescaledb: null };
  }
  if (opts.dryRun) return { timescaledb: recorded ?? offer.installed_version ?? offer.default_version };
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  } catch (err) {
    throw new MigrationError(
      'SLUICE_MIGRATION_CAPABILITY',
      `CREATE EXTENSION timescaledb failed: ${(err as Error).message} (the server must preload it through shared_preload_libraries and the user may create it)`,
      { cause: err },
    );
  }
  const installed = (await installedTimescale(db))!;
  if (installed !== recorded) await record(db, installed);
  opts.log.info({ timescaledb: installed }, 'timescaledb path');
  return { timescaledb: installed };
}

async function recordedTimescale(db: Queryable): Promise<string | null | undefined> {
  const table = await db.query<{ present: boolean }>(
    "SELECT to_regclass('sluice_capabilities') IS NOT NULL AS present",
  );
  if (!table.rows[0].present) return undefined;
  const r = await db.query<{ value: string }>(
    "SELECT value FROM sluice_capabilities WHERE name = 'timescaledb'",
  );
  if (r.rows.length === 0) return undefined;
  return r.rows[0].value === ABSENT ? null : r.rows[0].value;
}

async function installedTimescale(db: Queryable): Promise<string | null> {
  const r = await db.query<{ extversion: string }>(
    "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
  );
  return r.rows[0]?.extversion ?? null;
}

async function record(db: Queryable, value: string): Promise<void> {
  await db.query(
    `INSERT INTO sluice_capabilities (name, value) VALUES ('timescaledb', $1)
     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`,
    [value],
  );
}

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createLogger, type Logger } from '../observability/logger.js';
import { settleCapabilities } from './capabilities.js';
import { type Capabilities, renderScript } from './directives.js';
import { MigrationError } from './errors.js';
import { fileName, loadMigrations, type Migration } from './files.js';
import { lineAt, splitStatements } from './statements.js';

export interface MigrateOptions {
  /** A connection string, or a pool to borrow one connection from for the whole run. */
  db: string | pg.Pool;
  dir: string;
  /** Check and report, change nothing: no lock, no table, no extension. */
  dryRun?: boolean;
  /** How long to wait for another `migrate` holding the lock (default 60 s). */
  lockTimeoutMs?: number;
  logger?: Logger;
}

export type MigrationStatus = 'applied' | 'up-to-date' | 'pending';

export interface MigrationReport {
  dryRun: boolean;
  capabilities: Capabilities;
  migrations: Array<{ version: number; file: string; status: MigrationStatus; executionMs?: number }>;
}

/** Session advisory lock key of `migrate`: "sluice" in ASCII. Advisory locks are per database. */
export const MIGRATION_LOCK_KEY = '126879297332069';

const BOOKKEEPING = `
CREATE TABLE IF NOT EXISTS sluice_migrations (
  version      integer PRIMARY KEY,
  name         text NOT NULL,
  checksum     text NOT NULL,
  applied_at   timestamptz NOT NULL DEFAULT now(),
  execution_ms integer NOT NULL
);
CREATE TABLE IF NOT EXISTS sluice_capabilities (
  name  text PRIMARY KEY,
  value text NOT NULL
);`;

interface Applied {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Applies the pending migrations of `dir` in version order, each in its own transaction
 * (or statement by statement for `-- sluice:no-transaction` files), recording each in
 * sluice_migrations. Refuses to start when an applied file was edited, removed or is
 * followed by an older new one. Runs under a session advisory lock so concurrent runs
 * queue; each transactional migration also re-checks its row under a table lock, which
 * keeps it exactly-once where session locks are shared (PgBouncer transaction pooling, the
 * embedded single-session PostgreSQL).
 */
export async function migrate(opts: MigrateOptions): Promise<MigrationReport> {
  const log = opts.logger ?? createLogger('migrate');
  const dryRun = opts.dryRun ?? false;
  const migrations = loadMigrations(opts.dir);
  const pooled = typeof opts.db !== 'string';
  const client =
    typeof opts.db === 'string' ? new pg.Client({ connectionString: opts.db }) : await opts.db.connect();
  const onNotice = (n: { message?: string }) => log.debug({ notice: n.message }, 'postgres notice');
  const onError = (err: Error) => log.warn({ err }, 'migrate connection error');
  client.on('notice', onNotice);
  client.on('error', onError);
  try {
    if (!pooled) await (client as pg.Client).connect();
    if (!dryRun) await lock(client, opts.lockTimeoutMs ?? 60_000, log);
    try {
      return await run(client, migrations, dryRun, log);
    } finally {
      if (!dryRun)
        await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  } finally {
    client.off('notice', onNotice);
    client.off('error', onError);
    // Discarded, not returned: migrations may leave session state (SET, temp tables) behind.
    if (pooled) (client as pg.PoolClient).release(true);
    else await (client as pg.Client).end().catch(() => {});
  }
}

async function run(
  client: pg.ClientBase,
  migrations: Migration[],
  dryRun: boolean,
  log: Logger,
): Promise<MigrationReport> {
  const tracked = (await client.query("SELECT to_regclass('sluice_migrations') IS NOT NULL AS t")).rows[0].t;
  if (!dryRun && !tracked) await client.query(BOOKKEEPING);
  const applied: Applied[] =
    tracked || !dryRun
      ? (await client.query('SELECT version, name, checksum FROM sluice_migrations ORDER BY version')).rows
      : [];
  verify(migrations, applied);
  const caps = await settleCapabilities(client, { dryRun, log });
  const done = new Map(applied.map((a) => [a.version, a]));
  const report: MigrationReport = { dryRun, capabilities: caps, migrations: [] };
  for (const m of migrations) {
    if (done.has(m.version))
      report.migrations.push({ version: m.version, file: m.file, status: 'up-to-date' });
    else if (dryRun) report.migrations.push({ version: m.version, file: m.file, status: 'pending' });
    else {
      const executionMs = m.script.transactional
        ? await applyInTransaction(client, m, caps)
        : await applyStatementByStatement(client, m, caps);
      if (executionMs === null) {
        report.migrations.push({ version: m.version, file: m.file, status: 'up-to-date' });
      } else {
        log.info({ migration: m.file, executionMs }, 'migration applied');
        report.migrations.push({ version: m.version, file: m.file, status: 'applied', executionMs });
      }
    }
  }
  return report;
}

/** Refuses a history that the files no longer describe. */
function verify(migrations: Migration[], applied: Applied[]): void {
  const files = new Map(migrations.map((m) => [m.version, m]));
  for (const a of applied) {
    const recorded = fileName(a.version, a.name);
    const m = files.get(a.version);
    if (!m || m.name !== a.name)
      throw new MigrationError(
        'SLUICE_MIGRATION_MISSING',
        `${recorded} was applied but is no longer in the migrations directory${m ? ` (${m.file} has its version)` : ''}; restore it`,
        { file: recorded },
      );
    if (m.checksum !== a.checksum)
      throw new MigrationError(
        'SLUICE_MIGRATION_CHECKSUM',
        `${m.file} was edited after it was applied (sha256 ${a.checksum.slice(0, 12)}… applied, ${m.checksum.slice(0, 12)}… now); restore it and put the change in a new migration`,
        { file: m.file },
      );
  }
  const latest = applied.at(-1)?.version ?? 0;
  const early = migrations.find((m) => m.version < latest && !applied.some((a) => a.version === m.version));
  if (early)
    throw new MigrationError(
      'SLUICE_MIGRATION_OUT_OF_ORDER',
      `${early.file} is new but sorts before ${fileName(latest, applied.at(-1)!.name)}, already applied; give it a version after ${String(latest).padStart(4, '0')}`,
      { file: early.file },
    );
}

/** Milliseconds taken, or null when a concurrent runner applied it first. */
async function applyInTransaction(
  client: pg.ClientBase,
  m: Migration,
  caps: Capabilities,
): Promise<number | null> {
  const sql = renderScript(m.script, caps);
  await client.query('BEGIN');
  try {
    await client.query('LOCK TABLE sluice_migrations IN SHARE ROW EXCLUSIVE MODE');
    const raced = await client.query('SELECT checksum FROM sluice_migrations WHERE version = $1', [
      m.version,
    ]);
    if (raced.rows.length > 0) {
      verify([m], [{ version: m.version, name: m.name, checksum: raced.rows[0].checksum }]);
      await client.query('COMMIT');
      return null;
    }
    const started = performance.now();
    try {
      await client.query(sql);
    } catch (err) {
      throw failure(m, err, { sql }, 'rolled back; nothing of it was applied');
    }
    const ms = Math.round(performance.now() - started);
    await recordApplied(client, m, ms);
    await client.query('COMMIT');
    return ms;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

async function applyStatementByStatement(
  client: pg.ClientBase,
  m: Migration,
  caps: Capabilities,
): Promise<number | null> {
  // Nothing but the advisory lock keeps concurrent runners apart here; where it cannot (a
  // shared session), the statements are re-runnable by contract and the row is written once.
  const raced = await client.query('SELECT 1 FROM sluice_migrations WHERE version = $1', [m.version]);
  if (raced.rows.length > 0) return null;
  const started = performance.now();
  for (const stmt of splitStatements(renderScript(m.script, caps))) {
    try {
      await client.query(stmt.sql);
    } catch (err) {
      throw failure(
        m,
        err,
        { sql: stmt.sql, line: stmt.line },
        'ran outside a transaction: the statements before it stay applied; make them re-runnable (IF NOT EXISTS) and run migrate again',
      );
    }
  }
  const ms = Math.round(performance.now() - started);
  return (await recordApplied(client, m, ms)) ? ms : null;
}

/** False when the row was already there (a concurrent runner recorded it first). */
async function recordApplied(client: pg.ClientBase, m: Migration, ms: number): Promise<boolean> {
  const r = await client.query(
    `INSERT INTO sluice_migrations (version, name, checksum, execution_ms) VALUES ($1, $2, $3, $4)
     ON CONFLICT (version) DO NOTHING`,
    [m.version, m.name, m.checksum, ms],
  );
  return r.rowCount === 1;
}

/** The database's error, located in the file; `statement.line` is where a lone statement starts. */
function failure(
  m: Migration,
  err: unknown,
  statement: { sql: string; line?: number },
  consequence: string,
): MigrationError {
  const e = err as { message?: string; position?: string; code?: string };
  const pos = Number(e.position);
  const first = statement.line ?? 1;
  let where = statement.line === undefined ? '' : ` in the statement at line ${first}`;
  if (Number.isInteger(pos) && pos > 0) where = ` at line ${first + lineAt(statement.sql, pos - 1) - 1}`;
  const state = e.code ? ` (SQLSTATE ${e.code})` : '';
  return new MigrationError(
    'SLUICE_MIGRATION_FAILED',
    `${m.file} failed${where}: ${e.message}${state}; ${consequence}`,
    {
      file: m.file,
      cause: err,
    },
  );
}

async function lock(client: pg.ClientBase, timeoutMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let wait = 50;
  let told = false;
  for (;;) {
    const r = await client.query('SELECT pg_try_advisory_lock($1::bigint) AS locked', [MIGRATION_LOCK_KEY]);
    if (r.rows[0].locked) return;
    if (!told) {
      log.info('another migrate holds the migration lock; waiting');
      told = true;
    }
    if (Date.now() + wait > deadline)
      throw new MigrationError(
        'SLUICE_MIGRATION_LOCK_TIMEOUT',
        `another migrate held the migration lock (pg_advisory_lock ${MIGRATION_LOCK_KEY}) for over ${timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 1000);
  }
}

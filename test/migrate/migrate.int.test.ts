import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type pg from 'pg';
import {
  capabilities,
  MIGRATION_LOCK_KEY,
  type MigrateOptions,
  MigrationError,
  type MigrationErrorCode,
  migrate,
} from '../../engine/migrate/index.js';
import { createLogger } from '../../engine/observability/logger.js';
import { tempDir } from '../helpers/broker.js';
import { offeredTimescale, type TestDatabase, targets } from '../helpers/postgres.js';

const fixtures = new URL('./fixtures/suite/', import.meta.url).pathname;
const suite = ['0001_devices.sql', '0002_readings.sql', '0003_device_names.sql'];
const sha256 = (file: string) =>
  createHash('sha256')
    .update(readFileSync(join(fixtures, file)))
    .digest('hex');
const silent = createLogger('migrate', 'silent');

function rejectsWith(code: MigrationErrorCode, file: string | undefined, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof MigrationError, `expected a MigrationError, got ${err}`);
    assert.equal(err.code, code);
    assert.equal(err.file, file);
    assert.match(err.message, message);
    return true;
  };
}

for (const target of targets) {
  describe(`migrate on the ${target.name}`, () => {
    let db: TestDatabase;
    let pool: pg.Pool;
    let dir: ReturnType<typeof tempDir>;
    const file = (name: string) => join(dir.path, name);
    const run = (opts: Partial<MigrateOptions> = {}) =>
      migrate({ db: db.url, dir: dir.path, logger: silent, ...opts });
    const rows = async (sql: string) => (await pool.query(sql)).rows;
    const versions = async () =>
      (await rows('SELECT version FROM sluice_migrations ORDER BY version')).map((r) => r.version);
    const statuses = (r: Awaited<ReturnType<typeof run>>) => r.migrations.map((m) => `${m.file} ${m.status}`);

    beforeEach(async () => {
      db = await target.fresh();
      pool = db.pool();
      dir = tempDir('sluice-migrations-');
      for (const f of suite) copyFileSync(join(fixtures, f), file(f));
    });
    afterEach(async () => {
      await db.stop();
      dir.remove();
    });

    it('applies the files in version order, each recorded once with its checksum and time', async () => {
      const offered = await offeredTimescale(db);
      const report = await run();
      assert.deepEqual(
        statuses(report),
        suite.map((f) => `${f} applied`),
      );
      const recorded = await rows(
        'SELECT version, name, checksum, execution_ms, applied_at FROM sluice_migrations ORDER BY version',
      );
      assert.deepEqual(
        recorded.map(({ version, name, checksum, execution_ms }) => ({
          version,
          name,
          checksum,
          execution_ms,
        })),
        [
          {
            version: 1,
            name: 'devices',
            checksum: sha256(suite[0]),
            execution_ms: report.migrations[0].executionMs,
          },
          {
            version: 2,
            name: 'readings',
            checksum: sha256(suite[1]),
            execution_ms: report.migrations[1].executionMs,
          },
          {
            version: 3,
            name: 'device_names',
            checksum: sha256(suite[2]),
            execution_ms: report.migrations[2].executionMs,
          },
        ],
      );
      for (const r of recorded) assert.ok(Number.isInteger(r.execution_ms) && r.execution_ms >= 0);
      assert.ok(
        recorded[0].applied_at <= recorded[1].applied_at && recorded[1].applied_at <= recorded[2].applied_at,
      );
      // 0003 upper-cases what 0001 inserted: it ran after it, outside a transaction (its index is concurrent).
      assert.deepEqual(await rows('SELECT id, name FROM devices'), [{ id: 'd1', name: 'FIRST' }]);
      assert.deepEqual(await rows("SELECT indexname FROM pg_indexes WHERE indexname = 'devices_name_idx'"), [
        { indexname: 'devices_name_idx' },
      ]);
      assert.deepEqual(await rows('SELECT name, value FROM sluice_capabilities'), [
        { name: 'timescaledb', value: offered ?? 'absent' },
      ]);
      assert.deepEqual(report.capabilities, { timescaledb: offered });
    });

    it('is idempotent: a second run applies nothing and changes no row', async () => {
      await run();
      const before = await rows('SELECT * FROM sluice_migrations ORDER BY version');
      const again = await run();
      assert.deepEqual(
        statuses(again),
        suite.map((f) => `${f} up-to-date`),
      );
      assert.deepEqual(await rows('SELECT * FROM sluice_migrations ORDER BY version'), before);
      assert.deepEqual(await rows('SELECT id, name FROM devices'), [{ id: 'd1', name: 'FIRST' }]);
    });

    it('applies only a file added later', async () => {
      await run();
      writeFileSync(
        file('0004_more_devices.sql'),
        "INSERT INTO devices (id, name) VALUES ('d2', 'second');\n",
      );
      const report = await run();
      assert.deepEqual(statuses(report), [
        ...suite.map((f) => `${f} up-to-date`),
        '0004_more_devices.sql applied',
      ]);
      assert.deepEqual(await rows('SELECT id, name FROM devices ORDER BY id'), [
        { id: 'd1', name: 'FIRST' },
        { id: 'd2', name: 'second' },
      ]);
    });

    it('refuses to run when an applied file was edited, applying nothing', async () => {
      await run();
      appendFileSync(file('0001_devices.sql'), '-- an innocent comment still changes the checksum\n');
      writeFileSync(
        file('0004_more_devices.sql'),
        "INSERT INTO devices (id, name) VALUES ('d2', 'second');\n",
      );
      await assert.rejects(
        run(),
        rejectsWith(
          'SLUICE_MIGRATION_CHECKSUM',
          '0001_devices.sql',
          /^0001_devices\.sql was edited after it was applied/,
        ),
      );
      assert.deepEqual(await versions(), [1, 2, 3]);
      assert.deepEqual(await rows('SELECT id FROM devices'), [{ id: 'd1' }]);
    });

    it('refuses to run when an applied file is missing or renamed', async () => {
      await run();
      rmSync(file('0002_readings.sql'));
      await assert.rejects(
        run(),
        rejectsWith(
          'SLUICE_MIGRATION_MISSING',
          '0002_readings.sql',
          /^0002_readings\.sql was applied but is no longer/,
        ),
      );
      copyFileSync(join(fixtures, suite[1]), file('0002_readings_v2.sql'));
      await assert.rejects(
        run(),
        rejectsWith(
          'SLUICE_MIGRATION_MISSING',
          '0002_readings.sql',
          /\(0002_readings_v2\.sql has its version\)/,
        ),
      );
      assert.deepEqual(await versions(), [1, 2, 3]);
    });

    it('refuses a new file that sorts before an applied one', async () => {
      rmSync(file('0002_readings.sql'));
      await run();
      copyFileSync(join(fixtures, suite[1]), file(suite[1]));
      await assert.rejects(
        run(),
        rejectsWith(
          'SLUICE_MIGRATION_OUT_OF_ORDER',
          '0002_readings.sql',
          /sorts before 0003_device_names\.sql/,
        ),
      );
      assert.deepEqual(await versions(), [1, 3]);
    });

    it('rolls a failing migration back, records nothing of it, and applies it once fixed', async () => {
      await run();
      const broken =
        'CREATE TABLE broken (x int);\nINSERT INTO broken VALUES (1);\nSELECT * FROM no_such_table;\n';
      writeFileSync(file('0004_broken.sql'), broken);
      await assert.rejects(
        run(),
        rejectsWith(
          'SLUICE_MIGRATION_FAILED',
          '0004_broken.sql',
          /^0004_broken\.sql failed at line 3: relation "no_such_table" does not exist \(SQLSTATE 42P01\); rolled back/,
        ),
      );
      assert.deepEqual(await rows("SELECT to_regclass('broken') AS t"), [{ t: null }]);
      assert.deepEqual(await versions(), [1, 2, 3]);
      writeFileSync(file('0004_broken.sql'), broken.replace('SELECT * FROM no_such_table;\n', ''));
      assert.deepEqual(statuses(await run()).at(-1), '0004_broken.sql applied');
      assert.deepEqual(await rows('SELECT x FROM broken'), [{ x: 1 }]);
    });

    it('runs a no-transaction file statement by statement; a failure keeps what ran and records nothing', async () => {
      await run();
      writeFileSync(
        file('0004_index.sql'),
        'CREATE INDEX CONCURRENTLY devices_id_name_idx ON devices (id, name);\n',
      );
      await assert.rejects(
        run(),
        rejectsWith(
          'SLUICE_MIGRATION_FAILED',
          '0004_index.sql',
          /cannot run inside a transaction block \(SQLSTATE 25001\)/,
        ),
      );
      rmSync(file('0004_index.sql'));
      const script = [
        '-- sluice:no-transaction',
        'CREATE TABLE IF NOT EXISTS half (x int);',
        'INSERT INTO half SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM half);',
        'SELECT * FROM no_such_table;',
      ];
      writeFileSync(file('0004_half.sql'), `${script.join('\n')}\n`);
      await assert.rejects(
        run(),
        rejectsWith(
          'SLUICE_MIGRATION_FAILED',
          '0004_half.sql',
          /^0004_half\.sql failed at line 4: .*stay applied/,
        ),
      );
      assert.deepEqual(await rows('SELECT x FROM half'), [{ x: 1 }]);
      assert.deepEqual(await versions(), [1, 2, 3]);
      writeFileSync(file('0004_half.sql'), `${script.slice(0, 3).join('\n')}\n`);
      assert.deepEqual(statuses(await run()).at(-1), '0004_half.sql applied');
      assert.deepEqual(await rows('SELECT x FROM half'), [{ x: 1 }]);
    });

    it('takes the branch of the recorded path: the same hourly rollup rows either way', async () => {
      const offered = await offeredTimescale(db);
      await run();
      assert.deepEqual(await capabilities(pool), { timescaledb: offered });
      if (offered === null) {
        assert.deepEqual(
          await rows(
            "SELECT relname, relkind FROM pg_class WHERE relname IN ('readings', 'readings_hourly') ORDER BY 1",
          ),
          [
            { relname: 'readings', relkind: 'r' },
            { relname: 'readings_hourly', relkind: 'v' },
          ],
        );
      } else {
        assert.deepEqual(
          await rows(
            'SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema()',
          ),
          [{ hypertable_name: 'readings' }],
        );
        assert.deepEqual(
          await rows(
            'SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates',
          ),
          [{ view_name: 'readings_hourly', materialized_only: false }],
        );
      }
      // Hours ahead: past any continuous aggregate watermark a refresh job could set (so always
      // read from the raw rows), and out of reach of the compression and retention jobs.
      const hour = 3_600_000;
      const base = Math.floor(Date.now() / hour) * hour + 2 * hour;
      const at = (minutes: number) => new Date(base + minutes * 60_000);
      await pool.query(
        'INSERT INTO readings (device_id, at, value) VALUES ($1, $2, 1), ($1, $3, 3), ($1, $4, 5), ($5, $6, 7)',
        ['d1', at(5), at(55), at(60), 'd2', at(30)],
      );
      const hourly = await rows(
        'SELECT bucket, device_id, readings::int AS n, avg_value, min_value, max_value FROM readings_hourly ORDER BY bucket, device_id',
      );
      assert.deepEqual(hourly, [
        { bucket: at(0), device_id: 'd1', n: 2, avg_value: 2, min_value: 1, max_value: 3 },
        { bucket: at(0), device_id: 'd2', n: 1, avg_value: 7, min_value: 7, max_value: 7 },
        { bucket: at(60), device_id: 'd1', n: 1, avg_value: 5, min_value: 5, max_value: 5 },
      ]);
    });

    it('keeps the recorded TimescaleDB path: refuses one this server cannot follow', async (t) => {
      if ((await offeredTimescale(db)) !== null) return t.skip('the service offers TimescaleDB');
      await run();
      await pool.query("UPDATE sluice_capabilities SET value = '2.14.2' WHERE name = 'timescaledb'");
      writeFileSync(
        file('0004_more_devices.sql'),
        "INSERT INTO devices (id, name) VALUES ('d2', 'second');\n",
      );
      await assert.rejects(
        run(),
        rejectsWith(
          'SLUICE_MIGRATION_CAPABILITY',
          undefined,
          /migrated with TimescaleDB 2\.14\.2, which this server does not offer/,
        ),
      );
      assert.deepEqual(await versions(), [1, 2, 3]);
    });

    it('applies each migration once when runners race', async () => {
      const reports = await Promise.all([run(), run(), run()]);
      for (const [i, f] of suite.entries()) {
        const byRunner = reports.map((r) => r.migrations[i]);
        assert.ok(
          byRunner.every((m) => m.file === f && (m.status === 'applied' || m.status === 'up-to-date')),
        );
        assert.equal(byRunner.filter((m) => m.status === 'applied').length, 1, `${f} applied by one runner`);
      }
      assert.deepEqual(await versions(), [1, 2, 3]);
      assert.deepEqual(await rows('SELECT id, name FROM devices'), [{ id: 'd1', name: 'FIRST' }]);
    });

    it('waits for the migration lock held by another session, and gives up after the lock timeout', {
      skip: target.embedded && 'one backend session: advisory locks are shared by every connection',
    }, async () => {
      const holder = await pool.connect();
      try {
        await holder.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
        await assert.rejects(run({ lockTimeoutMs: 300 }), (err: unknown) => {
          rejectsWith('SLUICE_MIGRATION_LOCK_TIMEOUT', undefined, /held the migration lock/)(err);
          return (err as MigrationError).retriable === true;
        });
        let settled = false;
        const waiting = run({ lockTimeoutMs: 30_000 }).finally(() => {
          settled = true;
        });
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(settled, false);
        assert.deepEqual(await rows("SELECT to_regclass('sluice_migrations') AS t"), [{ t: null }]);
        await holder.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
        assert.deepEqual(
          statuses(await waiting),
          suite.map((f) => `${f} applied`),
        );
      } finally {
        holder.release();
      }
    });

    it('dry run reports the path and what is pending, and changes nothing', async () => {
      const offered = await offeredTimescale(db);
      const extensions = async () => rows('SELECT extname, extversion FROM pg_extension ORDER BY extname');
      const extensionsBefore = await extensions();
      const fresh = await run({ dryRun: true });
      assert.deepEqual(fresh, {
        dryRun: true,
        capabilities: { timescaledb: offered },
        migrations: suite.map((f, i) => ({ version: i + 1, file: f, status: 'pending' })),
      });
      assert.deepEqual(
        await rows(
          "SELECT to_regclass('sluice_migrations') AS m, to_regclass('sluice_capabilities') AS c, to_regclass('devices') AS d",
        ),
        [{ m: null, c: null, d: null }],
      );
      assert.deepEqual(await extensions(), extensionsBefore);
      renameSync(file(suite[1]), join(dir.path, 'hold'));
      renameSync(file(suite[2]), join(dir.path, 'hold2'));
      await run();
      renameSync(join(dir.path, 'hold'), file(suite[1]));
      renameSync(join(dir.path, 'hold2'), file(suite[2]));
      assert.deepEqual(statuses(await run({ dryRun: true })), [
        '0001_devices.sql up-to-date',
        '0002_readings.sql pending',
        '0003_device_names.sql pending',
      ]);
      assert.deepEqual(await versions(), [1]);
    });
  });
}

import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { freePort, tempDir } from '../helpers/broker.js';
import { sluice as runSluice } from '../helpers/cli.js';
import { freshDatabase, offeredTimescale, type TestDatabase } from '../helpers/postgres.js';

const fixtures = new URL('./fixtures/suite/', import.meta.url).pathname;
const suite = ['0001_devices.sql', '0002_readings.sql', '0003_device_names.sql'];

/** `sluice <args>` as a user runs it, with DATABASE_URL unset unless given. */
const sluice = (args: string[], env: Record<string, string> = {}) => runSluice(args, { env });

describe('sluice migrate', () => {
  let db: TestDatabase;
  let dir: ReturnType<typeof tempDir>;
  let path: string;
  beforeEach(async () => {
    db = await freshDatabase();
    dir = tempDir('sluice-migrations-');
    for (const f of suite) copyFileSync(join(fixtures, f), join(dir.path, f));
    path = await offeredTimescale(db).then((v) => v ?? 'absent');
  });
  afterEach(async () => {
    await db.stop();
    dir.remove();
  });

  it('--dry-run prints the path and the pending files, exits 0 and changes nothing', async () => {
    const out = await sluice(['migrate', '--database-url', db.url, '--dir', dir.path, '--dry-run']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(
      out.stdout,
      `timescaledb\t${path}\n0001_devices.sql\tpending\n0002_readings.sql\tpending\n0003_device_names.sql\tpending\n` +
        'dry run: 3 pending, 0 up-to-date; nothing changed\n',
    );
    const c = db.pool(1);
    assert.deepEqual((await c.query("SELECT to_regclass('sluice_migrations') AS t")).rows, [{ t: null }]);
  });

  it('applies with exit 0, one line per file; DATABASE_URL is the default database', async () => {
    const first = await sluice(['migrate', '--dir', dir.path], { DATABASE_URL: db.url });
    assert.equal(first.code, 0, first.stderr);
    const lines = first.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 5);
    assert.equal(lines[0], `timescaledb\t${path}`);
    for (const [i, f] of suite.entries())
      assert.match(lines[i + 1], new RegExp(`^${f.replace('.', '\\.')}\tapplied\t\\d+ ms$`));
    assert.equal(lines[4], 'migrated: 3 applied, 0 up-to-date');
    const again = await sluice(['migrate', '--database-url', db.url, '--dir', dir.path]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      again.stdout,
      `timescaledb\t${path}\n${suite.map((f) => `${f}\tup-to-date\n`).join('')}migrated: 0 applied, 3 up-to-date\n`,
    );
  });

  it('exits 1 naming the file when an applied file was edited, also on --dry-run', async () => {
    assert.equal((await sluice(['migrate', '--database-url', db.url, '--dir', dir.path])).code, 0);
    appendFileSync(join(dir.path, suite[1]), '\n-- edited\n');
    for (const extra of [[], ['--dry-run']]) {
      const out = await sluice(['migrate', '--database-url', db.url, '--dir', dir.path, ...extra]);
      assert.equal(out.code, 1);
      assert.equal(out.stdout, '');
      assert.match(out.stderr, /^sluice: 0002_readings\.sql was edited after it was applied/);
    }
  });

  it('exits 1 when the database cannot be reached or the directory does not exist', async () => {
    const port = await freePort();
    const down = await sluice([
      'migrate',
      '--database-url',
      `postgres://postgres@127.0.0.1:${port}/x`,
      '--dir',
      dir.path,
    ]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^sluice: .*ECONNREFUSED/);
    const nodir = await sluice(['migrate', '--database-url', db.url, '--dir', join(dir.path, 'nope')]);
    assert.equal(nodir.code, 1);
    assert.match(nodir.stderr, /^sluice: migrations directory .*nope does not exist/);
  });

  it('exits 2 with the usage text without a database, or on an unknown option', async () => {
    const none = await sluice(['migrate', '--dir', dir.path], { DATABASE_URL: '' });
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /^sluice: no database to migrate: pass --database-url or set DATABASE_URL\nUsage: sluice/,
    );
    assert.match(none.stderr, /\n {2}migrate {15}apply pending SQL migrations/);
    const bogus = await sluice(['migrate', '--database-url', db.url, '--bogus']);
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /^sluice: Unknown option '--bogus'/);
  });
});

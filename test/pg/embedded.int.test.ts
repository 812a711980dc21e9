import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { serialize } from 'pg-protocol';
import { SluiceError } from '../../engine/errors.js';
import { startEmbeddedPostgres } from '../../engine/pg/index.js';
import { freePort, tempDir } from '../helpers/broker.js';
import { freshEmbedded, type TestDatabase } from '../helpers/postgres.js';

const root = new URL('../..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw wire-protocol connection, to send a Parse without its Sync as no driver would. */
async function rawClient(port: number): Promise<{ socket: Socket; received(): Buffer; clear(): void }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let got = Buffer.alloc(0);
  socket.on('data', (d) => {
    got = Buffer.concat([got, d]);
  });
  socket.write(serialize.startup({ user: 'postgres', database: 'postgres' }));
  for (let i = 0; i < 100 && !readyForQuery(got); i++) await sleep(20);
  return { socket, received: () => got, clear: () => (got = Buffer.alloc(0)) };
}

/** The backend messages of a reply as [tag, body]. */
function messages(reply: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (let at = 0; at + 5 <= reply.length; at += 1 + reply.readInt32BE(at + 1))
    out.push([String.fromCharCode(reply[at]), reply.subarray(at + 5, at + 1 + reply.readInt32BE(at + 1))]);
  return out;
}
const readyForQuery = (reply: Buffer) => messages(reply).some(([tag]) => tag === 'Z');
/** Names of the first column of every RowDescription. */
const columnNames = (reply: Buffer) =>
  messages(reply)
    .filter(([tag]) => tag === 'T')
    .map(([, body]) => body.toString('utf8', 2, body.indexOf(0, 2)));

describe('embedded PostgreSQL over the wire protocol', () => {
  let db: TestDatabase;
  let port: number;
  before(async () => {
    db = await freshEmbedded();
    port = Number(new URL(db.url).port);
  });
  after(() => db.stop());

  it('gives every pooled connection its own prepared statements', async () => {
    const pool = db.pool(2);
    const [a, b] = [await pool.connect(), await pool.connect()];
    try {
      // Same name, different text: on one shared namespace the second Parse fails with
      // `prepared statement "q" already exists`, or the third reuses the wrong plan.
      assert.deepEqual((await a.query({ name: 'q', text: 'SELECT $1::int AS x', values: [1] })).rows, [
        { x: 1 },
      ]);
      assert.deepEqual((await b.query({ name: 'q', text: 'SELECT $1::int + 100 AS x', values: [2] })).rows, [
        { x: 102 },
      ]);
      assert.deepEqual((await a.query({ name: 'q', text: 'SELECT $1::int AS x', values: [3] })).rows, [
        { x: 3 },
      ]);
    } finally {
      a.release();
      b.release();
    }
  });

  it("never runs another connection's messages inside an extended-query sequence", async () => {
    const a = await rawClient(port);
    const b = await rawClient(port);
    try {
      a.clear();
      b.clear();
      a.socket.write(serialize.parse({ text: 'SELECT 1 AS from_a' }));
      await sleep(100);
      b.socket.write(
        Buffer.concat([
          serialize.parse({ text: 'SELECT 2 AS from_b' }),
          serialize.bind({}),
          serialize.describe({ type: 'P' }),
          serialize.execute({}),
          serialize.sync(),
        ]),
      );
      await sleep(200);
      assert.equal(b.received().length, 0, 'b waits while a is between Parse and Sync');
      a.socket.write(
        Buffer.concat([
          serialize.bind({}),
          serialize.describe({ type: 'P' }),
          serialize.execute({}),
          serialize.sync(),
        ]),
      );
      for (let i = 0; i < 100 && !(readyForQuery(a.received()) && readyForQuery(b.received())); i++)
        await sleep(20);
      assert.deepEqual(columnNames(a.received()), ['from_a']);
      assert.deepEqual(columnNames(b.received()), ['from_b']);
    } finally {
      a.socket.destroy();
      b.socket.destroy();
    }
  });

  it('runs a transaction with no other connection in between, and answers concurrent pools correctly', async () => {
    const pool = db.pool(8);
    await pool.query('CREATE TABLE tx_probe (x int)');
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query('INSERT INTO tx_probe VALUES ($1)', [1]);
      let seen: number | undefined;
      const reader = pool.query('SELECT count(*)::int AS n FROM tx_probe').then((r) => {
        seen = r.rows[0].n;
      });
      await sleep(200);
      assert.equal(seen, undefined, 'the reader waits for the open transaction');
      await writer.query('COMMIT');
      await reader;
      assert.equal(seen, 1);
    } finally {
      writer.release();
    }
    const sums = await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        let wrong = 0;
        for (let i = 0; i < 40; i++) {
          const r = await pool.query(`SELECT $1::int + ${w} AS s${w}`, [i]);
          if (r.rows[0][`s${w}`] !== i + w) wrong++;
        }
        return wrong;
      }),
    );
    assert.deepEqual(sums, [0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('applies each connection’s startup options (search_path) on its turn', async () => {
    const setup = db.pool(1);
    await setup.query(
      "CREATE SCHEMA app_a; CREATE SCHEMA app_b; CREATE TABLE app_a.t (v text); CREATE TABLE app_b.t (v text); INSERT INTO app_a.t VALUES ('a'); INSERT INTO app_b.t VALUES ('b')",
    );
    const pools = ['app_a', 'app_b'].map((schema) => {
      const p = new pg.Pool({ connectionString: db.url, max: 2, options: `-c search_path=${schema}` });
      p.on('error', () => {});
      return p;
    });
    try {
      const seen = await Promise.all(
        Array.from({ length: 20 }, (_, i) => pools[i % 2].query('SELECT v FROM t').then((r) => r.rows[0].v)),
      );
      assert.deepEqual(
        seen,
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'a' : 'b')),
      );
      assert.deepEqual((await setup.query('SHOW search_path')).rows, [{ search_path: 'public' }]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('takes COPY FROM STDIN from concurrent connections, as projections stage batches', async () => {
    const pool = db.pool(3);
    await pool.query('CREATE TABLE copied (id int PRIMARY KEY, writer text)');
    await Promise.all(
      [0, 1, 2].map(async (w) => {
        const c = await pool.connect();
        try {
          await c.query('CREATE TEMP TABLE IF NOT EXISTS copy_stage (id int, writer text)');
          for (let batch = 0; batch < 3; batch++) {
            await c.query('BEGIN');
            const lines = Array.from({ length: 500 }, (_, i) => `${w * 10_000 + batch * 1000 + i}\tw${w}\n`);
            await pipeline(
              Readable.from(lines),
              c.query(copyFrom('COPY copy_stage (id, writer) FROM STDIN')),
            );
            await c.query('INSERT INTO copied SELECT * FROM copy_stage');
            await c.query('TRUNCATE copy_stage');
            await c.query('COMMIT');
          }
        } finally {
          c.release();
        }
      }),
    );
    assert.deepEqual(
      (await pool.query('SELECT writer, count(*)::int AS n FROM copied GROUP BY writer ORDER BY writer'))
        .rows,
      [
        { writer: 'w0', n: 1500 },
        { writer: 'w1', n: 1500 },
        { writer: 'w2', n: 1500 },
      ],
    );
    const c = await pool.connect();
    try {
      await assert.rejects(
        pipeline(Readable.from(['1\tx\n']), c.query(copyFrom('COPY no_such_table FROM STDIN'))),
        /relation "no_such_table" does not exist/,
      );
      const failing = new Readable({
        read() {
          this.push('999999\tlost\n');
          this.destroy(new Error('producer gave up'));
        },
      });
      await assert.rejects(
        pipeline(failing, c.query(copyFrom('COPY copied FROM STDIN'))),
        /producer gave up/,
      );
      assert.deepEqual((await c.query("SELECT count(*)::int AS n FROM copied WHERE writer = 'lost'")).rows, [
        { n: 0 },
      ]);
    } finally {
      c.release();
    }
  });

  it('rolls back the transaction of a connection that goes away, and serves the others', async () => {
    const c = new pg.Client({ connectionString: db.url });
    c.on('error', () => {});
    await c.connect();
    await c.query('CREATE TABLE abandoned (x int)');
    await c.query('BEGIN');
    await c.query('INSERT INTO abandoned VALUES (1)');
    (c as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
    const pool = db.pool(1);
    assert.deepEqual((await pool.query('SELECT count(*)::int AS n FROM abandoned')).rows, [{ n: 0 }]);
    assert.deepEqual((await pool.query("SELECT 'idle' AS state")).rows, [{ state: 'idle' }]);
  });
});

describe('embedded PostgreSQL data directory', () => {
  it('persists across restarts; refuses a second server on the same directory or port', async () => {
    const dir = tempDir('sluice-pg-');
    const dataDir = join(dir.path, 'pg');
    try {
      const first = await startEmbeddedPostgres({ dataDir, port: 0 });
      const c = new pg.Client({ connectionString: first.url });
      await c.connect();
      await c.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')");
      await c.end();
      await assert.rejects(
        startEmbeddedPostgres({ dataDir, port: 0 }),
        (err: unknown) => err instanceof SluiceError && err.code === 'SLUICE_PG_DATA_DIR_LOCKED',
      );
      await assert.rejects(
        startEmbeddedPostgres({ dataDir: join(dir.path, 'other'), port: first.port }),
        (err: unknown) => err instanceof SluiceError && err.code === 'SLUICE_PG_LISTEN',
      );
      await first.close();
      const second = await startEmbeddedPostgres({ dataDir, port: 0 });
      const d = new pg.Client({ connectionString: second.url });
      await d.connect();
      assert.deepEqual((await d.query('SELECT v FROM kept')).rows, [{ v: 'survives' }]);
      await d.end();
      await second.close();
    } finally {
      dir.remove();
    }
  });

  it('`sluice pg` serves until SIGTERM, then exits 0', async () => {
    const dir = tempDir('sluice-pg-');
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'engine/cli.ts',
        'pg',
        '--listen',
        `127.0.0.1:${port}`,
        '--data-dir',
        join(dir.path, 'pg'),
      ],
      { cwd: root, env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' } },
    );
    try {
      let stdout = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      for (let i = 0; i < 600 && !stdout.includes('\n'); i++) await sleep(50);
      const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      assert.equal(stdout, `sluice pg listening on ${url} (data in ${join(dir.path, 'pg')})\n`);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      assert.deepEqual((await c.query('SELECT 40 + 2 AS answer')).rows, [{ answer: 42 }]);
      await c.end();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
      dir.remove();
    }
  });
});

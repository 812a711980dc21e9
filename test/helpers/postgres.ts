import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../engine/pg/index.js';

/** The PostgreSQL service integration tests use; point it at a TimescaleDB to test that path. */
export const serviceUrl = process.env.SLUICE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  url: string;
  /** Pools opened here are ended by stop(). */
  pool(max?: number): pg.Pool;
  stop(): Promise<void>;
}

function tracked(url: string, close: () => Promise<void>): TestDatabase {
  const pools: pg.Pool[] = [];
  return {
    url,
    pool(max = 4) {
      const p = new pg.Pool({ connectionString: url, max });
      p.on('error', () => {}); // an idle client dropped by stop() must not crash the test process
      pools.push(p);
      return p;
    },
    async stop() {
      await Promise.all(pools.map((p) => p.end().catch(() => {})));
      await close();
    },
  };
}

/** A new, empty database on the PostgreSQL service, dropped with its connections on stop. */
export async function freshDatabase(): Promise<TestDatabase> {
  const name = `sluice_test_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: serviceUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serviceUrl);
  url.pathname = `/${name}`;
  return tracked(url.toString(), () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** A new in-memory embedded PostgreSQL (PGlite over the wire protocol) on a free port. */
export async function freshEmbedded(): Promise<TestDatabase> {
  const server = await startEmbeddedPostgres({ dataDir: 'memory://', port: 0 });
  return tracked(server.url, () => server.close());
}

/** Where suites that must hold on both run: the real server and the embedded one, through `pg`. */
export const targets = [
  { name: 'PostgreSQL service', fresh: freshDatabase, embedded: false },
  { name: 'embedded PostgreSQL', fresh: freshEmbedded, embedded: true },
] as const;

/** The TimescaleDB version the service offers, or null: what a first migrate will choose. */
export async function offeredTimescale(db: TestDatabase): Promise<string | null> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const r = await c.query(
      "SELECT coalesce(installed_version, default_version) AS v FROM pg_available_extensions WHERE name = 'timescaledb'",
    );
    return r.rows[0]?.v ?? null;
  } finally {
    await c.end();
  }
}

import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { SluiceError } from '../errors.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { PgWireServer } from './wireServer.js';

export interface EmbeddedPostgresOptions {
  /** Database directory, created when missing; `memory://` keeps it in memory (tests). */
  dataDir?: string;
  host?: string;
  /** 0 picks a free port. Never 5432 by default, so a real PostgreSQL can run beside it. */
  port?: number;
  logger?: Logger;
}

export interface EmbeddedPostgres {
  /** A libpq URL for `pg` (or psql, Grafana): postgres://postgres@host:port/postgres. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  close(): Promise<void>;
}

export const DEFAULT_PG_PORT = 5433;
const LOCK_FILE = 'sluice.pid';
/** Directories this process holds: a pid file naming this process is otherwise stale (pid reuse in containers). */
const heldHere = new Set<string>();

/**
 * PostgreSQL for development and tests with nothing to install: PGlite (PostgreSQL compiled
 * to WebAssembly) persisted under `dataDir`, served over the wire protocol so the engine
 * connects with `pg` exactly as it does to a real server. One backend serves every
 * connection in turn (see wireServer.ts); there is no authentication, so it listens on
 * 127.0.0.1 unless told otherwise.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const dataDir = opts.dataDir ?? '.sluice/pg';
  const host = opts.host ?? '127.0.0.1';
  const wantedPort = opts.port ?? DEFAULT_PG_PORT;
  const log = opts.logger ?? createLogger('pg');
  const inMemory = dataDir.startsWith('memory://');
  const unlock = inMemory ? () => {} : lockDataDir(dataDir);
  let db: PGlite | null = null;
  try {
    db = await PGlite.create({ dataDir });
    const server = new PgWireServer(db, log);
    const port = await server.listen(host, wantedPort);
    const advertised = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const url = `postgres://postgres@${advertised.includes(':') ? `[${advertised}]` : advertised}:${port}/postgres`;
    log.info({ url, dataDir }, 'embedded postgres listening');
    const pglite = db;
    let closed: Promise<void> | null = null;
    return {
      url,
      host: advertised,
      port,
      dataDir,
      close() {
        closed ??= (async () => {
          try {
            await server.close();
            await pglite.close();
          } finally {
            unlock();
          }
        })();
        return closed;
      },
    };
  } catch (err) {
    await db?.close().catch(() => {});
    unlock();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new SluiceError(
        'SLUICE_PG_LISTEN',
        `cannot listen on ${host}:${wantedPort}: address in use (set SLUICE_PG_LISTEN or --listen)`,
        {
          cause: err,
        },
      );
    throw err;
  }
}

/**
 * PGlite does not lock its directory, and two processes writing one data directory corrupt
 * it; a pid file as PostgreSQL's postmaster.pid does, taken over when its process is gone.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = resolve(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      heldHere.add(path);
      return () => {
        heldHere.delete(path);
        rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      const held = holder === process.pid ? heldHere.has(path) : Number.isInteger(holder) && alive(holder);
      if (held)
        throw new SluiceError(
          'SLUICE_PG_DATA_DIR_LOCKED',
          `${dataDir} is in use by process ${holder}; stop it or choose another --data-dir`,
        );
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new SluiceError('SLUICE_PG_DATA_DIR_LOCKED', `cannot lock ${dataDir}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

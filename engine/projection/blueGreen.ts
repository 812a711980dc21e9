import type { Pool, PoolClient } from 'pg';
import type { ProjectionDefinition } from './definition.js';

/**
 * How a read model's versions are served under stable names (views over `<table>_v<N>`), for
 * blue/green rebuilds. The read model owns the SQL; the engine decides when each step runs.
 */
export interface BlueGreen {
  /** The version the stable names show now; null when none was ever swapped in (version 1). */
  liveVersion(pool: Pool): Promise<number | null>;
  /** Work a built version needs outside any transaction before it serves (e.g. rollup refresh). */
  refresh?(pool: Pool, version: number): Promise<void>;
  /** Points the stable names at `version`, inside the caller's transaction. */
  swap(client: PoolClient, version: number): Promise<void>;
  /** Drops a version that no longer serves (refused for the live one). */
  drop(client: PoolClient, version: number): Promise<void>;
}

/** A projection as a pipeline offers it: any version on demand, and how versions are served. */
export interface ServedProjection {
  name: string;
  define(version: number): ProjectionDefinition;
  blueGreen?: BlueGreen;
}

/** The version to run: the live one, or 1 before any swap. */
export async function liveVersion(p: ServedProjection, pool: Pool): Promise<number> {
  return (await p.blueGreen?.liveVersion(pool)) ?? 1;
}

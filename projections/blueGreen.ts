import type { BlueGreen } from '../engine/projection/index.js';

/**
 * Blue/green serving of a read model through the SQL functions of migrations/0100_read_models.sql:
 * the live version is recorded in sluice_read_model_live, sluice_rm_swap repoints the stable
 * views, sluice_rm_refresh materializes TimescaleDB rollups (a procedure: outside transactions),
 * sluice_rm_drop removes a version that no longer serves.
 */
export function readModelBlueGreen(projection: string): BlueGreen {
  return {
    async liveVersion(pool) {
      const { rows } = await pool.query<{ version: number }>(
        'SELECT version FROM sluice_read_model_live WHERE projection = $1',
        [projection],
      );
      return rows[0]?.version ?? null;
    },
    async refresh(pool, version) {
      await pool.query('CALL sluice_rm_refresh($1, $2)', [projection, version]);
    },
    async swap(client, version) {
      await client.query('SELECT sluice_rm_swap($1, $2)', [projection, version]);
    },
    async drop(client, version) {
      await client.query('SELECT sluice_rm_drop($1, $2)', [projection, version]);
    },
  };
}

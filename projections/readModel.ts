import type { PoolClient } from 'pg';
import { SluiceError } from '../engine/errors.js';
import { quoteIdent, type TableResolver } from '../engine/projection/index.js';
import type { TimestampMillis } from '../schemas/generated/events.js';

/** What every read model factory takes besides the registry. */
export interface ReadModelOptions {
  /** The projection version to run (default 1): a rebuild runs version N+1 beside N, then swaps. */
  version?: number;
}

export type ReadModelErrorCode =
  /** The read model's SQL function is missing: `sluice migrate` has not run on this database. */
  | 'SLUICE_READ_MODEL_NOT_MIGRATED'
  /** A definition names its tables other than `<table>_v<version>`, which the SQL functions build. */
  | 'SLUICE_READ_MODEL_TABLE_NAME';

export class ReadModelError extends SluiceError {
  declare readonly code: ReadModelErrorCode;

  constructor(code: ReadModelErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/**
 * The `setup()` of read model `projection`: builds this version's relations with the SQL
 * function its migration defines (`sluice_rm_<projection>(version)`), so the first version and
 * every rebuild are built identically, TimescaleDB hypertables and continuous aggregates
 * included. It runs in the runner's DDL transaction and does nothing for a version already built.
 */
export function buildVersion(
  projection: string,
  version: number,
  tables: readonly string[],
): (client: PoolClient, resolve: TableResolver) => Promise<void> {
  return async (client, resolve) => {
    for (const table of tables) {
      const expected = quoteIdent(`${table}_v${version}`);
      if (resolve(table) !== expected) {
        throw new ReadModelError(
          'SLUICE_READ_MODEL_TABLE_NAME',
          `${projection}: table ${table} resolves to ${resolve(table)}, but sluice_rm_${projection}() builds ${expected}`,
        );
      }
    }
    try {
      await client.query(`SELECT sluice_rm_${projection}($1)`, [version]);
    } catch (err) {
      if ((err as { code?: string }).code !== '42883') throw err; // undefined_function
      throw new ReadModelError(
        'SLUICE_READ_MODEL_NOT_MIGRATED',
        `read model ${projection}: function sluice_rm_${projection}(integer) does not exist; run \`sluice migrate\` on this database first`,
        { cause: err },
      );
    }
  };
}

/** Event times are epoch milliseconds (UTC); timestamptz columns take Dates. */
export function at(ms: TimestampMillis): Date {
  return new Date(ms);
}

export function atOrNull(ms: TimestampMillis | null): Date | null {
  return ms === null ? null : new Date(ms);
}

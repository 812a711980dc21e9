import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type MigrationScript, parseScript } from './directives.js';
import { MigrationError } from './errors.js';

export interface Migration {
  version: number;
  /** The part after the version: `0002_read_models.sql` → `read_models`. */
  name: string;
  file: string;
  /** SHA-256 of the file's bytes, hex: every branch of every conditional counts. */
  checksum: string;
  script: MigrationScript;
}

const FILE_NAME = /^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$/;

/** `0002_read_models.sql`: the form both `migrate` and the table use for a migration. */
export function fileName(version: number, name: string): string {
  return `${String(version).padStart(4, '0')}_${name}.sql`;
}

/**
 * Reads and checks every `NNNN_name.sql` in `dir`, in version order. Other `.sql` names,
 * duplicate versions and malformed markers are refused before anything runs; files that
 * are not `.sql` (README.md) are ignored.
 */
export function loadMigrations(dir: string): Migration[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new MigrationError('SLUICE_MIGRATION_INVALID', `migrations directory ${dir} does not exist`);
  const byVersion = new Map<number, Migration>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_NAME.exec(file);
    const version = m ? Number(m[1]) : 0;
    if (!m || version === 0)
      throw new MigrationError(
        'SLUICE_MIGRATION_INVALID',
        `${file}: a migration is named NNNN_name.sql (version from 0001, name in a-z 0-9 _)`,
        { file },
      );
    const other = byVersion.get(version);
    if (other)
      throw new MigrationError(
        'SLUICE_MIGRATION_INVALID',
        `${file} and ${other.file} have the same version`,
        {
          file,
        },
      );
    const bytes = readFileSync(join(dir, file));
    byVersion.set(version, {
      version,
      name: m[2],
      file,
      checksum: createHash('sha256').update(bytes).digest('hex'),
      script: parseScript(bytes.toString('utf8'), file),
    });
  }
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}

import { parseArgs } from 'node:util';
import { UsageError } from '../cli/usage.js';
import { config } from '../config.js';
import { ABSENT } from './capabilities.js';
import { type MigrationReport, migrate } from './runner.js';

export const migrateUsage = `  migrate               apply pending SQL migrations (NNNN_name.sql) in order, recorded in sluice_migrations
    --database-url URL      PostgreSQL to migrate (default DATABASE_URL)
    --dir DIR               migrations directory (default SLUICE_MIGRATIONS_DIR: the checkout's migrations/)
    --dry-run               print the TimescaleDB path and what would be applied; change nothing`;

/** `sluice migrate`: one line per migration (file, status[, time]), then a summary. */
export async function migrateCommand(argv: string[]): Promise<MigrationReport> {
  const cfg = config();
  const { values } = parseArgs({
    args: argv,
    options: {
      'database-url': { type: 'string' },
      dir: { type: 'string', default: cfg.SLUICE_MIGRATIONS_DIR },
      'dry-run': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const url = values['database-url'] ?? cfg.DATABASE_URL;
  if (!url) throw new UsageError('no database to migrate: pass --database-url or set DATABASE_URL');
  const report = await migrate({ db: url, dir: values.dir, dryRun: values['dry-run'] });
  process.stdout.write(formatReport(report));
  return report;
}

/**
 *   timescaledb   absent
 *   0001_x.sql    up-to-date
 *   0002_y.sql    applied   12 ms
 *   migrated: 1 applied, 1 up-to-date
 */
export function formatReport(r: MigrationReport): string {
  const lines = [`timescaledb\t${r.capabilities.timescaledb ?? ABSENT}`];
  for (const m of r.migrations)
    lines.push(`${m.file}\t${m.status}${m.executionMs === undefined ? '' : `\t${m.executionMs} ms`}`);
  lines.push(summary(r));
  return `${lines.join('\n')}\n`;
}

export function summary(r: MigrationReport): string {
  const count = (s: string) => r.migrations.filter((m) => m.status === s).length;
  return r.dryRun
    ? `dry run: ${count('pending')} pending, ${count('up-to-date')} up-to-date; nothing changed`
    : `migrated: ${count('applied')} applied, ${count('up-to-date')} up-to-date`;
}

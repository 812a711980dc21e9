export { ABSENT, capabilities, type Queryable } from './capabilities.js';
export { migrateCommand, migrateUsage } from './command.js';
export { type Capabilities, parseScript, renderScript } from './directives.js';
export { MigrationError, type MigrationErrorCode } from './errors.js';
export { loadMigrations, type Migration } from './files.js';
export {
  MIGRATION_LOCK_KEY,
  type MigrateOptions,
  type MigrationReport,
  type MigrationStatus,
  migrate,
} from './runner.js';
export { splitStatements } from './statements.js';

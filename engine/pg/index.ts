export { pgCommand, pgUsage } from './command.js';
export {
  DEFAULT_PG_PORT,
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
  startEmbeddedPostgres,
} from './embedded.js';

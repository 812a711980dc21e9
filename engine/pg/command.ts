import { parseArgs } from 'node:util';
import { closeOnSignal, parseHostPort } from '../cli/usage.js';
import { config } from '../config.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded.js';

export const pgUsage = `  pg                    run the embedded PostgreSQL (PGlite over the wire protocol)
    --listen HOST:PORT      listen address (default SLUICE_PG_LISTEN, 127.0.0.1:5433)
    --data-dir DIR          database directory (default SLUICE_DATA_DIR/pg)`;

/** `sluice pg`: starts the embedded PostgreSQL and returns it; it stops on SIGINT/SIGTERM. */
export async function pgCommand(
  argv: string[],
  opts: { exitOnSignal?: boolean } = {},
): Promise<EmbeddedPostgres> {
  const cfg = config();
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string', default: cfg.SLUICE_PG_LISTEN },
      'data-dir': { type: 'string', default: `${cfg.SLUICE_DATA_DIR}/pg` },
    },
    strict: true,
  });
  const { host, port } = parseHostPort(values.listen, '--listen');
  const pg = await startEmbeddedPostgres({ host, port, dataDir: values['data-dir'] });
  process.stdout.write(`sluice pg listening on ${pg.url} (data in ${pg.dataDir})\n`);
  if (opts.exitOnSignal !== false) closeOnSignal(() => pg.close());
  return pg;
}

import { parseArgs } from 'node:util';
import { closeOnSignal, parseHostPort, UsageError } from '../cli/usage.js';
import { type RunningRegistry, startRegistry } from './server.js';

export const registryUsage = `  registry              run the Confluent-compatible schema registry, stored in Kafka
    --listen HOST:PORT      listen address (default 127.0.0.1:8081)
    --bootstrap-server H:P  Kafka to store schemas in, comma-separated (default 127.0.0.1:9092)
    --topic NAME            the compacted topic holding the schemas (default _schemas)`;

/** `sluice registry`: starts the registry and returns it; it stops on SIGINT/SIGTERM. */
export async function registryCommand(
  argv: string[],
  opts: { exitOnSignal?: boolean } = {},
): Promise<RunningRegistry> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string', default: process.env.SLUICE_REGISTRY_LISTEN ?? '127.0.0.1:8081' },
      'bootstrap-server': { type: 'string', default: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' },
      topic: { type: 'string', default: '_schemas' },
    },
    strict: true,
  });
  const { host, port } = parseHostPort(values.listen, '--listen');
  const bootstrapServers = values['bootstrap-server']
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (bootstrapServers.length === 0)
    throw new UsageError('--bootstrap-server expects HOST:PORT[,HOST:PORT...]');
  for (const s of bootstrapServers) parseHostPort(s, '--bootstrap-server');
  const registry = await startRegistry({ host, port, bootstrapServers, topic: values.topic });
  process.stdout.write(`sluice registry listening on ${registry.url}\n`);
  if (opts.exitOnSignal !== false) closeOnSignal(() => registry.close());
  return registry;
}

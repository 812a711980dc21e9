import { parseArgs } from 'node:util';
import { closeOnSignal, parseHostPort, parseKeyValues } from '../cli/usage.js';
import { type Broker, startBroker } from './broker.js';
import type { BrokerConfigInput } from './config.js';

export const brokerUsage = `  broker                run the embedded Kafka broker
    --listen HOST:PORT      listen address (default 127.0.0.1:9092)
    --data-dir DIR          log directory (default .sluice/broker)
    --override KEY=VALUE    any broker setting under its Kafka name, repeatable
                            (e.g. --override num.partitions=6)`;

/** `sluice broker`: starts the broker and returns it; it stops on SIGINT/SIGTERM. */
export async function brokerCommand(argv: string[], opts: { exitOnSignal?: boolean } = {}): Promise<Broker> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string', default: process.env.SLUICE_BROKER_LISTEN ?? '127.0.0.1:9092' },
      'data-dir': { type: 'string', default: process.env.SLUICE_BROKER_DATA_DIR ?? '.sluice/broker' },
      override: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const { host, port } = parseHostPort(values.listen, '--listen');
  const broker = await startBroker({
    host,
    port,
    dataDir: values['data-dir'],
    config: parseKeyValues(values.override, '--override') as BrokerConfigInput,
  });
  process.stdout.write(`sluice broker listening on ${broker.bootstrap} (data in ${values['data-dir']})\n`);
  if (opts.exitOnSignal !== false) closeOnSignal(() => broker.close());
  return broker;
}

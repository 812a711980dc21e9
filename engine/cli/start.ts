import { parseArgs } from 'node:util';
import { brokerCommand } from '../broker/command.js';
import { config } from '../config.js';
import { createCatalogueTopics } from '../console/topics.js';
import { registryCommand } from '../registry/command.js';
import { closeOnSignal } from './usage.js';

export const startUsage = `  start                 run the pipeline on the embedded defaults: broker, schema registry,
                        and the catalogue's topics and schemas (data under SLUICE_DATA_DIR)`;

/** `npm start`: everything a developer needs on one machine, in one process. */
export async function startCommand(argv: string[]): Promise<void> {
  parseArgs({ args: argv, options: {}, strict: true });
  const cfg = config();
  const broker = await brokerCommand(
    ['--listen', cfg.SLUICE_BROKER_LISTEN, '--data-dir', `${cfg.SLUICE_DATA_DIR}/broker`],
    { exitOnSignal: false },
  );
  const registry = await registryCommand(
    ['--listen', cfg.SLUICE_REGISTRY_LISTEN, '--bootstrap-server', broker.bootstrap],
    {
      exitOnSignal: false,
    },
  );
  await createCatalogueTopics({ 'bootstrap-server': broker.bootstrap, 'schema-registry': registry.url });
  process.stdout.write(`sluice is up: Kafka ${broker.bootstrap}, schema registry ${registry.url}\n`);
  closeOnSignal(async () => {
    await registry.close();
    await broker.close();
  });
}

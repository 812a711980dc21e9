import { type Catalogue, loadCatalogue } from '../catalogue/index.js';
import { config } from '../config.js';
import { createKafka } from '../kafka/client.js';
import { RegistryClient } from '../registry/client.js';

/** Options every console tool shares, with kafka-tools names; defaults come from the environment. */
export const commonOptions = {
  'bootstrap-server': { type: 'string' },
  'schema-registry': { type: 'string' },
  'catalogue-dir': { type: 'string' },
} as const;

export interface CommonValues {
  'bootstrap-server'?: string;
  'schema-registry'?: string;
  'catalogue-dir'?: string;
}

export function connect(values: CommonValues) {
  const cfg = config();
  const brokers = (values['bootstrap-server'] ?? cfg.KAFKA_BROKERS).split(',').map((s) => s.trim());
  return {
    kafka: createKafka({ ...cfg, brokers }),
    registry: new RegistryClient({ url: values['schema-registry'] ?? cfg.SCHEMA_REGISTRY_URL }),
  };
}

export function catalogue(values: CommonValues): Catalogue {
  return loadCatalogue(values['catalogue-dir'] ?? config().SLUICE_CATALOGUE_DIR);
}

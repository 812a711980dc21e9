import { Kafka, type KafkaConfig, logLevel, type SASLOptions } from 'kafkajs';
import type { SluiceConfig } from '../config.js';

/**
 * kafkajs wired from configuration: brokers, TLS and SASL for production clusters, the
 * plain embedded broker by default. Everything that talks to Kafka gets its client here.
 */
export function createKafka(
  cfg: Pick<
    SluiceConfig,
    | 'brokers'
    | 'KAFKA_CLIENT_ID'
    | 'KAFKA_SSL'
    | 'KAFKA_SASL_MECHANISM'
    | 'KAFKA_SASL_USERNAME'
    | 'KAFKA_SASL_PASSWORD'
  >,
  overrides: Partial<KafkaConfig> = {},
): Kafka {
  let sasl: SASLOptions | undefined;
  if (cfg.KAFKA_SASL_MECHANISM) {
    sasl = {
      mechanism: cfg.KAFKA_SASL_MECHANISM,
      username: cfg.KAFKA_SASL_USERNAME ?? '',
      password: cfg.KAFKA_SASL_PASSWORD ?? '',
    } as SASLOptions;
  }
  return new Kafka({
    clientId: cfg.KAFKA_CLIENT_ID,
    brokers: cfg.brokers,
    ssl: cfg.KAFKA_SSL,
    sasl,
    logLevel: logLevel.ERROR,
    retry: { retries: 5, initialRetryTime: 100 },
    ...overrides,
  });
}

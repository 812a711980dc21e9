import { z } from 'zod';
import { flag } from '../config.js';
import { type LogConfig, parseCleanupPolicy } from './log/logConfig.js';

/**
 * Broker settings under Kafka's own names (server.properties), with the embedded defaults.
 * Where the embedded broker departs from Kafka's default, the comment says why.
 */
const brokerSchema = z.object({
  'node.id': z.coerce.number().int().min(0).default(0),
  listeners: z.string().default('PLAINTEXT://127.0.0.1:9092'),
  /** Empty: clients are told the bound listen address. */
  'advertised.listeners': z.string().default(''),
  'log.dirs': z.string().default('.sluice/broker'),
  'auto.create.topics.enable': flag.default(true),
  'num.partitions': z.coerce.number().int().min(1).default(3),
  'default.replication.factor': z.coerce.number().int().min(1).default(1),
  /** Kafka's default is 3000; a single-developer broker should not stall every first join. */
  'group.initial.rebalance.delay.ms': z.coerce.number().int().min(0).default(0),
  'group.min.session.timeout.ms': z.coerce.number().int().min(0).default(6000),
  'group.max.session.timeout.ms': z.coerce.number().int().min(0).default(1_800_000),
  'log.retention.ms': z.coerce.number().int().default(604_800_000),
  'log.retention.bytes': z.coerce.number().int().default(-1),
  'log.segment.bytes': z.coerce.number().int().min(1024).default(1_073_741_824),
  'log.roll.ms': z.coerce.number().int().min(1).default(604_800_000),
  'log.cleanup.policy': z.string().default('delete'),
  'log.cleaner.delete.retention.ms': z.coerce.number().int().min(0).default(86_400_000),
  'log.cleaner.backoff.ms': z.coerce.number().int().min(10).default(15_000),
  'log.cleaner.min.cleanable.ratio': z.coerce.number().min(0).max(1).default(0.5),
  'log.retention.check.interval.ms': z.coerce.number().int().min(10).default(300_000),
  'log.index.interval.bytes': z.coerce.number().int().min(0).default(4096),
  /** Kafka leaves flushing to the OS; this broker fsyncs every acknowledged batch by default. */
  'log.flush.interval.messages': z.coerce.number().int().min(1).default(1),
  'log.flush.interval.ms': z.coerce.number().int().min(1).default(Number.MAX_SAFE_INTEGER),
  'message.max.bytes': z.coerce.number().int().min(64).default(1_048_588),
  'socket.request.max.bytes': z.coerce.number().int().min(1024).default(104_857_600),
  'offsets.topic.num.partitions': z.coerce.number().int().min(1).default(1),
  'offsets.topic.segment.bytes': z.coerce.number().int().min(1024).default(104_857_600),
  'offsets.retention.minutes': z.coerce.number().int().min(1).default(10_080),
  'cluster.id': z.string().default('sluice-embedded'),
  'transaction.max.timeout.ms': z.coerce.number().int().min(1).default(900_000),
  'transaction.abort.timed.out.transaction.cleanup.interval.ms': z.coerce
    .number()
    .int()
    .min(10)
    .default(10_000),
});

export type BrokerConfig = z.infer<typeof brokerSchema>;
export type BrokerConfigInput = Partial<Record<keyof BrokerConfig, string | number | boolean>>;

export function parseBrokerConfig(input: BrokerConfigInput = {}): BrokerConfig {
  return brokerSchema.parse(input);
}

/** Topic-level configs a topic may set at CreateTopics, with their broker-level source. */
export const topicConfigDefaults: Record<string, { broker: keyof BrokerConfig | null; fallback: string }> = {
  'cleanup.policy': { broker: 'log.cleanup.policy', fallback: 'delete' },
  'compression.type': { broker: null, fallback: 'producer' },
  'delete.retention.ms': { broker: 'log.cleaner.delete.retention.ms', fallback: '86400000' },
  'file.delete.delay.ms': { broker: null, fallback: '60000' },
  'flush.messages': { broker: 'log.flush.interval.messages', fallback: '1' },
  'flush.ms': { broker: 'log.flush.interval.ms', fallback: String(Number.MAX_SAFE_INTEGER) },
  'index.interval.bytes': { broker: 'log.index.interval.bytes', fallback: '4096' },
  'max.compaction.lag.ms': { broker: null, fallback: String(Number.MAX_SAFE_INTEGER) },
  'max.message.bytes': { broker: 'message.max.bytes', fallback: '1048588' },
  'message.timestamp.type': { broker: null, fallback: 'CreateTime' },
  'min.cleanable.dirty.ratio': { broker: 'log.cleaner.min.cleanable.ratio', fallback: '0.5' },
  'min.compaction.lag.ms': { broker: null, fallback: '0' },
  'min.insync.replicas': { broker: null, fallback: '1' },
  'retention.bytes': { broker: 'log.retention.bytes', fallback: '-1' },
  'retention.ms': { broker: 'log.retention.ms', fallback: '604800000' },
  'segment.bytes': { broker: 'log.segment.bytes', fallback: '1073741824' },
  'segment.ms': { broker: 'log.roll.ms', fallback: '604800000' },
  'unclean.leader.election.enable': { broker: null, fallback: 'false' },
};

export class InvalidTopicConfigError extends Error {
  override name = 'InvalidTopicConfigError';
}

/** Validates topic overrides; unknown names and bad values are rejected as Kafka does. */
export function validateTopicConfigs(overrides: Record<string, string>): void {
  for (const [name, value] of Object.entries(overrides)) {
    if (!(name in topicConfigDefaults))
      throw new InvalidTopicConfigError(`Unknown topic config name: ${name}`);
    if (name === 'cleanup.policy') {
      const parts = value.split(',').map((s) => s.trim());
      if (parts.length === 0 || parts.some((p) => p !== 'delete' && p !== 'compact')) {
        throw new InvalidTopicConfigError(`Invalid value ${value} for configuration cleanup.policy`);
      }
    } else if (name === 'compression.type') {
      if (!['producer', 'uncompressed', 'gzip', 'snappy', 'lz4', 'zstd'].includes(value)) {
        throw new InvalidTopicConfigError(`Invalid value ${value} for configuration compression.type`);
      }
    } else if (name === 'message.timestamp.type') {
      if (value !== 'CreateTime') {
        throw new InvalidTopicConfigError(
          'message.timestamp.type: only CreateTime is supported by this broker',
        );
      }
    } else if (name !== 'unclean.leader.election.enable' && !Number.isFinite(Number(value))) {
      throw new InvalidTopicConfigError(`Invalid value ${value} for configuration ${name}: not a number`);
    }
  }
}

/** Effective value of every topic config: the topic's override, else the broker's, else Kafka's default. */
export function effectiveTopicConfigs(
  broker: BrokerConfig,
  overrides: Record<string, string>,
): Record<string, { value: string; source: 'topic' | 'broker' | 'default' }> {
  const out: Record<string, { value: string; source: 'topic' | 'broker' | 'default' }> = {};
  for (const [name, def] of Object.entries(topicConfigDefaults)) {
    if (name in overrides) out[name] = { value: overrides[name], source: 'topic' };
    else if (def.broker) {
      const value = String(broker[def.broker]);
      out[name] = { value, source: value === def.fallback ? 'default' : 'broker' };
    } else out[name] = { value: def.fallback, source: 'default' };
  }
  return out;
}

export function toLogConfig(effective: Record<string, { value: string }>): LogConfig {
  const n = (k: string) => Number(effective[k].value);
  return {
    cleanupPolicy: parseCleanupPolicy(effective['cleanup.policy'].value),
    retentionMs: n('retention.ms'),
    retentionBytes: n('retention.bytes'),
    segmentBytes: n('segment.bytes'),
    segmentMs: n('segment.ms'),
    deleteRetentionMs: n('delete.retention.ms'),
    indexIntervalBytes: n('index.interval.bytes'),
    maxMessageBytes: n('max.message.bytes'),
    flushMessages: n('flush.messages'),
    flushMs: n('flush.ms'),
    minCleanableDirtyRatio: n('min.cleanable.dirty.ratio'),
  };
}

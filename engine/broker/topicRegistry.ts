import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  type BrokerConfig,
  effectiveTopicConfigs,
  InvalidTopicConfigError,
  toLogConfig,
  validateTopicConfigs,
} from './config.js';
import { writeFileAtomically } from './log/files.js';
import { PartitionLog } from './log/partitionLog.js';

export interface TopicMeta {
  name: string;
  id: string;
  partitions: number;
  configs: Record<string, string>;
  internal: boolean;
}

export class TopicError extends Error {
  constructor(
    message: string,
    readonly kind:
      | 'exists'
      | 'invalid-name'
      | 'invalid-partitions'
      | 'invalid-replication'
      | 'invalid-config'
      | 'unknown',
  ) {
    super(message);
  }
}

const META_FILE = 'topics.json';
const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
const LEGAL_TOPIC = /^[a-zA-Z0-9._-]+$/;

/**
 * Topics, their configs and their partition logs, as Kafka's LogManager plus the part of
 * the controller a single node needs. Topic metadata is one small JSON file rewritten
 * atomically; partition directories are `<topic>-<partition>` as in Kafka.
 */
export class TopicRegistry {
  private topics = new Map<string, TopicMeta>();
  private logs = new Map<string, PartitionLog[]>();
  private timers: NodeJS.Timeout[] = [];

  private constructor(
    readonly dataDir: string,
    readonly config: BrokerConfig,
    private readonly log: Logger,
  ) {}

  static open(dataDir: string, config: BrokerConfig, log: Logger): TopicRegistry {
    mkdirSync(dataDir, { recursive: true });
    const reg = new TopicRegistry(dataDir, config, log);
    const cleanFile = join(dataDir, CLEAN_SHUTDOWN_FILE);
    const clean = existsSync(cleanFile);
    rmSync(cleanFile, { force: true });
    const metaPath = join(dataDir, META_FILE);
    const metas: TopicMeta[] = existsSync(metaPath) ? JSON.parse(readFileSync(metaPath, 'utf8')) : [];
    for (const meta of metas) {
      reg.topics.set(meta.name, meta);
      reg.logs.set(meta.name, []);
      for (let p = 0; p < meta.partitions; p++) reg.openLog(meta, p, clean);
    }
    // Directories of topics deleted before a crash finished removing them.
    for (const name of readdirSync(dataDir)) {
      const m = /^(.*)-(\d+)$/.exec(name);
      if (m && !reg.topics.has(m[1])) rmSync(join(dataDir, name), { recursive: true, force: true });
    }
    reg.startTimers();
    return reg;
  }

  private openLog(meta: TopicMeta, partition: number, clean: boolean): PartitionLog {
    const logConfig = toLogConfig(effectiveTopicConfigs(this.config, meta.configs));
    const { log, truncatedBytes } = PartitionLog.open(
      join(this.dataDir, `${meta.name}-${partition}`),
      meta.name,
      partition,
      logConfig,
      clean,
    );
    if (truncatedBytes > 0) {
      this.log.warn({ topic: meta.name, partition, truncatedBytes }, 'truncated a torn log tail');
    }
    this.logs.get(meta.name)![partition] = log;
    return log;
  }

  private saveMeta(): void {
    writeFileAtomically(join(this.dataDir, META_FILE), JSON.stringify([...this.topics.values()], null, 2));
  }

  private startTimers(): void {
    const retention = setInterval(
      () => this.runRetention(Date.now()),
      this.config['log.retention.check.interval.ms'],
    );
    const cleaner = setInterval(() => this.runCleaner(Date.now()), this.config['log.cleaner.backoff.ms']);
    retention.unref();
    cleaner.unref();
    this.timers.push(retention, cleaner);
  }

  runRetention(now: number): void {
    for (const logs of this.logs.values()) {
      for (const l of logs) {
        const removed = l.enforceRetention(now);
        if (removed > 0)
          this.log.info({ topic: l.topic, partition: l.partition, removed }, 'retention removed segments');
      }
    }
  }

  runCleaner(now: number): void {
    for (const logs of this.logs.values()) {
      for (const l of logs) {
        try {
          const { recordsRemoved } = l.compact(now);
          if (recordsRemoved > 0) {
            this.log.info({ topic: l.topic, partition: l.partition, recordsRemoved }, 'compacted');
          }
        } catch (err) {
          this.log.error({ topic: l.topic, partition: l.partition, err }, 'log cleaner failed; will retry');
        }
      }
    }
  }

  get(name: string): TopicMeta | undefined {
    return this.topics.get(name);
  }

  all(): TopicMeta[] {
    return [...this.topics.values()];
  }

  partitionLog(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(topic)?.[partition];
  }

  partitionLogs(topic: string): PartitionLog[] {
    return this.logs.get(topic) ?? [];
  }

  static validateName(name: string): void {
    if (name.length === 0 || name.length > 249 || name === '.' || name === '..' || !LEGAL_TOPIC.test(name)) {
      throw new TopicError(
        `Topic name "${name}" is illegal: use 1-249 of [a-zA-Z0-9._-], and not "." or ".."`,
        'invalid-name',
      );
    }
  }

  /** Checks a CreateTopics entry without creating anything (validate_only uses it alone). */
  validateCreate(
    name: string,
    partitions: number,
    replicationFactor: number,
    configs: Record<string, string>,
  ): number {
    TopicRegistry.validateName(name);
    if (this.topics.has(name)) throw new TopicError(`Topic '${name}' already exists.`, 'exists');
    const count = partitions === -1 ? this.config['num.partitions'] : partitions;
    if (count < 1) throw new TopicError('Number of partitions must be larger than 0.', 'invalid-partitions');
    const rf = replicationFactor === -1 ? this.config['default.replication.factor'] : replicationFactor;
    if (rf !== 1) {
      throw new TopicError(
        `Replication factor: ${rf} larger than available brokers: 1.`,
        'invalid-replication',
      );
    }
    try {
      validateTopicConfigs(configs);
    } catch (err) {
      if (err instanceof InvalidTopicConfigError) throw new TopicError(err.message, 'invalid-config');
      throw err;
    }
    return count;
  }

  create(
    name: string,
    partitions: number,
    configs: Record<string, string> = {},
    internal = false,
  ): TopicMeta {
    const count = this.validateCreate(name, partitions, -1, configs);
    const meta: TopicMeta = { name, id: randomUUID(), partitions: count, configs, internal };
    this.topics.set(name, meta);
    this.logs.set(name, []);
    for (let p = 0; p < count; p++) this.openLog(meta, p, true);
    this.saveMeta();
    this.log.info({ topic: name, partitions: count }, 'created topic');
    return meta;
  }

  delete(name: string): void {
    const meta = this.topics.get(name);
    if (!meta) throw new TopicError(`Topic '${name}' does not exist.`, 'unknown');
    this.topics.delete(name);
    this.saveMeta();
    for (const l of this.logs.get(name) ?? []) l.destroy();
    this.logs.delete(name);
    this.log.info({ topic: name }, 'deleted topic');
  }

  addPartitions(name: string, count: number, validateOnly: boolean): void {
    const meta = this.topics.get(name);
    if (!meta) throw new TopicError(`Topic '${name}' does not exist.`, 'unknown');
    if (count <= meta.partitions) {
      throw new TopicError(
        `Topic currently has ${meta.partitions} partitions, which is higher than the requested ${count}.`,
        'invalid-partitions',
      );
    }
    if (validateOnly) return;
    for (let p = meta.partitions; p < count; p++) this.openLog(meta, p, true);
    meta.partitions = count;
    this.saveMeta();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const logs of this.logs.values()) await Promise.all(logs.map((l) => l.close()));
    writeFileAtomically(join(this.dataDir, CLEAN_SHUTDOWN_FILE), String(Date.now()));
  }
}

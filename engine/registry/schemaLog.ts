import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, {
  type Admin,
  type Batch,
  type Consumer,
  Kafka,
  logLevel,
  Partitioners,
  type Producer,
} from 'kafkajs';
import type { Logger } from '../observability/logger.js';
import { parseAvro } from './canonicalForm.js';
import { RegistryError } from './errors.js';
import { decodeRecord, NOOP_KEY, type OutRecord, tombstone } from './records.js';
import { RegistryState } from './state.js';

export interface SchemaLogOptions {
  bootstrapServers: string[];
  topic: string;
  logger: Logger;
  /** How long a write, or a catch-up, may wait for the log before failing with 50002. */
  timeoutMs?: number;
  clientId?: string;
}

/** What a write wants appended, computed from a caught-up state. */
export interface WritePlan<T> {
  result: T;
  /** Appended together; records with `verdict` may be rejected by the state machine. */
  records?: OutRecord[];
  /** Appended only once `records` were all accepted. */
  followUp?: OutRecord[];
}

const MAX_ATTEMPTS = 25;

interface Waiter {
  offset: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

function kafkaLogger(logger: Logger) {
  return () =>
    ({ namespace, level, log }: { namespace: string; level: number; log: { message: string } }) => {
      const { message, ...extra } = log;
      if (level <= logLevel.ERROR) logger.error({ namespace, ...extra }, message);
      else if (level === logLevel.WARN) logger.warn({ namespace, ...extra }, message);
      else logger.debug({ namespace, ...extra }, message);
    };
}

/**
 * The `_schemas` topic as the registry's store and sequencer. Every instance tails the single
 * partition and folds it into a RegistryState; writes go through the log (see README.md):
 * catch up, plan against the caught-up state, append, read the append back, and retry if the
 * state machine rejected it because another instance's record landed first.
 */
export class SchemaLog {
  readonly state = new RegistryState((schema) => {
    try {
      return parseAvro(schema).canonical;
    } catch {
      return undefined;
    }
  });
  private position = 0;
  private waiters: Waiter[] = [];
  private readonly verdicts = new Map<string, boolean | undefined>();
  private writeChain: Promise<unknown> = Promise.resolve();
  private catchingUp: Promise<void> | null = null;
  private queuedCatchUp: Promise<void> | null = null;
  private closed = false;
  private readonly timeoutMs: number;
  /** The Kafka cluster's id, for GET /v1/metadata/id. */
  clusterId = '';

  private constructor(
    private readonly opts: SchemaLogOptions,
    private readonly admin: Admin,
    private readonly producer: Producer,
    private readonly consumer: Consumer,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** Connects, creates the topic if missing, and returns once caught up with the log's end. */
  static async open(opts: SchemaLogOptions): Promise<SchemaLog> {
    const kafka = new Kafka({
      clientId: opts.clientId ?? 'sluice-registry',
      brokers: opts.bootstrapServers,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogger(opts.logger),
      retry: { retries: 8, initialRetryTime: 100 },
    });
    const admin = kafka.admin();
    const producer = kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    const consumer = kafka.consumer({
      groupId: `sluice-registry-${randomUUID()}`,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
    });
    const log = new SchemaLog(opts, admin, producer, consumer);
    try {
      await admin.connect();
      log.clusterId = (await admin.describeCluster()).clusterId;
      await log.ensureTopic();
      await producer.connect();
      await consumer.connect();
      await consumer.subscribe({ topics: [opts.topic], fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => log.onBatch(batch) });
      // The first read goes through the whole topic: give it longer than a write.
      await log.waitFor(
        await log.produce([{ key: NOOP_KEY, value: null }]),
        Math.max(log.timeoutMs, 120_000),
      );
      await log.dropRejected();
    } catch (err) {
      await log.close().catch(() => {});
      throw err;
    }
    return log;
  }

  private async ensureTopic(): Promise<void> {
    const { topic, logger } = this.opts;
    const created = await this.admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    });
    if (created) logger.info({ topic }, 'created the schemas topic');
    const meta = await this.admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = meta.topics[0]?.partitions.length ?? 0;
    if (partitions !== 1) {
      throw RegistryError.store(
        `The schemas topic ${topic} must have exactly 1 partition, it has ${partitions}`,
      );
    }
    const described = await this.admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }],
    });
    const policy = described.resources[0]?.configEntries.find((c) => c.configName === 'cleanup.policy');
    if (policy && policy.configValue !== 'compact') {
      logger.warn({ topic, policy: policy.configValue }, 'the schemas topic is not compacted-only');
    }
  }

  private onBatch(batch: Batch): void {
    for (const m of batch.messages) {
      const offset = Number(m.offset);
      if (offset < this.position || m.key === null) continue;
      const key = m.key.toString('utf8');
      const record = decodeRecord(key, m.value === null ? null : m.value.toString('utf8'));
      if (record === undefined) {
        this.opts.logger.warn({ topic: batch.topic, offset, key }, 'ignoring an unrecognised record');
        continue;
      }
      let accepted = false;
      try {
        accepted = this.state.apply(offset, key, record);
      } catch (err) {
        this.opts.logger.error({ topic: batch.topic, offset, key, err }, 'could not apply a record; ignored');
      }
      if (this.verdicts.has(key) && this.verdicts.get(key) === undefined) this.verdicts.set(key, accepted);
    }
    this.position = Math.max(this.position, Number(batch.lastOffset()) + 1);
    this.waiters = this.waiters.filter((w) => {
      if (w.offset >= this.position) return true;
      clearTimeout(w.timer);
      w.resolve();
      return false;
    });
  }

  /** Resolves once every record up to and including `offset` has been applied. */
  private waitFor(offset: number, timeoutMs = this.timeoutMs): Promise<void> {
    if (offset < this.position) return Promise.resolve();
    if (this.closed) return Promise.reject(RegistryError.store('The schema registry is shutting down'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(RegistryError.timeout(`Timed out after ${timeoutMs} ms reading the schemas topic back`));
      }, timeoutMs);
      this.waiters.push({ offset, resolve, reject, timer });
    });
  }

  private async produce(records: OutRecord[]): Promise<number> {
    const request = randomUUID();
    try {
      const [meta] = await this.producer.send({
        topic: this.opts.topic,
        acks: -1,
        timeout: this.timeoutMs,
        messages: records.map((r) => ({
          partition: 0,
          key: r.key,
          value: r.value,
          headers: { 'sluice.request': request },
        })),
      });
      return Number(meta.baseOffset) + records.length - 1;
    } catch (err) {
      throw RegistryError.store(
        `Write to the schemas topic failed: ${err instanceof Error ? err.message : err}`,
        err,
      );
    }
  }

  /**
   * Returns once this instance has applied everything appended to the log before the call:
   * appends a NOOP (as Confluent's store does) and reads up to it. Concurrent callers share the
   * next round trip.
   */
  catchUp(): Promise<void> {
    if (this.queuedCatchUp) return this.queuedCatchUp;
    const start = (): Promise<void> => {
      this.queuedCatchUp = null;
      const run = this.produce([{ key: NOOP_KEY, value: null }])
        .then((offset) => this.waitFor(offset))
        .finally(() => {
          if (this.catchingUp === run) this.catchingUp = null;
        });
      this.catchingUp = run;
      return run;
    };
    if (!this.catchingUp) return start();
    this.queuedCatchUp = this.catchingUp.catch(() => {}).then(start);
    return this.queuedCatchUp;
  }

  /**
   * Runs a write through the log. `plan` sees a state caught up with the log (it may throw a
   * RegistryError to refuse the request); its records are appended and read back. If the state
   * machine rejected one because a concurrent writer got there first, the loser tombstones its
   * dead record and plans again against the state that now includes the winner.
   */
  write<T>(plan: (state: RegistryState) => WritePlan<T>): Promise<T> {
    const run = async (): Promise<T> => {
      await this.catchUp();
      for (let attempt = 1; ; attempt++) {
        const p = plan(this.state);
        const records = p.records ?? [];
        if (records.length === 0) return p.result;
        const watched = records.filter((r) => r.verdict).map((r) => r.key);
        for (const key of watched) this.verdicts.set(key, undefined);
        let rejected: string[];
        try {
          await this.waitFor(await this.produce(records));
          rejected = watched.filter((key) => this.verdicts.get(key) === false);
        } finally {
          for (const key of watched) this.verdicts.delete(key);
        }
        if (rejected.length === 0) {
          if (p.followUp?.length) await this.waitFor(await this.produce(p.followUp));
          return p.result;
        }
        if (attempt >= MAX_ATTEMPTS) {
          await this.produce(rejected.map(tombstone));
          throw RegistryError.store(`Gave up after ${attempt} attempts lost to concurrent writers`);
        }
        this.opts.logger.info(
          { topic: this.opts.topic, attempt },
          'a concurrent write landed first; retrying',
        );
        // Back off a little (writers in lockstep keep colliding), then drop the dead record and
        // read up to the drop: a catch-up, so the next plan sees what landed meanwhile.
        await sleep(Math.random() * Math.min(50, 5 * attempt));
        await this.waitFor(await this.produce(rejected.map(tombstone)));
      }
    };
    const result = this.writeChain.then(run, run);
    this.writeChain = result.catch(() => {});
    return result;
  }

  /** Tombstones records the state machine rejected and whose writers did not (crashed mid-write). */
  private async dropRejected(): Promise<void> {
    const rejected = this.state.rejectedKeys();
    if (rejected.length === 0) return;
    this.opts.logger.info({ topic: this.opts.topic, count: rejected.length }, 'removing rejected records');
    await this.waitFor(await this.produce(rejected.map(tombstone)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(RegistryError.store('The schema registry is shutting down'));
    }
    this.waiters = [];
    await Promise.allSettled([
      this.consumer.disconnect(),
      this.producer.disconnect(),
      this.admin.disconnect(),
    ]);
  }
}

import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { AvroSerializer } from '../codec/index.js';
import { createLogger } from '../observability/logger.js';
import type { DeadLetterValue } from '../topology/index.js';
import { BatchWriter, type PartitionRange, type WriteBatch } from './batchWriter.js';
import { createEngineTables, ensureCheckpoints, tpKey, withDdlLock } from './checkpoints.js';
import {
  type ProjectionDefinition,
  type ProjectionSource,
  tableResolver,
  validateDefinition,
} from './definition.js';
import { ProjectionError } from './errors.js';
import {
  type Assignment,
  logStartOffsets,
  prepareSourceTopics,
  sendDeadLetters,
  waitWithHeartbeats,
} from './kafkaSide.js';
import { observeBatch, type ProjectionMetrics, projectionMetrics } from './metrics.js';
import { type ConsumedRecord, prepareEvents } from './prepare.js';
import { retrying } from './retry.js';
import { type CopyFormat, TargetWriter, type WriteMode } from './targetWriter.js';

export interface ProjectionRunnerOptions {
  definition: ProjectionDefinition;
  kafka: Kafka;
  pool: Pool;
  /** Encodes dead letters: built on the catalogue's `sluice.platform.DeadLetterRecorded` schema. */
  deadLetterSerializer: AvroSerializer<DeadLetterValue>;
  /** A batch is written once it holds this many events (default 10,000)... */
  maxBatchEvents?: number;
  /** ...or once its first event has waited this long (default 200 ms). */
  maxBatchWaitMs?: number;
  /** Bulk write path (default `auto`: unnest for small batches, COPY + merge for large; see TargetWriter). */
  writeMode?: WriteMode;
  /** COPY's data format (default `auto`: binary where exact, see TargetWriter). */
  copyFormat?: CopyFormat;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Also commit the SQL checkpoints to Kafka (at most once a second) for lag tooling; default true. */
  commitToKafka?: boolean;
  logger?: Logger;
  metrics?: ProjectionMetrics;
  /** Called once if the runner stops on its own (a fatal write error, a consumer crash). */
  onError?(err: Error): void;
  /**
   * Awaited after the setup (DDL, topics, producer, consumer connected and subscribed) and right
   * before the consumer joins the group. ProjectionThreads holds every thread here so that all
   * join at once (one rebalance).
   */
  beforeJoin?: () => Promise<void>;
}

/** Records consumed but not yet written, and the offset ranges they cover per partition. */
class Pending {
  records: ConsumedRecord[] = [];
  ranges = new Map<string, PartitionRange>();

  add(topic: string, partition: number, from: number, next: number): PartitionRange {
    const key = tpKey(topic, partition);
    let r = this.ranges.get(key);
    if (!r) this.ranges.set(key, (r = { topic, partition, from, next }));
    r.next = next;
    return r;
  }
}

/**
 * Runs one projection version: a kafkajs consumer group `sluice-projection-<name>-v<version>`,
 * events batched across partitions by count and time, each batch's rows and its offsets
 * committed in one SQL transaction (see BatchWriter). Positions come from the SQL checkpoints,
 * never from Kafka's committed offsets: on every assignment the partitions are paused before
 * kafkajs' first fetch, sought to their checkpoints, then resumed.
 */
export class ProjectionRunner {
  readonly groupId: string;
  private readonly def: ProjectionDefinition;
  private readonly log: Logger;
  private readonly metrics: ProjectionMetrics;
  private readonly labels: { projection: string; version: string };
  private readonly sources: Map<string, ProjectionSource>;
  private readonly targetNames: Set<string>;
  private readonly writer: BatchWriter;
  private readonly maxEvents: number;
  private readonly maxWaitMs: number;
  private readonly tables;
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  private admin: Admin | null = null;
  /** Next offset to buffer per partition; absent while the partition is being sought. */
  private positions = new Map<string, number>();
  private highWatermarks = new Map<string, number>();
  /** Committed SQL checkpoints of this instance's partitions, mirrored to Kafka for lag tooling. */
  private checkpoints = new Map<string, number>();
  private gaps = new Map<string, number>();
  private pending = new Pending();
  private timer: NodeJS.Timeout | null = null;
  private writeChain: Promise<void> = Promise.resolve();
  private assignment: Assignment = [];
  private generation = 0;
  private heartbeat: (() => Promise<void>) | null = null;
  private lastKafkaCommit = 0;
  private failure: Error | null = null;
  private stopping = false;

  private constructor(private readonly opts: ProjectionRunnerOptions) {
    this.def = opts.definition;
    validateDefinition(this.def);
    this.groupId = `sluice-projection-${this.def.name}-v${this.def.version}`;
    this.log = (opts.logger ?? createLogger('projection')).child({
      projection: this.def.name,
      version: this.def.version,
    });
    this.metrics = opts.metrics ?? projectionMetrics();
    this.labels = { projection: this.def.name, version: String(this.def.version) };
    this.sources = new Map(this.def.sources.map((s) => [s.topic, s]));
    this.targetNames = new Set(Object.keys(this.def.targets));
    this.maxEvents = opts.maxBatchEvents ?? 10_000;
    this.maxWaitMs = opts.maxBatchWaitMs ?? 200;
    this.tables = tableResolver(this.def);
    const writers = new Map(
      Object.entries(this.def.targets).map(([name, t]) => [
        name,
        new TargetWriter(name, t, this.tables(t.table), opts.copyFormat),
      ]),
    );
    this.writer = new BatchWriter({
      pool: opts.pool,
      projection: this.def.name,
      version: this.def.version,
      writers,
      mode: opts.writeMode ?? 'auto',
      deadLetter: (poisons) =>
        sendDeadLetters(
          this.producer!,
          opts.deadLetterSerializer,
          this.groupId,
          poisons.map((p) => ({ ...p.event, poison: p.poison })),
        ),
      log: this.log,
      onRetry: () => this.metrics.retries.inc(this.labels),
      isStopping: () => this.stopping,
    });
  }

  static async start(opts: ProjectionRunnerOptions): Promise<ProjectionRunner> {
    const runner = new ProjectionRunner(opts);
    try {
      await runner.run();
    } catch (err) {
      await runner.close().catch(() => {});
      throw err;
    }
    return runner;
  }

  /** Why the runner stopped on its own; null while it runs. */
  get error(): Error | null {
    return this.failure;
  }

  private async run(): Promise<void> {
    const { kafka, pool } = this.opts;
    await withDdlLock(pool, async (client) => {
      await createEngineTables(client);
      await this.def.setup?.(client, this.tables);
    });
    await this.opts.deadLetterSerializer.schemaId();
    this.admin = kafka.admin();
    await this.admin.connect();
    await prepareSourceTopics(this.admin, [...this.sources.keys()]);
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
    const consumer = kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: this.opts.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: this.opts.heartbeatIntervalMs ?? 1000,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: 2 << 20,
      readUncommitted: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) =>
      this.onAssigned(
        Object.entries(payload.memberAssignment).map(([topic, partitions]) => ({ topic, partitions })),
      ),
    );
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      // A fetch of only transaction markers or aborted records never reaches eachBatch: step over it.
      if (payload.batchSize !== 0) return;
      const key = tpKey(payload.topic, payload.partition);
      const pos = this.positions.get(key);
      if (pos === undefined || Number(payload.firstOffset) < pos) return;
      this.positions.set(key, Number(payload.lastOffset) + 1);
      this.pending.add(payload.topic, payload.partition, pos, Number(payload.lastOffset) + 1);
      this.armTimer();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.fail(payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.sources.keys()], fromBeginning: true });
    await this.opts.beforeJoin?.();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /**
   * A new assignment (kafkajs emits GROUP_JOIN synchronously, before its fetch loop starts):
   * pause every assigned partition now, so nothing is fetched from Kafka's committed offsets;
   * drop what was buffered (it is refetched); seek to the SQL checkpoints; resume.
   */
  private onAssigned(assignment: Assignment): void {
    const generation = ++this.generation;
    this.metrics.assignments.inc(this.labels);
    this.assignment = assignment;
    this.positions.clear();
    this.checkpoints.clear();
    this.pending = new Pending();
    this.clearTimer();
    if (assignment.length === 0) return;
    this.consumer!.pause(assignment);
    void this.seekToCheckpoints(generation, assignment).catch((err) => this.fail(err));
  }

  private async seekToCheckpoints(generation: number, assignment: Assignment): Promise<void> {
    // Writes in flight may still advance these partitions' checkpoints: read after them.
    await this.writeChain;
    const starts = await this.retrying('reading log start offsets', () =>
      logStartOffsets(this.admin!, assignment),
    );
    const checkpoints = await this.retrying('reading checkpoints', () =>
      ensureCheckpoints(this.opts.pool, this.def.name, this.def.version, starts),
    );
    if (generation !== this.generation || this.stopping) return;
    for (const { topic, partition } of starts) {
      const next = checkpoints.get(tpKey(topic, partition))!;
      this.consumer!.seek({ topic, partition, offset: String(next) });
      this.positions.set(tpKey(topic, partition), next);
    }
    this.log.info(
      {
        partitions: starts.map(
          (s) => `${s.topic}-${s.partition}@${checkpoints.get(tpKey(s.topic, s.partition))}`,
        ),
      },
      'assigned; resuming from the SQL checkpoints',
    );
    this.consumer!.resume(assignment);
  }

  private async onBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    this.heartbeat = heartbeat;
    if (this.failure || this.stopping || !isRunning() || isStale()) return;
    const { topic, partition } = batch;
    const key = tpKey(topic, partition);
    const pos = this.positions.get(key);
    if (pos === undefined) return; // being sought to its checkpoint; this batch predates the seek
    const fetched = Number((batch as { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset());
    if (fetched > pos) {
      // Fetched past the position: events would be skipped. Seek back, and stop if it persists.
      const gaps = (this.gaps.get(key) ?? 0) + 1;
      this.gaps.set(key, gaps);
      this.log.warn(
        { topic, partition, offset: pos, fetched },
        'fetch position ahead of the checkpoint; seeking back',
      );
      if (gaps > 5) {
        this.fail(
          new ProjectionError(
            'SLUICE_PROJECTION_CHECKPOINT_MOVED',
            `${topic}-${partition}: cannot fetch from offset ${pos} (log truncated below the checkpoint?)`,
          ),
        );
        return;
      }
      this.consumer!.seek({ topic, partition, offset: String(pos) });
      return;
    }
    this.gaps.delete(key);
    const batchNext = Number(batch.lastOffset()) + 1;
    if (batchNext <= pos) return;
    this.highWatermarks.set(key, Number(batch.highWatermark));
    const messages = fetched < pos ? batch.messages.filter((m) => Number(m.offset) >= pos) : batch.messages;
    const generation = this.generation;
    // A fetch can hold far more than a batch: cut it, so no batch exceeds maxEvents.
    let from = 0;
    let at = pos;
    do {
      const take = messages.slice(from, from + Math.max(1, this.maxEvents - this.pending.records.length));
      from += take.length;
      // The last piece also steps over trailing transaction markers (batch.lastOffset covers them).
      const next = from >= messages.length ? batchNext : Number(take.at(-1)!.offset) + 1;
      this.pending.add(topic, partition, at, next);
      for (const message of take) this.pending.records.push({ topic, partition, message });
      this.positions.set(key, next);
      resolveOffset(String(next - 1));
      at = next;
      if (this.pending.records.length < this.maxEvents) break;
      // Full: hand it to the writer, and wait for the previous batch only, so one write is always in flight.
      const previous = this.writeChain;
      this.flush();
      await this.withHeartbeats(previous);
      if (generation !== this.generation || this.stopping || this.failure || !isRunning() || isStale())
        return;
    } while (from < messages.length);
    this.armTimer();
  }

  private armTimer(): void {
    if (this.timer || this.pending.ranges.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.maxWaitMs);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Queues the pending batch: decoding starts now, the write after the writes before it. */
  private flush(): Promise<void> {
    this.clearTimer();
    if (this.pending.ranges.size === 0 || this.failure) return this.writeChain;
    const batch = this.pending;
    this.pending = new Pending();
    const prepared = this.retrying('decoding a batch', async () => {
      const events = await prepareEvents(batch.records, this.sources, this.targetNames, this.tables);
      return { events, encoded: await this.writer.encode(events) };
    });
    prepared.catch(() => {}); // reported through the chain below
    this.writeChain = this.writeChain
      .then(async () => {
        if (this.failure) return;
        const { events, encoded } = await prepared;
        await this.writeBatch({ events, encoded, ranges: [...batch.ranges.values()] });
      })
      .catch((err) => this.onWriteError(err));
    return this.writeChain;
  }

  private async writeBatch(batch: WriteBatch): Promise<void> {
    const end = this.metrics.batchWriteSeconds.startTimer(this.labels);
    const outcome = await this.writer.write(batch);
    end();
    observeBatch(this.metrics, this.labels, batch, outcome, this.highWatermarks);
    for (const { event, poison } of outcome.poisons) {
      const { topic, partition, offset } = event;
      this.log.warn(
        { topic, partition, offset, stage: poison.stage, err: poison.error },
        'poison event dead-lettered',
      );
    }
    for (const [key, next] of outcome.checkpoints) this.checkpoints.set(key, next);
    this.commitToKafka();
  }

  private onWriteError(err: unknown): void {
    if (
      err instanceof ProjectionError &&
      err.code === 'SLUICE_PROJECTION_CHECKPOINT_MOVED' &&
      !this.stopping
    ) {
      this.log.warn({ err }, 'checkpoint moved under the runner; seeking to it again');
      this.onAssigned(this.assignment);
      return;
    }
    this.fail(err as Error);
  }

  /** Best effort, at most once a second, for lag tooling only: correctness never reads these offsets back. */
  private commitToKafka(): void {
    if (this.opts.commitToKafka === false || !this.consumer) return;
    const now = Date.now();
    if (now - this.lastKafkaCommit < 1000) return;
    this.lastKafkaCommit = now;
    const offsets = [...this.checkpoints].map(([key, next]) => {
      const [topic, partition] = key.split('\u0000') as [string, string];
      return { topic, partition: Number(partition), offset: String(next) };
    });
    void this.consumer
      .commitOffsets(offsets)
      .catch((err) => this.log.debug({ err }, 'kafka offset commit failed'));
  }

  private retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retrying(what, fn, {
      log: this.log,
      keepTrying: () => !this.stopping,
      onRetry: () => this.metrics.retries.inc(this.labels),
    });
  }

  private withHeartbeats(work: Promise<void>): Promise<void> {
    return waitWithHeartbeats(work, () => this.heartbeat?.(), this.opts.heartbeatIntervalMs ?? 1000);
  }

  private fail(err: Error): void {
    if (this.failure || this.stopping) return;
    this.failure = err;
    this.clearTimer();
    this.log.error({ err }, 'projection stopped');
    void this.consumer?.stop().catch(() => {});
    this.opts.onError?.(err);
  }

  /** Stops consuming, writes what is buffered, commits offsets to Kafka, disconnects. */
  async close(): Promise<void> {
    if (this.stopping) return;
    await this.consumer?.stop().catch(() => {});
    this.stopping = true;
    this.flush();
    await this.writeChain;
    this.clearTimer();
    await this.consumer?.disconnect().catch(() => {});
    await this.producer?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
  }
}

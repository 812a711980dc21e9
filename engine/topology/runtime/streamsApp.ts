import { join } from 'node:path';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { SluiceError } from '../../errors.js';
import { sendInRequests } from '../../kafka/batches.js';
import { toBufferHeaders } from '../../kafka/headers.js';
import { createLogger } from '../../observability/logger.js';
import { type TopologyMetrics, topologyMetrics } from '../../observability/metrics.js';
import { CachingKeyValueStore, CachingWindowStore } from '../../state/caching.js';
import { ChangeLoggingKeyValueStore, ChangeLoggingWindowStore } from '../../state/changelogging.js';
import { LmdbKeyValueStore, LmdbWindowStore } from '../../state/lmdb.js';
import { MemoryKeyValueStore, MemoryWindowStore } from '../../state/memory.js';
import type { KeyValueStore, WindowStore } from '../../state/types.js';
import type { RawRecord, SourcePosition, TaskIO } from '../contracts.js';
import { Task } from '../task.js';
import type { Topology } from '../topology.js';
import { copartitionedAssigner, decodeStandbyUnits } from './copartitionedAssigner.js';
import { headerDeadLetter } from './deadLetters.js';
import { prepareTopics } from './internalTopics.js';
import { restorePartitions } from './restore.js';
import { type StandbyStore, type StandbyTask, StandbyTasks } from './standby.js';
import { TaskState } from './taskState.js';

export type ProcessingGuarantee = 'exactly_once' | 'at_least_once';

export interface DeadLetterFailure {
  kind: 'deserialization' | 'processing' | 'late' | 'invalid';
  position: SourcePosition | null;
  raw: RawRecord | null;
  error: Error;
}

export interface StreamsAppOptions {
  applicationId: string;
  kafka: Kafka;
  topology: Topology;
  /** `exactly_once` (default): outputs, changelogs and offsets in one transaction per commit. */
  processingGuarantee?: ProcessingGuarantee;
  /** Where lmdb stores live: `<stateDir>/<applicationId>/<task>/<store>`. */
  stateDir?: string;
  /**
   * Time between commits of a task; Kafka Streams' defaults: 100 ms under `exactly_once` (results
   * are visible to read_committed consumers only once committed), 30 s under `at_least_once`
   * (outputs are sent as they are produced; a commit writes the changelogs, flushes the stores and
   * commits the offsets, and a crash reprocesses at most one interval).
   */
  commitIntervalMs?: number;
  /** `dead-letter` (default): bad records go to `<topic>.dlq` and processing goes on; `fail`: the app stops. */
  deadLetterPolicy?: 'dead-letter' | 'fail';
  /** Encodes a dead letter; the default keeps the original bytes and puts the error in headers. */
  deadLetterEncoder?: (failure: DeadLetterFailure) => RawRecord;
  /** Partitions of topics this app creates (repartition, dead-letter); default: the largest source topic's. */
  internalPartitions?: number;
  /**
   * Standby replicas per task (Kafka Streams' num.standby.replicas, default 0): other instances
   * keep copies of a task's stores from its changelogs, so a task that moves to one of them
   * restores only the tail, and the assignor prefers moving tasks to their standbys.
   */
  numStandbyReplicas?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  logger?: Logger;
  metrics?: TopologyMetrics;
  /**
   * Awaited after the topics are prepared and before the consumer joins the group. StreamThreads
   * holds every thread here so that all join the group at once: a thread joining late makes the
   * others give up tasks they have started.
   */
  beforeJoin?: () => Promise<void>;
}

/**
 * Runs a topology on Kafka, as a Kafka Streams instance does: one consumer group named by
 * the application id; one task per partition of each sub-topology (partition p of every
 * co-partitioned input in the same task, by the co-partitioned assignor); state restored from
 * compacted changelog topics when a task starts; and, under exactly-once, one transactional
 * producer per task (transactional.id `<app>-<task>`, so a task moving to another instance
 * fences the old owner) committing outputs, changelog records and input offsets together.
 */
export class StreamsApp {
  private readonly log: Logger;
  private readonly metrics: TopologyMetrics;
  private readonly guarantee: ProcessingGuarantee;
  private readonly commitIntervalMs: number;
  private consumer: Consumer | null = null;
  private sharedProducer: Producer | null = null;
  private tasks = new Map<string, TaskState>();
  private creating = new Map<string, Promise<TaskState>>();
  private topicToSubtopology = new Map<string, number>();
  /** Tasks (partitions) per sub-topology. */
  private taskCounts = new Map<number, number>();
  private standbys: StandbyTasks | null = null;
  private dropping = new Map<string, Promise<void>>();
  private dlqTopics = new Set<string>();
  private punctuator: NodeJS.Timeout | null = null;
  private failure: Error | null = null;
  private stopping = false;

  private constructor(private readonly opts: StreamsAppOptions) {
    this.log = (opts.logger ?? createLogger('topology')).child({ topology: opts.applicationId });
    this.metrics = opts.metrics ?? topologyMetrics();
    this.guarantee = opts.processingGuarantee ?? 'exactly_once';
    this.commitIntervalMs = opts.commitIntervalMs ?? (this.guarantee === 'exactly_once' ? 100 : 30_000);
  }

  static async start(opts: StreamsAppOptions): Promise<StreamsApp> {
    const app = new StreamsApp(opts);
    await app.run();
    return app;
  }

  get applicationId(): string {
    return this.opts.applicationId;
  }

  /**
   * Why the app stopped processing on its own; null while it runs. Under `deadLetterPolicy:
   * 'fail'` the SluiceError `SLUICE_TOPOLOGY_RECORD_FAILED` of the first bad record (its cause
   * is the record's error); otherwise the consumer's fatal error. `close()` is still needed.
   */
  get error(): Error | null {
    return this.failure;
  }

  /**
   * Serdes serialize synchronously, so those that need the registry first (Avro: the writer's
   * schema id, registered or looked up) get it here, before any record: a sink's serde that was
   * never prepared would dead-letter every record it writes.
   */
  private async prepareSinkSerdes(): Promise<void> {
    const { topology } = this.opts;
    for (const sub of topology.subtopologies) {
      for (const n of topology.nodesOf(sub.id)) {
        if (n.kind !== 'sink') continue;
        const topic = n.internal ? topology.internalTopicName(this.applicationId, n.topic) : n.topic;
        await n.key.prepare?.(null, topic);
        await n.value.prepare?.(null, topic);
      }
    }
  }

  private changelogTopic(changelogName: string): string {
    return this.opts.topology.internalTopicName(this.applicationId, changelogName);
  }

  private async run(): Promise<void> {
    const layout = await prepareTopics(
      this.opts.kafka,
      this.opts.topology,
      this.applicationId,
      this.opts.internalPartitions,
    );
    await this.prepareSinkSerdes();
    this.topicToSubtopology = layout.topicToSubtopology;
    this.taskCounts = layout.taskCounts;
    this.dlqTopics = layout.dlqTopics;
    const { kafka } = this.opts;
    if (this.guarantee === 'at_least_once') {
      this.sharedProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await this.sharedProducer.connect();
    }
    const standbyCount = this.opts.numStandbyReplicas ?? 0;
    if (!Number.isInteger(standbyCount) || standbyCount < 0) {
      throw new SluiceError('SLUICE_TOPOLOGY_CONFIG', 'numStandbyReplicas must be an integer >= 0');
    }
    if (standbyCount > 0) this.standbys = new StandbyTasks(kafka, this.applicationId, this.log, this.metrics);
    const units = (ids: Iterable<string>) => [...new Set([...ids].map((id) => Number(id.split('_')[1])))];
    const consumer = kafka.consumer({
      groupId: this.applicationId,
      partitionAssigners: [
        copartitionedAssigner({
          standbys: standbyCount,
          current: () => ({ active: units(this.tasks.keys()), standby: units(this.standbys?.ids ?? []) }),
        }),
      ],
      readUncommitted: false,
      sessionTimeout: this.opts.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: this.opts.heartbeatIntervalMs ?? 1000,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: 2 << 20,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.metrics.rebalances.inc({ application: this.applicationId });
      const assigned = new Set<string>();
      for (const [topic, parts] of Object.entries(payload.memberAssignment)) {
        const sub = this.topicToSubtopology.get(topic);
        if (sub !== undefined) for (const p of parts) assigned.add(`${sub}_${p}`);
      }
      for (const [id, ts] of this.tasks) {
        if (!assigned.has(id)) void this.dropTask(ts, 'revoked');
      }
      if (this.standbys) {
        this.refreshStandbys(payload.memberId, assigned).catch((err) =>
          this.log.warn({ err }, 'standby tasks not updated'),
        );
      }
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) return;
      this.failure ??= payload.error;
      this.log.error({ err: this.failure }, 'processing stopped');
    });
    await this.opts.beforeJoin?.();
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.topicToSubtopology.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.punctuator = setInterval(() => this.punctuateAll(), Math.min(100, this.commitIntervalMs));
    this.punctuator.unref();
  }

  private storeHandles(sub: number) {
    return this.opts.topology.subtopologies.find((s) => s.id === sub)!.stores;
  }

  /** Opens a store of a task, empty (lmdb under `<stateDir>/<app>/<task>/<store>`). */
  private openStore(
    h: ReturnType<StreamsApp['storeHandles']>[number],
    taskId: string,
  ): KeyValueStore | WindowStore {
    const dir = join(this.opts.stateDir ?? '.sluice/state', this.applicationId, taskId);
    if (h.spec.type === 'keyValue') {
      return h.spec.kind === 'lmdb'
        ? LmdbKeyValueStore.open(dir, h.spec.name, LOCAL_STORE)
        : new MemoryKeyValueStore(h.spec.name);
    }
    return h.spec.kind === 'lmdb'
      ? LmdbWindowStore.open(dir, h.spec.name, LOCAL_STORE)
      : new MemoryWindowStore(h.spec.name);
  }

  private changelogging(
    inner: KeyValueStore | WindowStore,
    type: 'keyValue' | 'window',
    onChange: (c: { key: Buffer; value: Buffer | null }) => void,
  ): ChangeLoggingKeyValueStore | ChangeLoggingWindowStore {
    return type === 'keyValue'
      ? new ChangeLoggingKeyValueStore(inner as KeyValueStore, onChange)
      : new ChangeLoggingWindowStore(inner as WindowStore, onChange);
  }

  /** A standby's stores: the task's changelogged stores, fed by their changelogs only. */
  private openStandbyStores(sub: number, taskId: string): StandbyStore[] {
    return this.storeHandles(sub)
      .filter((h) => h.spec.changelog)
      .map((h) => {
        const inner = this.openStore(h, taskId);
        const feed = this.changelogging(inner, h.spec.type, () => {});
        return {
          name: h.spec.name,
          changelog: this.changelogTopic(h.changelogTopic),
          inner,
          apply: (key: Buffer, value: Buffer | null) => feed.restore([{ key, value }]),
          close: () => inner.close(),
        };
      });
  }

  private stores(sub: number, taskId: string, state: () => TaskState, warm?: StandbyTask) {
    const out = new Map<
      string,
      {
        store: KeyValueStore | WindowStore;
        close(): void;
        restore?: (k: Buffer | null, v: Buffer | null) => void;
        /** Writes the record cache down to the store and its changelog. */
        flushCache?: () => void;
        /** Full name of the store's changelog topic, when it has one. */
        changelog?: string;
      }
    >();
    for (const h of this.storeHandles(sub)) {
      const inner = warm?.stores.find((s) => s.name === h.spec.name)?.inner ?? this.openStore(h, taskId);
      if (!h.spec.changelog) {
        out.set(h.spec.name, { store: inner, close: () => inner.close() });
        continue;
      }
      const wrapped = this.changelogging(inner, h.spec.type, (c) => state().change(h.spec.name, c));
      // A record cache above the changelog: a key updated many times in a commit interval is
      // written to the store and the changelog once, at the commit.
      const cached =
        wrapped instanceof ChangeLoggingWindowStore
          ? new CachingWindowStore(wrapped)
          : new CachingKeyValueStore(wrapped as ChangeLoggingKeyValueStore);
      out.set(h.spec.name, {
        store: cached,
        close: () => cached.close(),
        flushCache: () => cached.flushCache(),
        changelog: this.changelogTopic(h.changelogTopic),
        restore: (key, value) => {
          if (key) wrapped.restore([{ key, value }]);
        },
      });
    }
    return out;
  }

  /** Creates a task: its producer first (fencing a previous owner), then its state from the changelogs. */
  private ensureTask(sub: number, partition: number): Promise<TaskState> {
    const id = `${sub}_${partition}`;
    const known = this.tasks.get(id);
    if (known) return Promise.resolve(known);
    let p = this.creating.get(id);
    if (!p) {
      p = this.createTask(sub, partition, id).finally(() => this.creating.delete(id));
      this.creating.set(id, p);
    }
    return p;
  }

  private async createTask(sub: number, partition: number, id: string): Promise<TaskState> {
    let producer: Producer | null = null;
    if (this.guarantee === 'exactly_once') {
      producer = this.opts.kafka.producer({
        transactionalId: `${this.applicationId}-${id}`,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
    }
    let state: TaskState | null = null;
    // A warm standby of this task hands over its stores: only the changelog tail is restored.
    const warm = this.standbys?.take(id);
    const stores = this.stores(sub, id, () => state!, warm);
    const io: TaskIO = {
      send: (topic, record, p) => state!.send(topic, record, p),
      deadLetter: (failure) => this.deadLetter(state!, failure),
      changelog: (store, change) => state!.change(store, change),
      now: () => Date.now(),
    };
    const task = new Task({
      topology: this.opts.topology,
      subtopology: sub,
      partition,
      applicationId: this.applicationId,
      stores: new Map([...stores].map(([name, s]) => [name, s.store])),
      io,
    });
    state = new TaskState(id, sub, partition, task, stores, producer);
    const handles = this.opts.topology.subtopologies
      .find((s) => s.id === sub)!
      .stores.filter((h) => h.spec.changelog);
    const restored = await restorePartitions(
      this.opts.kafka,
      this.applicationId,
      handles.map((h) => ({
        topic: this.changelogTopic(h.changelogTopic),
        partition,
        from: warm?.positions.get(this.changelogTopic(h.changelogTopic)) ?? 0,
        onRecord: (key, value) => {
          stores.get(h.spec.name)!.restore?.(key, value);
          this.metrics.restoredRecords.inc({ application: this.applicationId, store: h.spec.name });
        },
      })),
      this.log,
    );
    state.reset();
    this.tasks.set(id, state);
    this.log.info({ task: id, restored, warm: warm !== undefined }, 'task started');
    return state;
  }

  /**
   * Reads this member's standby units from its assignment (kafkajs keeps the assignment's user
   * data to itself, DescribeGroups has it) and makes them the standby set.
   */
  private async refreshStandbys(memberId: string, active: Set<string>): Promise<void> {
    const admin = this.opts.kafka.admin();
    await admin.connect();
    let standbyUnits: number[];
    try {
      const { groups } = await admin.describeGroups([this.applicationId]);
      const me = groups[0]?.members.find((m) => m.memberId === memberId);
      if (!me) return; // a newer generation already replaced this one
      standbyUnits = decodeStandbyUnits(me.memberAssignment);
    } finally {
      await admin.disconnect();
    }
    // A task revoked here may become a standby here: its stores must be closed first.
    await Promise.allSettled(this.dropping.values());
    const wanted: { id: string; partition: number }[] = [];
    for (const s of this.opts.topology.subtopologies) {
      if (!s.stores.some((h) => h.spec.changelog)) continue;
      const count = this.taskCounts.get(s.id) ?? 0;
      for (const p of standbyUnits) {
        const id = `${s.id}_${p}`;
        if (p < count && !active.has(id)) wanted.push({ id, partition: p });
      }
    }
    await this.standbys!.update(
      wanted,
      (id) => this.openStandbyStores(Number(id.split('_')[0]), id),
      // A unit that became active here stays until its task takes it over.
      (id) => active.has(id) && !this.tasks.has(id),
    );
  }

  /** Drops a task without committing: its uncommitted work is redone by whoever owns it next. */
  private dropTask(ts: TaskState, why: string): Promise<void> {
    this.tasks.delete(ts.id);
    const done = ts
      .exclusive(async () => {
        ts.task.close();
        for (const s of ts.stores.values()) s.close();
        await ts.producer?.disconnect().catch(() => {});
      })
      .then(() => this.log.info({ task: ts.id, why }, 'task closed'))
      .finally(() => this.dropping.delete(ts.id));
    this.dropping.set(ts.id, done);
    return done;
  }

  private deadLetter(ts: TaskState, failure: DeadLetterFailure): void {
    const source = failure.position?.topic ?? 'unknown';
    if (failure.kind === 'late')
      this.metrics.lateRecords.inc({ application: this.applicationId, topic: source });
    this.metrics.deadLetters.inc({ application: this.applicationId, topic: source, kind: failure.kind });
    if (this.opts.deadLetterPolicy === 'fail') {
      // Kept here: kafkajs's crash event carries a wrapper whose cause is the record's error.
      this.failure ??= new SluiceError(
        'SLUICE_TOPOLOGY_RECORD_FAILED',
        `${failure.kind} failure at ${source}: ${failure.error.message}`,
        { cause: failure.error },
      );
      throw this.failure;
    }
    const record = this.opts.deadLetterEncoder
      ? this.opts.deadLetterEncoder(failure)
      : headerDeadLetter(failure);
    const dlq = `${source}.dlq`;
    ts.send(this.dlqTopics.has(dlq) ? dlq : `${this.applicationId}.dlq`, record);
    this.log.warn(
      { task: ts.id, kind: failure.kind, ...failure.position, error: failure.error.message },
      'record sent to the dead-letter topic',
    );
  }

  /**
   * Runs a fetched batch through its task. Records go through synchronously unless a serde or
   * an async operator hands back a promise; only then does the loop await (heartbeating while
   * it waits). A commit happens when the task's commit interval has passed, not per batch: a
   * commit is a produce and an offset commit (a transaction under EOS), each a broker round
   * trip with an fsync, and per-batch commits left the runtime waiting on them most of the time.
   * The punctuator commits tasks whose input went quiet.
   */
  private async onBatch({
    batch,
    heartbeat,
    isRunning,
    isStale,
    resolveOffset,
  }: EachBatchPayload): Promise<void> {
    if (this.failure) throw this.failure;
    const sub = this.topicToSubtopology.get(batch.topic);
    if (sub === undefined || batch.messages.length === 0) return;
    const ts = await this.ensureTask(sub, batch.partition);
    const started = process.hrtime.bigint();
    const { topic, partition, messages } = batch;
    let processed = 0;
    let last: string | null = null;
    const settle = () => {
      if (last === null) return;
      ts.consumed(topic, Number(last));
      resolveOffset(last);
      last = null;
    };
    await ts.exclusive(async () => {
      let lastBeat = Date.now();
      const position = ts.positions.get(topic) ?? -1;
      // Offsets ascend in a batch: once past the position, no record needs the check.
      let skipping = position > 0;
      // A record that throws (deadLetterPolicy 'fail') leaves those before it to be committed.
      try {
        for (let i = 0; i < messages.length; i++) {
          // isStale (a seek on this partition) costs a JSON.stringify: ask every 256 records.
          if ((i & 255) === 0 && (!isRunning() || isStale())) break;
          const m = messages[i]!;
          if (skipping) {
            if (Number(m.offset) < position) {
              // Processed, not yet committed: resolved so that kafkajs fetches past it.
              last = m.offset;
              continue;
            }
            skipping = false;
          }
          const raw: RawRecord = {
            key: m.key,
            value: m.value,
            timestamp: Number(m.timestamp),
            headers: toBufferHeaders(m.headers),
          };
          const done = ts.task.process(topic, raw, { topic, partition, offset: m.offset });
          // A slow async operator must not starve the group heartbeat (no rebalance storm).
          if (done) await withHeartbeats(done, heartbeat);
          last = m.offset;
          processed++;
          if (done && (!isRunning() || isStale())) break;
          // The clock is read every 64 records (and after any wait), not per record.
          if (!done && (i & 63) !== 63) continue;
          const now = Date.now();
          if (now - lastBeat > 1000) {
            await heartbeat();
            lastBeat = now;
          }
          if (now - ts.lastCommit >= this.commitIntervalMs) {
            settle();
            await this.commit(ts);
          }
        }
      } finally {
        settle();
      }
      if (Date.now() - ts.lastCommit >= this.commitIntervalMs) await this.commit(ts);
      else if (!ts.producer) await this.sendEagerly(ts);
    });
    if (processed === 0) return;
    this.metrics.recordsIn.inc({ application: this.applicationId, topic }, processed);
    this.metrics.consumerLag.set(
      { application: this.applicationId, topic, partition: String(partition) },
      Number(batch.offsetLag()),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.processSeconds.observe({ application: this.applicationId }, seconds / processed);
  }

  /**
   * At least once: sends a task's outputs as they are produced (a batch at a time, not awaited),
   * and its changelog records once many have gathered between commits. A commit waits for these
   * sends before it commits offsets, so no offset is committed ahead of what it produced. At
   * most MAX_SENDS_IN_FLIGHT sends per task are in flight: a slow broker slows processing down.
   */
  private async sendEagerly(ts: TaskState): Promise<void> {
    const topicMessages = ts.takeOutputs(this.countOut);
    if (ts.changeCount >= MAX_BUFFERED_CHANGES) topicMessages.push(...ts.takeChanges());
    if (topicMessages.length === 0) return;
    ts.track(sendInRequests(this.sharedProducer!, topicMessages));
    try {
      while (ts.sendsInFlight > MAX_SENDS_IN_FLIGHT) await ts.oldestSend();
    } catch (err) {
      await this.abandon(ts, err, 'sending outputs failed');
      throw err;
    }
  }

  private readonly countOut = (topic: string, n: number) =>
    this.metrics.recordsOut.inc({ application: this.applicationId, topic }, n);

  /** The task's state is ahead of what Kafka holds: drop it; it restarts from the committed point. */
  private async abandon(ts: TaskState, err: unknown, what: string): Promise<void> {
    this.log.error({ task: ts.id, err }, `${what}; task will be restored`);
    ts.reset();
    this.tasks.delete(ts.id);
    ts.task.close();
    for (const s of ts.stores.values()) s.close();
    await ts.producer?.disconnect().catch(() => {});
  }

  /** One commit of one task: outputs, changelog records and offsets, atomically under EOS. */
  private async commit(ts: TaskState): Promise<void> {
    ts.lastCommit = Date.now();
    await ts.task.flush();
    for (const s of ts.stores.values()) s.flushCache?.();
    if (!ts.dirty) return;
    const end = this.metrics.commitSeconds.startTimer({ application: this.applicationId });
    const topicMessages = [...ts.takeOutputs(this.countOut), ...ts.takeChanges()];
    const offsets = [...ts.offsets].map(([topic, offset]) => ({
      topic,
      partitions: [{ partition: ts.partition, offset: String(offset) }],
    }));
    try {
      if (ts.producer) {
        const txn = await ts.producer.transaction();
        try {
          await sendInRequests(txn, topicMessages);
          if (offsets.length > 0)
            await txn.sendOffsets({ consumerGroupId: this.applicationId, topics: offsets });
          await txn.commit();
        } catch (err) {
          await txn.abort().catch(() => {});
          throw err;
        }
      } else {
        await ts.sendsDone();
        await sendInRequests(this.sharedProducer!, topicMessages);
        if (offsets.length > 0)
          await this.consumer!.commitOffsets(
            offsets.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, ...p }))),
          );
      }
    } catch (err) {
      await this.abandon(ts, err, 'commit failed');
      throw err;
    } finally {
      end();
    }
    for (const [name, s] of ts.stores) {
      s.store.flush();
      this.metrics.storeEntries.set(
        { application: this.applicationId, store: name, task: ts.id },
        s.store.approximateSize(),
      );
    }
    ts.reset();
  }

  private punctuateAll(): void {
    if (this.stopping) return;
    for (const ts of this.tasks.values()) {
      ts.exclusive(async () => {
        if (!this.tasks.has(ts.id)) return;
        const now = Date.now();
        ts.task.punctuate(now);
        if (ts.dirty && now - ts.lastCommit >= this.commitIntervalMs) await this.commit(ts);
        else if (!ts.producer) await this.sendEagerly(ts);
      }).catch((err) => this.log.error({ task: ts.id, err }, 'punctuation failed'));
    }
  }

  /** Finishes in-flight work, commits it, closes stores and clients. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.punctuator) clearInterval(this.punctuator);
    // Commit while still a group member: after stop() the consumer can no longer commit offsets
    // (at_least_once commits through it). Paused first, so nothing new is fetched meanwhile.
    try {
      this.consumer?.pause([...this.topicToSubtopology.keys()].map((topic) => ({ topic })));
    } catch {
      // The consumer has stopped on its own (it crashed): nothing is being fetched.
    }
    await Promise.all(
      [...this.tasks.values()].map((ts) =>
        ts
          .exclusive(() => this.commit(ts))
          .catch((err) => this.log.error({ task: ts.id, err }, 'final commit failed')),
      ),
    );
    await this.consumer?.stop();
    for (const ts of [...this.tasks.values()]) await this.dropTask(ts, 'shutdown');
    await this.consumer?.disconnect();
    await this.standbys?.close();
    await this.sharedProducer?.disconnect();
  }
}

/**
 * lmdb stores of a task start empty and are restored from the changelog (or handed over warm by
 * a standby), so what they hold locally need not survive a crash: no fsync per commit.
 */
const LOCAL_STORE = { fresh: true, durableFlush: false } as const;

/** At least once: eager sends a task may have in flight before processing waits for the oldest. */
const MAX_SENDS_IN_FLIGHT = 8;
/** At least once: buffered changelog records per task that are sent before the next commit. */
const MAX_BUFFERED_CHANGES = 50_000;

async function withHeartbeats(work: Promise<void> | void, heartbeat: () => Promise<void>): Promise<void> {
  if (!work) return;
  let settled = false;
  const beating = (async () => {
    while (!settled) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!settled) await heartbeat().catch(() => {});
    }
  })();
  try {
    await work;
  } finally {
    settled = true;
    void beating;
  }
}

import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { TopologyMetrics } from '../../observability/metrics.js';
import type { KeyValueStore, WindowStore } from '../../state/types.js';

/** A store a standby keeps: how to apply a changelog record, and how to let it go. */
export interface StandbyStore {
  name: string;
  changelog: string;
  /** The store itself, handed to the task that takes the standby over. */
  inner: KeyValueStore | WindowStore;
  apply(key: Buffer, value: Buffer | null): void;
  close(): void;
}

/** A standby task: a task's stores, kept up to date from their changelogs without processing. */
export interface StandbyTask {
  id: string;
  partition: number;
  stores: StandbyStore[];
  /** Next changelog offset to apply, per changelog topic (the task's partition of it). */
  positions: Map<string, number>;
}

/**
 * The standby tasks of one instance (Kafka Streams' num.standby.replicas): their stores follow
 * the changelogs (read_committed, so only committed state) through one consumer, so that when
 * the group moves a task here it restores only the tail written since. kafkajs has no manual
 * assignment: a throwaway group subscribes the changelog topics, seeks each standby partition
 * to its position once joined, and pauses every other partition. A new set of standbys
 * restarts that consumer.
 */
export class StandbyTasks {
  private tasks = new Map<string, StandbyTask>();
  private consumer: Consumer | null = null;
  private generation = 0;
  private updating: Promise<void> = Promise.resolve();

  constructor(
    private readonly kafka: Kafka,
    private readonly applicationId: string,
    private readonly log: Logger,
    private readonly metrics: TopologyMetrics,
  ) {}

  /** Task ids kept warm here. */
  get ids(): string[] {
    return [...this.tasks.keys()];
  }

  /**
   * Makes the standby set `wanted`: opens the new ones (with `open`), closes those no longer
   * wanted unless `keep` says a task may still claim them, and restarts the changelog consumer.
   */
  update(
    wanted: { id: string; partition: number }[],
    open: (id: string, partition: number) => StandbyStore[],
    keep: (id: string) => boolean,
  ): Promise<void> {
    const run = async () => {
      await this.stopConsumer();
      const ids = new Set(wanted.map((w) => w.id));
      for (const [id, t] of this.tasks) {
        if (ids.has(id) || keep(id)) continue;
        this.tasks.delete(id);
        for (const s of t.stores) s.close();
      }
      for (const w of wanted) {
        if (this.tasks.has(w.id)) continue;
        const stores = open(w.id, w.partition);
        if (stores.length === 0) continue;
        this.tasks.set(w.id, {
          id: w.id,
          partition: w.partition,
          stores,
          positions: new Map(stores.map((s) => [s.changelog, 0])),
        });
      }
      this.metrics.standbyTasks.set({ application: this.applicationId }, this.tasks.size);
      if (this.tasks.size > 0) await this.startConsumer();
      this.log.info({ standbys: [...this.tasks.keys()] }, 'standby tasks');
    };
    this.updating = this.updating.then(run, run);
    return this.updating;
  }

  /**
   * Hands a standby over to the task that becomes active here: its stores and the changelog
   * positions they have reached. The consumer skips its partitions from now on.
   */
  take(id: string): StandbyTask | undefined {
    const t = this.tasks.get(id);
    if (!t) return undefined;
    this.tasks.delete(id);
    this.metrics.standbyTasks.set({ application: this.applicationId }, this.tasks.size);
    return t;
  }

  async close(): Promise<void> {
    await this.updating.catch(() => {});
    await this.stopConsumer();
    for (const t of this.tasks.values()) for (const s of t.stores) s.close();
    this.tasks.clear();
  }

  private owner(topic: string, partition: number): { task: StandbyTask; store: StandbyStore } | null {
    for (const task of this.tasks.values()) {
      if (task.partition !== partition) continue;
      const store = task.stores.find((s) => s.changelog === topic);
      if (store) return { task, store };
    }
    return null;
  }

  private async startConsumer(): Promise<void> {
    const generation = ++this.generation;
    const consumer = this.kafka.consumer({
      groupId: `${this.applicationId}-standby-${process.pid}-${Date.now()}-${generation}`,
      readUncommitted: false,
      maxWaitTimeInMs: 250,
      maxBytesPerPartition: 4 << 20,
    });
    this.consumer = consumer;
    const topics = [...new Set([...this.tasks.values()].flatMap((t) => t.stores.map((s) => s.changelog)))];
    let seeked = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (seeked) return;
      seeked = true;
      for (const t of this.tasks.values()) {
        for (const [topic, offset] of t.positions) {
          if (offset > 0) consumer.seek({ topic, partition: t.partition, offset: String(offset) });
        }
      }
    });
    // Markers (transaction commits) advance a position without a record to apply.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const found = this.owner(payload.topic, payload.partition);
      if (!found || generation !== this.generation) return;
      const next = Number(payload.lastOffset) + 1;
      const at = found.task.positions.get(payload.topic) ?? 0;
      if (next > at) found.task.positions.set(payload.topic, next);
    });
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const found = generation === this.generation ? this.owner(batch.topic, batch.partition) : null;
        if (!found) {
          consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
          return;
        }
        const { task, store } = found;
        let at = task.positions.get(batch.topic) ?? 0;
        let applied = 0;
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          if (offset < at || !m.key) continue;
          store.apply(m.key, m.value);
          at = offset + 1;
          applied++;
        }
        task.positions.set(batch.topic, at);
        if (applied > 0) {
          this.metrics.standbyRecords.inc({ application: this.applicationId, store: store.name }, applied);
        }
      },
    });
  }

  private async stopConsumer(): Promise<void> {
    const c = this.consumer;
    this.consumer = null;
    this.generation++;
    if (c)
      await c.disconnect().catch((err) => this.log.warn({ err }, 'standby consumer did not stop cleanly'));
  }
}

import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { type SchemaRegistryLike, schemaIdOf } from '../../engine/codec/index.js';
import type { Logger } from '../../engine/observability/logger.js';
import { EventTypeDecoder, eventDecoder } from '../../projections/decoders.js';
import { ModelRegistryError } from './registryErrors.js';
import { CHAMPION_TOPIC, RegistryState, VERSIONS_TOPIC } from './registryState.js';

export interface RegistryFollowerOptions {
  kafka: Kafka;
  registry: SchemaRegistryLike;
  /** Consumer group; default `<groupPrefix>-<uuid>` (a fresh group always reads from the beginning). */
  groupId?: string;
  groupPrefix?: string;
  logger?: Logger;
}

const TOPICS = [VERSIONS_TOPIC, CHAMPION_TOPIC] as const;
const championTypes = ['sluice.models.ModelPromoted', 'sluice.models.ModelRolledBack'] as const;

interface Waiter {
  pending: Map<string, number>;
  resolve(): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

/**
 * Follows models.version.registered and models.champion.changed from the beginning (read
 * committed, a group of its own, no committed offsets) and folds them into a RegistryState,
 * in log order per partition. `caughtUp()` waits until everything committed before the call is
 * applied: the registry's read-before-write, and its read-your-writes after a command.
 *
 * A record that does not decode is logged and counted in `skipped`, and the follower goes on:
 * it is a reader, and the dead letter is the writer's business. A retriable failure (the schema
 * registry away) fails the batch instead, which kafkajs fetches again; applying is idempotent.
 */
export class RegistryFollower {
  readonly state = new RegistryState();
  skipped = 0;
  private readonly positions = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<(names: string[]) => void>();
  private readonly versions;
  private readonly changes;
  private consumer: Consumer | null = null;
  private admin: Admin | null = null;
  private crashed: unknown = null;

  private constructor(private readonly opts: RegistryFollowerOptions) {
    this.versions = eventDecoder(opts.registry, 'sluice.models.ModelVersionRegistered');
    this.changes = new EventTypeDecoder(opts.registry, championTypes);
  }

  /** Starts following and resolves once the topics' history is applied. */
  static async start(opts: RegistryFollowerOptions): Promise<RegistryFollower> {
    const follower = new RegistryFollower(opts);
    try {
      await follower.run();
      await follower.caughtUp();
    } catch (err) {
      await follower.close();
      throw err;
    }
    return follower;
  }

  /** Called after each fetched batch with the models whose state it changed. */
  onApplied(listener: (names: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once every record committed to the two topics before this call has been applied. */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    if (this.crashed) throw this.crashed;
    const admin = this.admin!;
    const ends = await Promise.all(
      TOPICS.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) })),
    );
    // Compared with the positions and registered as a waiter with no await in between, so no
    // batch can advance a position unseen.
    const pending = new Map<string, number>();
    for (const { topic, offsets } of ends) {
      for (const { partition, high } of offsets) {
        const key = `${topic}:${partition}`;
        if (Number(high) > (this.positions.get(key) ?? 0)) pending.set(key, Number(high));
      }
    }
    if (pending.size === 0) return;
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        pending,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`model registry topics not caught up in ${timeoutMs} ms: ${[...pending.keys()]}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error('registry follower closed'));
    }
    this.waiters.clear();
    await this.consumer?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
    this.consumer = null;
    this.admin = null;
  }

  private async run(): Promise<void> {
    const { kafka } = this.opts;
    this.admin = kafka.admin();
    await this.admin.connect();
    const existing = new Set(await this.admin.listTopics());
    const missing = TOPICS.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      throw new ModelRegistryError(
        'missing-topic',
        `the model registry's topics do not exist: ${missing.join(', ')} (sluice topics create --catalogue)`,
      );
    }
    const consumer = kafka.consumer({
      groupId: this.opts.groupId ?? `${this.opts.groupPrefix ?? 'sluice-model-registry'}-${randomUUID()}`,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
      this.advance(`${payload.topic}:${payload.partition}`, Number(payload.lastOffset) + 1),
    );
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.opts.logger?.error({ err: payload.error }, 'model registry follower crashed');
      if (payload.restart) return;
      this.crashed = payload.error;
      for (const w of this.waiters) {
        clearTimeout(w.timer);
        w.reject(payload.error);
      }
      this.waiters.clear();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...TOPICS], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const changed = new Set<string>();
        for (const m of batch.messages) {
          const name = await this.apply(batch.topic, batch.partition, m);
          if (name !== null) changed.add(name);
        }
        if (changed.size > 0) for (const l of this.listeners) l([...changed]);
      },
    });
  }

  /** Applies one record; returns the model it concerns, or null when it was skipped. */
  private async apply(topic: string, partition: number, m: KafkaMessage): Promise<string | null> {
    const origin = { topic, partition, offset: m.offset };
    try {
      if (topic === VERSIONS_TOPIC) {
        if (m.value === null) return null;
        const e = await this.versions.decode(m.value, origin);
        this.state.applyRegistered(e);
        return e.modelName;
      }
      if (m.value === null) {
        const name = m.key?.toString() ?? '';
        this.state.applyChampionTombstone(name);
        return name;
      }
      await this.changes.load(schemaIdOf(m.value, origin), origin);
      const change = this.changes.decodeSync(m.value, origin);
      this.state.applyChampionChange(change);
      return change.event.modelName;
    } catch (err) {
      // The registry being away is not the record's fault: fail the batch, kafkajs fetches it again.
      if ((err as { retriable?: boolean }).retriable === true) throw err;
      this.skipped++;
      this.opts.logger?.warn({ err, ...origin }, 'model registry record skipped: it does not decode');
      return null;
    }
  }

  private advance(key: string, next: number): void {
    if (next > (this.positions.get(key) ?? 0)) this.positions.set(key, next);
    for (const w of this.waiters) {
      const end = w.pending.get(key);
      if (end !== undefined && next >= end) w.pending.delete(key);
      if (w.pending.size === 0) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }
}

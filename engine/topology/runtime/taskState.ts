import type { Message, Producer } from 'kafkajs';
import type { ChangeRecord, KeyValueStore, WindowStore } from '../../state/types.js';
import type { RawRecord } from '../contracts.js';
import type { Task } from '../task.js';

/**
 * Everything the runtime keeps for one task between commits: records for sink topics,
 * the latest change per store key (only the last one matters to a compacted changelog),
 * and the offsets to commit with them.
 */
export class TaskState {
  outputs = new Map<string, Message[]>();
  changes = new Map<string, Map<string, ChangeRecord>>();
  offsets = new Map<string, number>();
  /** Serialises processing, punctuation and commits of this task. */
  private chain: Promise<unknown> = Promise.resolve();
  dirty = false;
  /** When the task last committed (or was created): the commit interval counts from here. */
  lastCommit = Date.now();

  constructor(
    readonly id: string,
    readonly subtopology: number,
    readonly partition: number,
    readonly task: Task,
    readonly stores: Map<
      string,
      { store: KeyValueStore | WindowStore; close(): void; changelog?: string; flushCache?: () => void }
    >,
    readonly producer: Producer | null,
  ) {}

  send(topic: string, record: RawRecord, partition?: number): void {
    const list = this.outputs.get(topic) ?? [];
    list.push({
      key: record.key,
      value: record.value,
      headers: record.headers,
      timestamp: String(record.timestamp),
      ...(partition === undefined ? {} : { partition }),
    });
    this.outputs.set(topic, list);
    this.dirty = true;
  }

  change(store: string, c: ChangeRecord): void {
    let byKey = this.changes.get(store);
    if (byKey === undefined) this.changes.set(store, (byKey = new Map<string, ChangeRecord>()));
    const before = byKey.size;
    byKey.set(c.key.toString('latin1'), {
      key: Buffer.from(c.key),
      value: c.value === null ? null : Buffer.from(c.value),
    });
    this.changeCount += byKey.size - before;
    this.dirty = true;
  }

  /** Buffered changelog records, all stores together. */
  changeCount = 0;

  /** At least once: sends of outputs (and changelog records) not yet acknowledged, oldest first. */
  private sends: Promise<void>[] = [];
  private sendFailure: unknown = null;

  track(send: Promise<void>): void {
    const tracked = send.catch((err) => {
      this.sendFailure ??= err;
    });
    this.sends.push(tracked);
    void tracked.then(() => {
      const i = this.sends.indexOf(tracked);
      if (i >= 0) this.sends.splice(i, 1);
    });
  }

  get sendsInFlight(): number {
    return this.sends.length;
  }

  async oldestSend(): Promise<void> {
    await this.sends[0];
    this.throwSendFailure();
  }

  /** Waits for every send; throws the first failure (the commit must not go ahead of it). */
  async sendsDone(): Promise<void> {
    await Promise.all(this.sends);
    this.throwSendFailure();
  }

  private throwSendFailure(): void {
    if (this.sendFailure === null) return;
    const err = this.sendFailure;
    this.sendFailure = null;
    throw err;
  }

  /**
   * Next offset to process per input topic, kept across commits. After a rebalance kafkajs
   * fetches a kept partition again from its committed offset, though this task has already
   * processed (and will commit) the records after it: those are skipped, not counted twice.
   */
  readonly positions = new Map<string, number>();

  consumed(topic: string, offset: number): void {
    const next = offset + 1;
    if (next > (this.offsets.get(topic) ?? -1)) this.offsets.set(topic, next);
    if (next > (this.positions.get(topic) ?? -1)) this.positions.set(topic, next);
    this.dirty = true;
  }

  /** The buffered outputs as one sendBatch's topicMessages; `counted` hears how many per topic. */
  takeOutputs(counted: (topic: string, n: number) => void): { topic: string; messages: Message[] }[] {
    const topicMessages: { topic: string; messages: Message[] }[] = [];
    for (const [topic, messages] of this.outputs) {
      topicMessages.push({ topic, messages });
      counted(topic, messages.length);
    }
    this.outputs = new Map();
    return topicMessages;
  }

  /** The buffered changelog records (the latest change per store key), for the task's partition. */
  takeChanges(): { topic: string; messages: Message[] }[] {
    const topicMessages: { topic: string; messages: Message[] }[] = [];
    for (const [store, changes] of this.changes) {
      topicMessages.push({
        topic: this.stores.get(store)!.changelog!,
        messages: [...changes.values()].map((c) => ({
          key: c.key,
          value: c.value,
          partition: this.partition,
        })),
      });
    }
    this.changes = new Map();
    this.changeCount = 0;
    return topicMessages;
  }

  reset(): void {
    this.outputs = new Map();
    this.changes = new Map();
    this.changeCount = 0;
    this.offsets = new Map();
    this.dirty = false;
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

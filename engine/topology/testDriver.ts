import { ChangeLoggingKeyValueStore, ChangeLoggingWindowStore } from '../state/changelogging.js';
import { MemoryKeyValueStore, MemoryWindowStore } from '../state/memory.js';
import type { ChangeRecord, KeyValueStore, WindowStore } from '../state/types.js';
import type { Headers, RawRecord, RejectReason, Serde, SourcePosition, TaskIO } from './contracts.js';
import { Task } from './task.js';
import type { Topology } from './topology.js';

export interface TopologyTestDriverOptions {
  applicationId?: string;
  initialWallClockMs?: number;
}

export interface DeadLetter {
  kind: 'deserialization' | 'processing' | RejectReason;
  position: SourcePosition | null;
  raw: RawRecord | null;
  error: Error;
}

export interface TestRecord<K, V> {
  key: K;
  value: V;
  timestamp: number;
  headers: Headers;
}

/**
 * Runs a topology in memory, as Kafka Streams' TopologyTestDriver: one partition (0) per
 * topic, one Task per sub-topology (the Task class the Kafka runtime uses), memory stores
 * wrapped by the same changelogging stores. Records written to repartition topics are fed
 * back to the sub-topology reading them, in order, before the next input. Piping is async
 * (serdes may prepare, operators may be async): await each call, then read outputs.
 */
export class TopologyTestDriver {
  readonly applicationId: string;
  /** Every record dead-lettered so far, in order. */
  readonly deadLetters: DeadLetter[] = [];
  private readonly tasks: Task[] = [];
  private readonly taskByTopic = new Map<string, Task>();
  private readonly topics = new Map<string, RawRecord[]>();
  private readonly offsets = new Map<string, number>();
  private readonly changes = new Map<string, ChangeRecord[]>();
  private readonly kvStores = new Map<string, MemoryKeyValueStore>();
  private readonly windowStores = new Map<string, MemoryWindowStore>();
  private readonly loopback: { topic: string; raw: RawRecord }[] = [];
  private chain: Promise<void> = Promise.resolve();
  private busy = false;
  private wallClock: number;

  constructor(
    readonly topology: Topology,
    opts: TopologyTestDriverOptions = {},
  ) {
    this.applicationId = opts.applicationId ?? 'test';
    this.wallClock = opts.initialWallClockMs ?? 0;
    for (const sub of topology.subtopologies) {
      const stores = new Map<string, KeyValueStore | WindowStore>();
      for (const { spec } of sub.stores) {
        const log = (c: ChangeRecord) =>
          this.changelogOf(spec.name).push({
            key: Buffer.from(c.key),
            value: c.value && Buffer.from(c.value),
          });
        if (spec.type === 'keyValue') {
          const inner = new MemoryKeyValueStore(spec.name);
          this.kvStores.set(spec.name, inner);
          stores.set(spec.name, spec.changelog ? new ChangeLoggingKeyValueStore(inner, log) : inner);
        } else {
          const inner = new MemoryWindowStore(spec.name);
          this.windowStores.set(spec.name, inner);
          stores.set(spec.name, spec.changelog ? new ChangeLoggingWindowStore(inner, log) : inner);
        }
      }
      const io: TaskIO = {
        send: (topic, raw) => this.onSend(topic, raw),
        deadLetter: (failure) => this.deadLetters.push(failure),
        changelog: (store, change) => this.changelogOf(store).push(change),
        now: () => this.wallClock,
      };
      const task = new Task({
        topology,
        subtopology: sub.id,
        partition: 0,
        applicationId: this.applicationId,
        stores,
        io,
      });
      this.tasks.push(task);
      for (const topic of task.topics) this.taskByTopic.set(topic, task);
    }
  }

  /** Records to pipe into `topic` (a full name: internal topics carry the application id). */
  createInputTopic<K, V>(topic: string, keySerde: Serde<K>, valueSerde: Serde<V>): TestInputTopic<K, V> {
    return new TestInputTopic(this, topic, keySerde, valueSerde);
  }

  /** Records written to `topic`, read once each, in order. */
  createOutputTopic<K, V>(topic: string, keySerde: Serde<K>, valueSerde: Serde<V>): TestOutputTopic<K, V> {
    return new TestOutputTopic(this.recordsOf(topic), topic, keySerde, valueSerde);
  }

  /** Processes a raw record of `topic`, then everything it sent to repartition topics. */
  pipeRaw(topic: string, raw: RawRecord): Promise<void> {
    return this.enqueue(async () => {
      this.recordsOf(topic).push(raw);
      await this.deliver(topic, raw);
      await this.drainLoopback();
    });
  }

  /** Moves the wall clock and fires wall-clock punctuations. */
  advanceWallClockTime(ms: number): Promise<void> {
    return this.enqueue(async () => {
      this.wallClock += ms;
      for (const task of this.tasks) task.punctuate(this.wallClock);
      await this.drainLoopback();
    });
  }

  get wallClockTime(): number {
    return this.wallClock;
  }

  /** Completes async operators (as a commit does) and what they send on. */
  flush(): Promise<void> {
    return this.enqueue(async () => {
      do {
        for (const task of this.tasks) await task.flush();
        await this.drainLoopback();
      } while (this.loopback.length > 0);
    });
  }

  getKeyValueStore(name: string): KeyValueStore {
    const store = this.kvStores.get(name);
    if (!store) throw new Error(`no key-value store named ${name}`);
    return store;
  }

  getWindowStore(name: string): WindowStore {
    const store = this.windowStores.get(name);
    if (!store) throw new Error(`no window store named ${name}`);
    return store;
  }

  /** The changelog records a store has produced (window stores: keys as encodeWindowKey). */
  changelog(store: string): ChangeRecord[] {
    return [...(this.changes.get(store) ?? [])];
  }

  /** Stream time of the task reading `topic`. */
  streamTime(topic: string): number {
    return this.taskByTopic.get(topic)?.streamTime ?? -1;
  }

  close(): void {
    for (const task of this.tasks) task.close();
    for (const store of [...this.kvStores.values(), ...this.windowStores.values()]) store.close();
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const run = async () => {
      this.busy = true;
      try {
        await work();
      } finally {
        this.busy = false;
      }
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async deliver(topic: string, raw: RawRecord): Promise<void> {
    const task = this.taskByTopic.get(topic);
    if (!task) return;
    const offset = this.offsets.get(topic) ?? 0;
    this.offsets.set(topic, offset + 1);
    await task.process(topic, raw, { topic, partition: 0, offset: String(offset) });
  }

  private async drainLoopback(): Promise<void> {
    while (this.loopback.length > 0) {
      const { topic, raw } = this.loopback.shift()!;
      await this.deliver(topic, raw);
    }
  }

  private onSend(topic: string, raw: RawRecord): void {
    this.recordsOf(topic).push(raw);
    if (!this.taskByTopic.has(topic)) return;
    this.loopback.push({ topic, raw });
    // Sent by async work between driver calls: deliver it without waiting for the next call.
    if (!this.busy) void this.enqueue(() => this.drainLoopback());
  }

  private recordsOf(topic: string): RawRecord[] {
    let list = this.topics.get(topic);
    if (!list) {
      list = [];
      this.topics.set(topic, list);
    }
    return list;
  }

  private changelogOf(store: string): ChangeRecord[] {
    let list = this.changes.get(store);
    if (!list) {
      list = [];
      this.changes.set(store, list);
    }
    return list;
  }
}

export class TestInputTopic<K, V> {
  /** @internal */
  constructor(
    private readonly driver: TopologyTestDriver,
    readonly topic: string,
    private readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V>,
  ) {}

  /** Pipes one record; the timestamp defaults to the driver's wall clock. */
  pipeInput(key: K, value: V, timestamp = this.driver.wallClockTime, headers: Headers = {}): Promise<void> {
    return this.driver.pipeRaw(this.topic, {
      key: this.keySerde.serialize(key, this.topic),
      value: this.valueSerde.serialize(value, this.topic),
      timestamp,
      headers,
    });
  }

  async pipeRecordList(
    records: readonly { key: K; value: V; timestamp?: number; headers?: Headers }[],
  ): Promise<void> {
    for (const r of records) await this.pipeInput(r.key, r.value, r.timestamp, r.headers);
  }
}

export class TestOutputTopic<K, V> {
  private cursor = 0;

  /** @internal */
  constructor(
    private readonly records: RawRecord[],
    readonly topic: string,
    private readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V>,
  ) {}

  isEmpty(): boolean {
    return this.cursor >= this.records.length;
  }

  getQueueSize(): number {
    return this.records.length - this.cursor;
  }

  readRecord(): TestRecord<K, V> {
    const raw = this.records[this.cursor];
    if (!raw) throw new Error(`no record left in ${this.topic}`);
    this.cursor++;
    return {
      key: this.keySerde.deserialize(raw.key, this.topic),
      value: this.valueSerde.deserialize(raw.value, this.topic),
      timestamp: raw.timestamp,
      headers: raw.headers,
    };
  }

  readRecordsToList(): TestRecord<K, V>[] {
    const out: TestRecord<K, V>[] = [];
    while (!this.isEmpty()) out.push(this.readRecord());
    return out;
  }

  readKeyValue(): { key: K; value: V } {
    const { key, value } = this.readRecord();
    return { key, value };
  }

  readKeyValuesToList(): { key: K; value: V }[] {
    return this.readRecordsToList().map(({ key, value }) => ({ key, value }));
  }

  readValuesToList(): V[] {
    return this.readRecordsToList().map((r) => r.value);
  }
}

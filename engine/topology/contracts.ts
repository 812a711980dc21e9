/**
 * Contracts between the topology DSL, its tasks, and the runtimes that drive them (the
 * in-memory test driver and the Kafka runtime). Operators are functions of (state, record):
 * time comes from records (stream time) or from the runtime's clock, never from Date.now().
 */
import type { ChangeRecord, KeyValueStore, StoreSpec, WindowStore } from '../state/types.js';

export type Headers = Record<string, Buffer>;

/** A typed record flowing between operators. */
export interface StreamRecord<K, V> {
  key: K;
  value: V;
  /** Event time, epoch millis. */
  timestamp: number;
  headers: Headers;
}

/** A record as read from or written to Kafka. */
export interface RawRecord {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  headers: Headers;
}

export interface SourcePosition {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * Bytes <-> values. `prepare` lets a serde do async work (fetching an Avro writer schema)
 * before the synchronous `deserialize`; tasks await it for every record that needs it.
 */
export interface Serde<T> {
  serialize(value: T, topic: string): Buffer | null;
  deserialize(bytes: Buffer | null, topic: string): T;
  prepare?(bytes: Buffer | null, topic: string): Promise<void> | undefined;
}

export type PunctuationType = 'stream-time' | 'wall-clock';

export interface Cancellable {
  cancel(): void;
}

export interface ProcessorContext<KOut, VOut> {
  /** Sends a record to the children of this node (or one named child). */
  forward(record: StreamRecord<KOut, VOut>, child?: string): void;
  keyValueStore(name: string): KeyValueStore;
  windowStore(name: string): WindowStore;
  /** Calls `fn` every `intervalMs` of stream time or wall-clock time. */
  schedule(intervalMs: number, type: PunctuationType, fn: (timestamp: number) => void): Cancellable;
  /** Largest record timestamp seen by this task so far (-1 before the first). */
  readonly streamTime: number;
  /** The runtime's wall clock (controllable in the test driver). */
  readonly wallClockTime: number;
  /** Where the record being processed came from (null inside punctuations). */
  readonly position: SourcePosition | null;
  readonly taskId: string;
  /** Reports a record this operator refuses (late beyond grace, invalid): dead-lettered and counted. */
  reject(record: StreamRecord<unknown, unknown>, reason: RejectReason, error?: Error): void;
}

export type RejectReason = 'late' | 'invalid';

export interface Processor<KIn, VIn, KOut = KIn, VOut = VIn> {
  init?(ctx: ProcessorContext<KOut, VOut>): void;
  /** May return a promise; the task awaits it before the next record (mapAsync bounds its own concurrency). */
  process(record: StreamRecord<KIn, VIn>): void | Promise<void>;
  /** Completes in-flight async work; called before every commit. */
  flush?(): Promise<void>;
  close?(): void;
}

export type ProcessorSupplier<KIn, VIn, KOut, VOut> = () => Processor<KIn, VIn, KOut, VOut>;

/** What a task needs from whoever runs it. */
export interface TaskIO {
  /** A record for a sink topic (internal topics already carry the application id). */
  send(topic: string, record: RawRecord, partition?: number): void;
  /** A record that could not be deserialized or processed, or was rejected by an operator. */
  deadLetter(failure: {
    kind: 'deserialization' | 'processing' | RejectReason;
    position: SourcePosition | null;
    raw: RawRecord | null;
    error: Error;
  }): void;
  /** A change to a changelogged store, for its changelog topic (partition = task partition). */
  changelog(store: string, change: ChangeRecord): void;
  /** The wall clock. */
  now(): number;
}

export interface StoreHandle {
  spec: StoreSpec;
  /** Changelog topic name before the application-id prefix: `<store>-changelog`. */
  changelogTopic: string;
}

export interface SourceTopicSpec {
  /** The topic as named in the DSL; internal (repartition) topics are prefixed at run time. */
  topic: string;
  internal: boolean;
}

/**
 * A compiled topology: sub-topologies are the connected groups of nodes; each runs as one
 * task per partition of its (co-partitioned) source topics.
 */
export interface SubtopologyDescription {
  id: number;
  sources: SourceTopicSpec[];
  sinks: SourceTopicSpec[];
  stores: StoreHandle[];
  /** Groups of source topics that must have the same partition count (joins). */
  copartitionGroups: string[][];
}

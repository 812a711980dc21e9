import type { KeyValueStore, WindowStore } from '../state/types.js';
import type {
  Cancellable,
  PunctuationType,
  RawRecord,
  RejectReason,
  SourcePosition,
  StreamRecord,
  TaskIO,
} from './contracts.js';
import { RecordRejectedError, TopologyError } from './errors.js';
import type { AnyProcessor, GraphNode, SourceNode } from './graph.js';
import type { InternalContext, Origin } from './internalContext.js';
import type { Topology } from './topology.js';

export interface TaskOptions {
  topology: Topology;
  subtopology: number;
  partition: number;
  applicationId: string;
  /** Every store of the sub-topology, by name, already wrapped for changelogging by the runtime. */
  stores: Map<string, KeyValueStore | WindowStore>;
  io: TaskIO;
}

interface NodeRuntime {
  node: GraphNode;
  processor: AnyProcessor | null;
  children: NodeRuntime[];
  ctx: NodeContext;
}

interface Punctuation {
  node: NodeRuntime;
  type: PunctuationType;
  intervalMs: number;
  next: number;
  fn: (timestamp: number) => void;
  cancelled: boolean;
}

const NOWHERE: Origin = { position: null, raw: null };

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/**
 * Runs one sub-topology for one partition, independent of any runtime: records in
 * (deserialized with the source's serdes), records out (through `io.send`), stores given.
 * Failures never stop it: undecodable records, operator exceptions and records operators
 * reject are dead-lettered and processing goes on. Deterministic: time comes from records
 * (stream time = largest timestamp seen) or from the runtime's clock passed to `punctuate`.
 */
export class Task {
  readonly id: string;
  private readonly nodes: NodeRuntime[] = [];
  private readonly sources = new Map<string, NodeRuntime>();
  private current: Origin = NOWHERE;
  private maxTimestamp = -1;
  private readonly punctuations: Punctuation[] = [];
  private readonly inflight = new Set<Promise<void>>();
  /** True while a record goes through the graph; its async work is collected (lazily). */
  private routing = false;
  private collected: Promise<void>[] | null = null;
  private readonly sharedObjects = new Map<string, unknown>();
  /** Counts routed records, so flush knows when nothing moves any more. */
  private routed = 0;
  /** A failure raised where it could not be thrown (async work); thrown by the next call. */
  private failure: Error | null = null;
  private closed = false;

  constructor(private readonly o: TaskOptions) {
    this.id = `${o.subtopology}_${o.partition}`;
    const description = o.topology.subtopologies.find((s) => s.id === o.subtopology);
    if (!description) throw new TopologyError([`the topology has no sub-topology ${o.subtopology}`]);
    const missing = description.stores.filter((h) => !o.stores.has(h.spec.name)).map((h) => h.spec.name);
    if (missing.length > 0) throw new TopologyError([`task ${this.id} needs stores ${missing.join(', ')}`]);

    const byName = new Map<string, NodeRuntime>();
    for (const node of o.topology.nodesOf(o.subtopology)) {
      const rt: NodeRuntime = {
        node,
        processor: node.kind === 'processor' ? node.supplier() : null,
        children: [],
        ctx: undefined as unknown as NodeContext,
      };
      rt.ctx = new NodeContext(this.hooks, rt);
      byName.set(node.name, rt);
      this.nodes.push(rt);
      if (node.kind === 'source') {
        this.sources.set(
          node.internal ? o.topology.internalTopicName(o.applicationId, node.topic) : node.topic,
          rt,
        );
      }
    }
    for (const rt of this.nodes) rt.children = rt.node.children.map((c) => byName.get(c)!);
    for (const rt of this.nodes) rt.processor?.init?.(rt.ctx);
  }

  /** Largest record timestamp this task has seen (-1 before the first). */
  get streamTime(): number {
    return this.maxTimestamp;
  }

  /** The full names of the topics this task consumes. */
  get topics(): string[] {
    return [...this.sources.keys()];
  }

  /**
   * Processes one record of `topic` (full name: internal topics carry the application id).
   * Returns undefined when the record went through the graph synchronously, which is the common
   * case; otherwise a promise that settles once a serde's async preparation (a writer schema to
   * fetch) or async operators (mapAsync accepting it) are done. Runtimes await only promises.
   */
  process(topic: string, raw: RawRecord, position: SourcePosition): void | Promise<void> {
    this.checkUsable();
    const source = this.sources.get(topic);
    if (!source) {
      throw new TopologyError(
        [`task ${this.id} does not consume topic ${topic}`],
        'SLUICE_TOPOLOGY_UNKNOWN_TOPIC',
      );
    }
    const node = source.node as SourceNode;
    const decodesValue = !(node.tombstones && raw.value === null);
    let pending: Promise<void> | undefined;
    try {
      pending = prepareRecord(node, topic, raw, decodesValue);
    } catch (err) {
      this.fail('deserialization', position, raw, err);
      return;
    }
    if (!pending) return this.processDecoded(source, node, topic, raw, position, decodesValue);
    return this.untilPrepared(pending, () => prepareRecord(node, topic, raw, decodesValue)).then(
      () => this.processDecoded(source, node, topic, raw, position, decodesValue),
      (err) => {
        if (this.closed) throw err;
        this.fail('deserialization', position, raw, err);
      },
    );
  }

  /**
   * Waits for a serde's preparation, preparing again with backoff (100 ms doubling to 5 s) while
   * it fails with a retriable error: a schema registry that is down is no reason to dead-letter
   * good records. The runtime heartbeats meanwhile, so the partition waits and nothing is lost.
   */
  private async untilPrepared(first: Promise<void>, again: () => Promise<void> | undefined): Promise<void> {
    let pending: Promise<void> | undefined = first;
    for (let delay = 100; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await pending;
        return;
      } catch (err) {
        if ((err as { retriable?: boolean }).retriable !== true) throw err;
      }
      await new Promise((r) => setTimeout(r, delay));
      if (this.closed) throw new Error(`task ${this.id} closed while a serde was retrying`);
      pending = again();
    }
  }

  private fail(
    kind: 'deserialization' | 'processing' | RejectReason,
    position: SourcePosition,
    raw: RawRecord,
    error: unknown,
  ): void {
    this.o.io.deadLetter({ kind, position, raw, error: asError(error) });
  }

  private processDecoded(
    source: NodeRuntime,
    node: SourceNode,
    topic: string,
    raw: RawRecord,
    position: SourcePosition,
    decodesValue: boolean,
  ): void | Promise<void> {
    let record: StreamRecord<unknown, unknown>;
    try {
      const key = node.key.deserialize(raw.key, topic);
      const value = decodesValue ? node.value.deserialize(raw.value, topic) : null;
      record = { key, value, timestamp: raw.timestamp, headers: raw.headers ?? {} };
    } catch (err) {
      this.fail('deserialization', position, raw, err);
      return;
    }
    if (node.timestampExtractor) {
      try {
        record.timestamp = node.timestampExtractor(record);
      } catch (err) {
        this.fail('processing', position, raw, err);
        return;
      }
    }
    if (!Number.isSafeInteger(record.timestamp) || record.timestamp < 0) {
      this.fail(
        'invalid',
        position,
        raw,
        new RecordRejectedError('invalid', `invalid timestamp ${record.timestamp} (need an integer >= 0)`),
      );
      return;
    }
    if (record.timestamp > this.maxTimestamp) this.maxTimestamp = record.timestamp;

    this.current = { position, raw };
    this.routing = true;
    try {
      this.route(source, record);
    } catch (err) {
      this.fail('processing', position, raw, err);
    } finally {
      this.routing = false;
    }
    const collected = this.collected;
    this.collected = null;
    if (collected === null) {
      this.current = NOWHERE;
      return this.afterRecord();
    }
    return Promise.all(collected).then(
      () => {
        this.current = NOWHERE;
        this.afterRecord();
      },
      (err) => {
        this.current = NOWHERE;
        throw err;
      },
    );
  }

  private afterRecord(): void {
    this.firePunctuations('stream-time', this.maxTimestamp);
    this.throwFailure();
  }

  /** Fires the wall-clock punctuations due at `wallClock`. */
  punctuate(wallClock: number): void {
    this.checkUsable();
    this.firePunctuations('wall-clock', wallClock);
    this.throwFailure();
  }

  /** Completes async work (mapAsync calls in flight and what they forward); called before every commit. */
  async flush(): Promise<void> {
    this.checkUsable();
    for (let round = 0; ; round++) {
      const before = this.routed;
      for (const rt of this.nodes) if (rt.processor?.flush) await rt.processor.flush();
      while (this.inflight.size > 0) await Promise.all([...this.inflight]);
      if (this.routed === before) break;
      if (round >= 10_000) throw new Error(`task ${this.id}: flush does not settle`);
    }
    this.throwFailure();
  }

  /** Closes the processors (not the stores: they belong to the runtime). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.punctuations) p.cancelled = true;
    let first: unknown;
    for (const rt of this.nodes) {
      try {
        rt.processor?.close?.();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  private checkUsable(): void {
    if (this.closed) throw new Error(`task ${this.id} is closed`);
    this.throwFailure();
  }

  private throwFailure(): void {
    const failure = this.failure;
    if (failure) {
      this.failure = null;
      throw failure;
    }
  }

  private deadLetter(kind: 'processing' | RejectReason, origin: Origin, error: Error): void {
    this.o.io.deadLetter({ kind, position: origin.position, raw: origin.raw, error });
  }

  private route(rt: NodeRuntime, record: StreamRecord<unknown, unknown>): void {
    this.routed++;
    const { node } = rt;
    if (node.kind === 'sink') {
      const topic = node.internal
        ? this.o.topology.internalTopicName(this.o.applicationId, node.topic)
        : node.topic;
      this.o.io.send(topic, {
        key: node.key.serialize(record.key, topic),
        value: node.value.serialize(record.value, topic),
        timestamp: record.timestamp,
        headers: record.headers,
      });
      return;
    }
    if (!rt.processor) {
      for (const child of rt.children) this.route(child, record);
      return;
    }
    const result = rt.processor.process(record);
    if (result && typeof (result as Promise<void>).then === 'function') this.track(result as Promise<void>);
  }

  /** Async work of the current record: awaited by `process` (if it started there) and by `flush`. */
  private track(work: Promise<void>): void {
    const origin = this.current;
    const handled = work.then(undefined, (err) => this.deadLetter('processing', origin, asError(err)));
    this.inflight.add(handled);
    const done = () => {
      this.inflight.delete(handled);
    };
    handled.then(done, (err) => {
      done();
      this.failure ??= asError(err);
    });
    if (this.routing) (this.collected ??= []).push(handled);
  }

  private firePunctuations(type: PunctuationType, now: number): void {
    if (this.punctuations.length === 0) return;
    for (const p of [...this.punctuations]) {
      if (p.cancelled || p.type !== type || now < p.next) continue;
      p.next += p.intervalMs * (Math.floor((now - p.next) / p.intervalMs) + 1);
      this.withOrigin(NOWHERE, () => p.fn(now));
    }
  }

  private withOrigin(origin: Origin, fn: () => void): void {
    const saved = this.current;
    this.current = origin;
    try {
      fn();
    } catch (err) {
      try {
        this.deadLetter('processing', origin, asError(err));
      } catch (fatal) {
        this.failure ??= asError(fatal);
      }
    } finally {
      this.current = saved;
    }
  }

  /** What node contexts reach inside the task. */
  private readonly hooks: TaskHooks = {
    taskId: () => this.id,
    streamTime: () => this.maxTimestamp,
    now: () => this.o.io.now(),
    origin: () => this.current,
    forward: (from, record, child) => {
      if (child === undefined) {
        for (const c of from.children) this.route(c, record);
        return;
      }
      const target = from.children.find((c) => c.node.name === child);
      if (!target) throw new TopologyError([`${from.node.name} has no child named ${child}`]);
      this.route(target, record);
    },
    store: (from, name, type) => {
      const declared = from.node.kind === 'processor' && from.node.stores.includes(name);
      const spec = this.o.topology.storeSpec(name);
      if (!declared || !spec) {
        throw new TopologyError(
          [`${from.node.name} did not declare store '${name}'`],
          'SLUICE_TOPOLOGY_STORE',
        );
      }
      if (spec.type !== type) {
        throw new TopologyError(
          [`store '${name}' is a ${spec.type} store, not a ${type} store`],
          'SLUICE_TOPOLOGY_STORE',
        );
      }
      return this.o.stores.get(name)!;
    },
    storeTopic: (name) => this.o.topology.internalTopicName(this.o.applicationId, `${name}-changelog`),
    schedule: (from, intervalMs, type, fn) => {
      if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) {
        throw new TopologyError([`${from.node.name}: punctuation interval must be an integer >= 1 ms`]);
      }
      // As Kafka Streams: stream time aligned to 0 (fires on the first record), wall clock from now.
      const next = type === 'stream-time' ? 0 : this.o.io.now() + intervalMs;
      const p: Punctuation = { node: from, type, intervalMs, next, fn, cancelled: false };
      this.punctuations.push(p);
      return {
        cancel: () => {
          p.cancelled = true;
          this.punctuations.splice(this.punctuations.indexOf(p), 1);
        },
      };
    },
    reject: (record, reason, error) => {
      const origin = this.current;
      this.deadLetter(
        reason,
        origin,
        error ?? new RecordRejectedError(reason, `record at ${record.timestamp} rejected as ${reason}`),
      );
    },
    shared: (key, create) => {
      if (!this.sharedObjects.has(key)) this.sharedObjects.set(key, create());
      return this.sharedObjects.get(key);
    },
    withOrigin: (origin, fn) => this.withOrigin(origin, fn),
  };
}

interface TaskHooks {
  taskId(): string;
  streamTime(): number;
  now(): number;
  origin(): Origin;
  forward(from: NodeRuntime, record: StreamRecord<unknown, unknown>, child?: string): void;
  store(from: NodeRuntime, name: string, type: 'keyValue' | 'window'): KeyValueStore | WindowStore;
  storeTopic(name: string): string;
  schedule(
    from: NodeRuntime,
    intervalMs: number,
    type: PunctuationType,
    fn: (timestamp: number) => void,
  ): Cancellable;
  reject(record: StreamRecord<unknown, unknown>, reason: RejectReason, error?: Error): void;
  shared(key: string, create: () => unknown): unknown;
  withOrigin(origin: Origin, fn: () => void): void;
}

/** Starts the source serdes' async preparation of a record; undefined when none is needed. */
function prepareRecord(
  node: SourceNode,
  topic: string,
  raw: RawRecord,
  decodesValue: boolean,
): Promise<void> | undefined {
  const pk = node.key.prepare?.(raw.key, topic);
  const pv = decodesValue ? node.value.prepare?.(raw.value, topic) : undefined;
  return pk && pv ? Promise.all([pk, pv]).then(() => undefined) : (pk ?? pv);
}

/** The context of one node in one task. */
class NodeContext implements InternalContext<unknown, unknown> {
  constructor(
    private readonly task: TaskHooks,
    private readonly rt: NodeRuntime,
  ) {}

  get nodeName(): string {
    return this.rt.node.name;
  }

  get childNames(): readonly string[] {
    return this.rt.node.children;
  }

  get taskId(): string {
    return this.task.taskId();
  }

  get streamTime(): number {
    return this.task.streamTime();
  }

  get wallClockTime(): number {
    return this.task.now();
  }

  get position(): SourcePosition | null {
    return this.task.origin().position;
  }

  forward(record: StreamRecord<unknown, unknown>, child?: string): void {
    this.task.forward(this.rt, record, child);
  }

  keyValueStore(name: string): KeyValueStore {
    return this.task.store(this.rt, name, 'keyValue') as KeyValueStore;
  }

  windowStore(name: string): WindowStore {
    return this.task.store(this.rt, name, 'window') as WindowStore;
  }

  schedule(intervalMs: number, type: PunctuationType, fn: (timestamp: number) => void): Cancellable {
    return this.task.schedule(this.rt, intervalMs, type, fn);
  }

  reject(record: StreamRecord<unknown, unknown>, reason: RejectReason, error?: Error): void {
    this.task.reject(record, reason, error);
  }

  storeTopic(store: string): string {
    return this.task.storeTopic(store);
  }

  shared<T>(key: string, create: () => T): T {
    return this.task.shared(key, create) as T;
  }

  origin(): Origin {
    return this.task.origin();
  }

  withOrigin(origin: Origin, fn: () => void): void {
    this.task.withOrigin(origin, fn);
  }
}

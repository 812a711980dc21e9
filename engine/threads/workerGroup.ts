/**
 * N copies of one group-member service (a StreamsApp, a ProjectionRunner...) on worker threads
 * of this process, as Kafka Streams' num.stream.threads or Kafka Connect's tasks.max: each thread
 * runs its own instance (its own consumer in the service's group, so the group spreads the
 * partitions over the threads), its own clients and event loop. What a thread runs holds
 * functions, which cannot cross threads, so each thread builds its options from a module: the
 * module exports a factory called in every thread with `arg` (structured-cloneable) and the
 * thread's index. The worker side is engine/threads/hostThread.ts.
 *
 * The threads start together: each sets up, reports `ready` right before joining its group,
 * and joins once all are ready (one rebalance, not one per thread).
 */
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';
import { SluiceError } from '../errors.js';

export interface WorkerGroupOptions {
  /** The worker entry: a module that calls `hostThread` (.ts under tsx, .js compiled). */
  entry: URL;
  /** Path or URL of the module that exports the factory. */
  module: string | URL;
  /** The export to call in every thread. */
  exportName: string;
  /** Handed to the factory in every thread. */
  arg?: unknown;
  /** Threads to run, >= 1. */
  count: number;
  /** Names a thread in errors: `<label> <index>: ...`, e.g. "stream thread". */
  label: string;
  /** The SluiceError code of a thread's failure. */
  errorCode: string;
  /** Passed to every `new Worker` (heap and young generation sizes, stack size). */
  resourceLimits?: ResourceLimits;
  /** How long a closing thread may take before it is terminated; default 60 s. */
  closeTimeoutMs?: number;
}

/** What a thread's factory receives besides `arg`. */
export interface ThreadInfo {
  index: number;
  count: number;
}

/** The worker's workerData. */
export interface ThreadData extends ThreadInfo {
  module: string;
  exportName: string;
  arg: unknown;
}

export type Metrics = MetricObjectWithValues<MetricValue<string>>[];

/** Messages a thread posts to the main thread. */
export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'started' }
  | { type: 'failed'; error: SerializedError }
  | { type: 'metrics'; id: number; metrics: Metrics }
  | { type: 'closed'; metrics: Metrics };

/** Messages the main thread posts to a thread. */
export type MainMessage = { type: 'join' } | { type: 'metrics'; id: number } | { type: 'close' };

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

interface Thread {
  index: number;
  worker: Worker;
  exited: Promise<void>;
  /** Asked to close: its exit is expected. */
  stopping: boolean;
  exitedYet: boolean;
  /** The metrics it handed over when it closed. */
  final: Metrics | null;
}

/** The worker entry `name` next to `metaUrl`, in the same flavour (.ts under tsx, .js compiled). */
export function entryNextTo(metaUrl: string, name: string): URL {
  const ext = extname(fileURLToPath(metaUrl));
  return new URL(`./${name}${ext}`, metaUrl);
}

export class WorkerGroup {
  private failure: Error | null = null;
  private nextRequest = 0;
  private readonly pending = new Map<number, (m: Metrics) => void>();
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly o: WorkerGroupOptions,
    private readonly threads: Thread[],
  ) {}

  /** Starts every thread and resolves once each one's service has started. */
  static async start(o: WorkerGroupOptions): Promise<WorkerGroup> {
    const { count } = o;
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`a worker group needs an integer count >= 1, got ${count}`);
    }
    const module =
      o.module instanceof URL || /^[a-z]+:/i.test(o.module) ? String(o.module) : pathToFileURL(o.module).href;
    const threads: Thread[] = [];
    const group = new WorkerGroup(o, threads);
    const started: Promise<void>[] = [];
    const ready: Promise<void>[] = [];
    for (let index = 0; index < count; index++) {
      const workerData: ThreadData = { module, exportName: o.exportName, arg: o.arg, index, count };
      const options = { workerData, resourceLimits: o.resourceLimits };
      // Running from TypeScript sources (tests, tsx): loader hooks do not reach worker threads on
      // Node 20, so the thread registers tsx itself before loading its entry.
      const worker = o.entry.pathname.endsWith('.ts')
        ? new Worker(
            `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(o.entry.href)}); });`,
            { ...options, eval: true },
          )
        : new Worker(o.entry, options);
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      const thread: Thread = { index, worker, exited, stopping: false, exitedYet: false, final: null };
      threads.push(thread);
      ready.push(
        new Promise((resolve) => worker.on('message', (m: ThreadMessage) => m.type === 'ready' && resolve())),
      );
      started.push(group.watch(thread));
    }
    try {
      // Every thread joins the group once all are ready: one rebalance, not one per thread.
      await Promise.race([Promise.all(ready), Promise.all(started)]);
      for (const t of threads) t.worker.postMessage({ type: 'join' } satisfies MainMessage);
      await Promise.all(started);
    } catch (err) {
      await group.close().catch(() => {});
      throw err;
    }
    return group;
  }

  /** Resolves when the thread has started its service; rejects when it fails or exits first. */
  private watch(t: Thread): Promise<void> {
    return new Promise((resolve, reject) => {
      let up = false;
      const fail = (err: Error) => {
        this.failure ??= err;
        if (!up) reject(err);
      };
      t.worker.on('message', (m: ThreadMessage) => {
        if (m.type === 'started') {
          up = true;
          resolve();
        } else if (m.type === 'failed') {
          fail(this.threadError(t.index, m.error));
        } else if (m.type === 'metrics') {
          this.pending.get(m.id)?.(m.metrics);
          this.pending.delete(m.id);
        } else if (m.type === 'closed') {
          t.final = m.metrics;
          void t.worker.terminate();
        }
      });
      t.worker.on('error', (err) => fail(this.threadError(t.index, serializeError(err))));
      t.worker.once('exit', (code) => {
        t.exitedYet = true;
        if (!t.stopping) {
          fail(
            new SluiceError(
              this.o.errorCode,
              `${this.o.label} ${t.index} exited (code ${code}) without being closed`,
            ),
          );
        }
      });
    });
  }

  private threadError(index: number, e: SerializedError): SluiceError {
    const cause = Object.assign(new Error(e.message), { name: e.name, code: e.code, stack: e.stack });
    return new SluiceError(this.o.errorCode, `${this.o.label} ${index}: ${e.message}`, { cause });
  }

  get size(): number {
    return this.threads.length;
  }

  /**
   * Why processing stopped: the first thread's failure (`errorCode`, the thread's own error as
   * cause), or null while every thread runs. `close()` is still needed.
   */
  get error(): Error | null {
    return this.failure;
  }

  /**
   * The threads' metrics added up into one registry (counters and histograms summed across
   * threads, as prom-client aggregates a cluster's workers). A thread that was closed counts with
   * the metrics it had when it closed; one that failed and ended, not at all.
   */
  async metrics(): Promise<Registry> {
    const parts = await Promise.all(
      this.threads.map(
        (t) =>
          new Promise<Metrics>((resolve) => {
            if (t.final) return resolve(t.final);
            if (t.exitedYet) return resolve([]);
            const id = this.nextRequest++;
            this.pending.set(id, resolve);
            t.worker.postMessage({ type: 'metrics', id } satisfies MainMessage);
            // A thread that exits meanwhile never answers.
            void t.exited.then(() => {
              if (this.pending.delete(id)) resolve([]);
            });
          }),
      ),
    );
    return AggregatorRegistry.aggregate(parts);
  }

  /**
   * Closes every thread's service (each finishes its in-flight work; one still starting gives up
   * before joining its group), then ends the threads.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const timeout = this.o.closeTimeoutMs ?? 60_000;
      await Promise.all(
        this.threads.map(async (t) => {
          t.stopping = true;
          if (t.exitedYet) return;
          t.worker.postMessage({ type: 'close' } satisfies MainMessage);
          const timer = setTimeout(() => void t.worker.terminate(), timeout);
          await t.exited;
          clearTimeout(timer);
        }),
      );
    })();
    return this.closing;
  }
}

/**
 * What StreamThreads and ProjectionThreads hand their users: the group's first failure, its
 * threads' metrics summed into one registry (as prom-client aggregates a cluster's workers; a
 * thread that was closed counts with the metrics it had when it closed, one that failed and
 * ended not at all), and close (each thread closes what it runs, then the threads end).
 */
export class ThreadGroupHandle {
  protected constructor(protected readonly group: WorkerGroup) {}

  /** The first thread's failure (the group's error code, the thread's own error as cause), or null. `close()` is still needed. */
  get error(): Error | null {
    return this.group.error;
  }

  metrics(): Promise<Registry> {
    return this.group.metrics();
  }

  close(): Promise<void> {
    return this.group.close();
  }
}

export function serializeError(err: unknown): SerializedError {
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message, code: (e as { code?: string }).code, stack: e.stack };
}

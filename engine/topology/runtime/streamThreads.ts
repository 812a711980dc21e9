import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';
import { SluiceError } from '../../errors.js';
import type { StreamsAppOptions } from './streamsApp.js';

/**
 * Kafka Streams' num.stream.threads for Node: one application instance running its topology
 * on several threads (worker_threads), each a StreamsApp of its own: its own consumer (a member
 * of the application's group, so the group spreads the tasks over the threads), producers,
 * stores and event loop. A topology holds functions, which cannot cross threads, so each thread
 * builds its own from a module: `module` exports `exportName`, a factory called in every thread
 * with `arg` (structured-cloneable) and the thread's index.
 */
export interface StreamThreadsOptions {
  /** Path or URL of the module that exports the factory (TypeScript under tsx, or compiled). */
  module: string | URL;
  /** The export to call; default `createStreamsApp`. */
  exportName?: string;
  /** Handed to the factory in every thread. */
  arg?: unknown;
  /** Threads to run, >= 1. */
  numStreamThreads: number;
}

/** What the module's export looks like. */
export type StreamsAppFactory<A = unknown> = (
  arg: A,
  thread: { index: number; count: number },
) => StreamsAppOptions | Promise<StreamsAppOptions>;

/** Messages a stream thread posts to the main thread. */
export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'started' }
  | { type: 'failed'; error: SerializedError }
  | { type: 'metrics'; id: number; metrics: Metrics }
  | { type: 'closed'; metrics: Metrics };

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

/** Messages the main thread posts to a stream thread. */
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

const CLOSE_TIMEOUT_MS = 60_000;

/** The thread entry next to this file, in the same flavour (.ts under tsx, .js compiled). */
function threadEntry(): URL {
  const ext = extname(fileURLToPath(import.meta.url));
  return new URL(`./streamThread${ext}`, import.meta.url);
}

export class StreamThreads {
  private failure: Error | null = null;
  private nextRequest = 0;
  private readonly pending = new Map<number, (m: Metrics) => void>();
  private closing: Promise<void> | null = null;

  private constructor(private readonly threads: Thread[]) {}

  /** Starts every thread and resolves once each one's StreamsApp has started. */
  static async start(o: StreamThreadsOptions): Promise<StreamThreads> {
    const count = o.numStreamThreads;
    if (!Number.isInteger(count) || count < 1) {
      throw new SluiceError(
        'SLUICE_TOPOLOGY_CONFIG',
        `numStreamThreads must be an integer >= 1, got ${count}`,
      );
    }
    const module =
      o.module instanceof URL || /^[a-z]+:/i.test(o.module) ? String(o.module) : pathToFileURL(o.module).href;
    const threads: Thread[] = [];
    const app = new StreamThreads(threads);
    const started: Promise<void>[] = [];
    const ready: Promise<void>[] = [];
    for (let index = 0; index < count; index++) {
      const workerData = { module, exportName: o.exportName ?? 'createStreamsApp', arg: o.arg, index, count };
      const entry = threadEntry();
      // Running from TypeScript sources (tests, tsx): loader hooks do not reach worker threads on
      // Node 20, so the thread registers tsx itself before loading its entry.
      const worker = entry.pathname.endsWith('.ts')
        ? new Worker(
            `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`,
            { eval: true, workerData },
          )
        : new Worker(entry, { workerData });
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      const thread: Thread = { index, worker, exited, stopping: false, exitedYet: false, final: null };
      threads.push(thread);
      ready.push(
        new Promise((resolve) => worker.on('message', (m: ThreadMessage) => m.type === 'ready' && resolve())),
      );
      started.push(app.watch(thread));
    }
    try {
      // Every thread joins the group once all are ready: one rebalance, not one per thread.
      await Promise.race([Promise.all(ready), Promise.all(started)]);
      for (const t of threads) t.worker.postMessage({ type: 'join' } satisfies MainMessage);
      await Promise.all(started);
    } catch (err) {
      await app.close().catch(() => {});
      throw err;
    }
    return app;
  }

  /** Resolves when the thread has started its app; rejects when it fails or exits first. */
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
          fail(threadError(t.index, m.error));
        } else if (m.type === 'metrics') {
          this.pending.get(m.id)?.(m.metrics);
          this.pending.delete(m.id);
        } else if (m.type === 'closed') {
          t.final = m.metrics;
          void t.worker.terminate();
        }
      });
      t.worker.on('error', (err) => fail(threadError(t.index, serializeError(err))));
      t.worker.once('exit', (code) => {
        t.exitedYet = true;
        if (!t.stopping) {
          fail(
            new SluiceError(
              'SLUICE_TOPOLOGY_THREAD_FAILED',
              `stream thread ${t.index} exited (code ${code}) without being closed`,
            ),
          );
        }
      });
    });
  }

  get numStreamThreads(): number {
    return this.threads.length;
  }

  /**
   * Why processing stopped: the first thread's failure (SLUICE_TOPOLOGY_THREAD_FAILED, the
   * thread's own error as cause), or null while every thread runs. `close()` is still needed.
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

  /** Closes every thread's app (each commits its in-flight work), then ends the threads. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(
        this.threads.map(async (t) => {
          t.stopping = true;
          if (t.exitedYet) return;
          t.worker.postMessage({ type: 'close' } satisfies MainMessage);
          const timer = setTimeout(() => void t.worker.terminate(), CLOSE_TIMEOUT_MS);
          await t.exited;
          clearTimeout(timer);
        }),
      );
    })();
    return this.closing;
  }
}

export function serializeError(err: unknown): SerializedError {
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message, code: (e as { code?: string }).code, stack: e.stack };
}

function threadError(index: number, e: SerializedError): SluiceError {
  const cause = Object.assign(new Error(e.message), { name: e.name, code: e.code, stack: e.stack });
  return new SluiceError('SLUICE_TOPOLOGY_THREAD_FAILED', `stream thread ${index}: ${e.message}`, { cause });
}

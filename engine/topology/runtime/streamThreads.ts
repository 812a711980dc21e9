import type { ResourceLimits } from 'node:worker_threads';
import type { Registry } from 'prom-client';
import { SluiceError } from '../../errors.js';
import type { ThreadFactory } from '../../threads/hostThread.js';
import { entryNextTo, WorkerGroup } from '../../threads/workerGroup.js';
import type { StreamsAppOptions } from './streamsApp.js';

export type {
  MainMessage,
  SerializedError,
  ThreadMessage,
} from '../../threads/workerGroup.js';
export { serializeError } from '../../threads/workerGroup.js';

/**
 * Kafka Streams' num.stream.threads for Node: one application instance running its topology
 * on several threads (worker_threads), each a StreamsApp of its own: its own consumer (a member
 * of the application's group, so the group spreads the tasks over the threads), producers,
 * stores and event loop. A topology holds functions, which cannot cross threads, so each thread
 * builds its own from a module: `module` exports `exportName`, a factory called in every thread
 * with `arg` (structured-cloneable) and the thread's index. The threads are a WorkerGroup
 * (engine/threads), each running ./streamThread.
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
  /** Passed to every thread's `new Worker` (e.g. `maxYoungGenerationSizeMb`). */
  resourceLimits?: ResourceLimits;
}

/** What the module's export looks like. */
export type StreamsAppFactory<A = unknown> = ThreadFactory<StreamsAppOptions, A>;

export class StreamThreads {
  private constructor(private readonly group: WorkerGroup) {}

  /** Starts every thread and resolves once each one's StreamsApp has started. */
  static async start(o: StreamThreadsOptions): Promise<StreamThreads> {
    const count = o.numStreamThreads;
    if (!Number.isInteger(count) || count < 1) {
      throw new SluiceError(
        'SLUICE_TOPOLOGY_CONFIG',
        `numStreamThreads must be an integer >= 1, got ${count}`,
      );
    }
    const group = await WorkerGroup.start({
      entry: entryNextTo(import.meta.url, 'streamThread'),
      module: o.module,
      exportName: o.exportName ?? 'createStreamsApp',
      arg: o.arg,
      count,
      label: 'stream thread',
      errorCode: 'SLUICE_TOPOLOGY_THREAD_FAILED',
      resourceLimits: o.resourceLimits,
    });
    return new StreamThreads(group);
  }

  get numStreamThreads(): number {
    return this.group.size;
  }

  /**
   * Why processing stopped: the first thread's failure (SLUICE_TOPOLOGY_THREAD_FAILED, the
   * thread's own error as cause), or null while every thread runs. `close()` is still needed.
   */
  get error(): Error | null {
    return this.group.error;
  }

  /**
   * The threads' metrics added up into one registry (counters and histograms summed across
   * threads, as prom-client aggregates a cluster's workers). A thread that was closed counts with
   * the metrics it had when it closed; one that failed and ended, not at all.
   */
  metrics(): Promise<Registry> {
    return this.group.metrics();
  }

  /** Closes every thread's app (each commits its in-flight work), then ends the threads. */
  close(): Promise<void> {
    return this.group.close();
  }
}

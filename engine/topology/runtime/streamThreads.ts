import type { ResourceLimits } from 'node:worker_threads';
import { SluiceError } from '../../errors.js';
import type { ThreadFactory } from '../../threads/hostThread.js';
import { entryNextTo, ThreadGroupHandle, WorkerGroup } from '../../threads/workerGroup.js';
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

export class StreamThreads extends ThreadGroupHandle {
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
}

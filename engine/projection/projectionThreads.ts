import type { ResourceLimits } from 'node:worker_threads';
import type { ThreadFactory } from '../threads/hostThread.js';
import { entryNextTo, ThreadGroupHandle, WorkerGroup } from '../threads/workerGroup.js';
import { ProjectionError } from './errors.js';
import type { ProjectionRunnerOptions } from './runner.js';

/**
 * One projection on several worker threads of this process, as Kafka Streams' num.stream.threads
 * or Kafka Connect's tasks.max, so a CPU-bound projection (decoding, folding, encoding rows) uses
 * more than one core. Each thread runs a ProjectionRunner of its own: a member of the
 * projection's consumer group (the group spreads the partitions over the threads), with its own
 * pg Pool, producer and event loop. A definition holds functions, which cannot cross threads, so
 * each thread builds its runner options from a module: `module` exports `exportName`, a factory
 * called in every thread with `arg` (structured-cloneable) and the thread's index. The threads
 * are a WorkerGroup (engine/threads), each running ./projectionThread.
 */
export interface ProjectionThreadsOptions {
  /** Path or URL of the module that exports the factory (TypeScript under tsx, or compiled). */
  module: string | URL;
  /** The export to call; default `createProjection`. */
  exportName?: string;
  /** Handed to the factory in every thread. */
  arg?: unknown;
  /** Threads to run, >= 1. */
  threads: number;
  /**
   * Passed to every thread's `new Worker`: e.g. `maxYoungGenerationSizeMb`, a young generation
   * bigger than the process default (a batch keeps many objects alive across scavenges).
   */
  resourceLimits?: ResourceLimits;
}

/**
 * What the module's export looks like. The thread owns what the options hold: when it closes,
 * it closes the runner, then ends `pool`.
 */
export type ProjectionRunnerFactory<A = unknown> = ThreadFactory<ProjectionRunnerOptions, A>;

export class ProjectionThreads extends ThreadGroupHandle {
  /** Starts every thread and resolves once each one's runner has joined the group. */
  static async start(o: ProjectionThreadsOptions): Promise<ProjectionThreads> {
    if (!Number.isInteger(o.threads) || o.threads < 1) {
      throw new ProjectionError(
        'SLUICE_PROJECTION_THREADS_CONFIG',
        `threads must be an integer >= 1, got ${o.threads}`,
      );
    }
    const group = await WorkerGroup.start({
      entry: entryNextTo(import.meta.url, 'projectionThread'),
      module: o.module,
      exportName: o.exportName ?? 'createProjection',
      arg: o.arg,
      count: o.threads,
      label: 'projection thread',
      errorCode: 'SLUICE_PROJECTION_THREAD_FAILED',
      resourceLimits: o.resourceLimits,
    });
    return new ProjectionThreads(group);
  }

  get threads(): number {
    return this.group.size;
  }
}

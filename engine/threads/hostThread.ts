/**
 * The worker side of a WorkerGroup (engine/threads/workerGroup.ts). A thread entry calls
 * `hostThread(start)`: this imports the factory module, builds the options with its factory,
 * calls `start(options, beforeJoin)` (the service awaits `beforeJoin` right before joining its
 * group), answers for the thread's metrics, reports the first `error` of the started service,
 * and closes it on request.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { registry } from '../observability/metrics.js';
import {
  type MainMessage,
  serializeError,
  type ThreadData,
  type ThreadInfo,
  type ThreadMessage,
} from './workerGroup.js';

/** What a thread runs: a started service that reports a stop through `error`. */
export interface HostedService {
  readonly error: Error | null;
  close(): Promise<void>;
}

/** The factory a module exports: the service's options for one thread. */
export type ThreadFactory<O, A = unknown> = (arg: A, thread: ThreadInfo) => O | Promise<O>;

/** Starts the service; it must await `beforeJoin` after its setup and right before joining its group. */
export type StartService<O> = (options: O, beforeJoin: () => Promise<void>) => Promise<HostedService>;

class ClosedBeforeJoining extends Error {
  constructor() {
    super('closed before joining the group');
  }
}

export async function hostThread<O>(start: StartService<O>): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('hostThread runs in a worker thread of a WorkerGroup');
  const data = workerData as ThreadData;
  const post = (m: ThreadMessage) => port.postMessage(m);

  let service: HostedService | null = null;
  let closeRequested = false;
  let join: () => void = () => {};
  let abortJoin: (err: Error) => void = () => {};
  const joining = new Promise<void>((resolve, reject) => {
    join = resolve;
    abortJoin = reject;
  });
  joining.catch(() => {});

  const starting = (async () => {
    try {
      const mod = (await import(data.module)) as Record<string, unknown>;
      const factory = mod[data.exportName];
      if (typeof factory !== 'function') {
        throw new Error(`${data.module} does not export a function ${data.exportName}`);
      }
      const options = await (factory as ThreadFactory<O>)(data.arg, { index: data.index, count: data.count });
      if (closeRequested) throw new ClosedBeforeJoining();
      service = await start(options, async () => {
        post({ type: 'ready' });
        await joining;
      });
      post({ type: 'started' });
      // The service reports a stop through `error`: pass the first one on, once.
      const watch = setInterval(() => {
        if (!service?.error) return;
        clearInterval(watch);
        post({ type: 'failed', error: serializeError(service.error) });
      }, 100);
      watch.unref();
      return true;
    } catch (err) {
      // Closed while starting: the start gave up on purpose, nothing to report.
      if (!closeRequested) post({ type: 'failed', error: serializeError(err) });
      // Nothing runs here any more: let the thread end once what the factory opened is gone,
      // while still answering a close.
      port.unref();
      return false;
    }
  })();

  let closing: Promise<void> | null = null;
  /** Closes the service and hands over its final metrics; the main thread then ends this thread. */
  const close = () =>
    (closing ??= (async () => {
      const started = await starting;
      await service?.close().catch(() => {});
      // A thread that failed to start counts with no metrics.
      const metrics = started ? await registry.getMetricsAsJSON().catch(() => []) : [];
      post({ type: 'closed', metrics });
    })());

  port.on('message', (m: MainMessage) => {
    if (m.type === 'metrics') {
      registry.getMetricsAsJSON().then(
        (metrics) => post({ type: 'metrics', id: m.id, metrics }),
        () => post({ type: 'metrics', id: m.id, metrics: [] }),
      );
    } else if (m.type === 'join') {
      join();
    } else if (m.type === 'close') {
      closeRequested = true;
      // A thread waiting to join gives up: its start unwinds (and cleans up) without joining.
      abortJoin(new ClosedBeforeJoining());
      void close();
    }
  });
  await starting;
}

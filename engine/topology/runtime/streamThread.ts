/**
 * One stream thread of a StreamThreads app (worker_threads entry): builds the app's options
 * from the factory module, runs a StreamsApp, answers for its metrics and closes it on request.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { registry } from '../../observability/metrics.js';
import { StreamsApp } from './streamsApp.js';
import {
  type MainMessage,
  type StreamsAppFactory,
  serializeError,
  type ThreadMessage,
} from './streamThreads.js';

interface ThreadData {
  module: string;
  exportName: string;
  arg: unknown;
  index: number;
  count: number;
}

const port = parentPort;
if (!port) throw new Error('streamThread runs as a worker thread of StreamThreads');
const data = workerData as ThreadData;
const post = (m: ThreadMessage) => port.postMessage(m);

let app: StreamsApp | null = null;
let join: () => void = () => {};
const joining = new Promise<void>((resolve) => {
  join = resolve;
});

/** Closes the app and hands over its final metrics; the main thread then ends this thread. */
async function close(): Promise<void> {
  await app?.close().catch(() => {});
  const metrics = await registry.getMetricsAsJSON().catch(() => []);
  post({ type: 'closed', metrics });
}

port.on('message', (m: MainMessage) => {
  if (m.type === 'metrics') {
    registry.getMetricsAsJSON().then(
      (metrics) => post({ type: 'metrics', id: m.id, metrics }),
      () => post({ type: 'metrics', id: m.id, metrics: [] }),
    );
  } else if (m.type === 'join') {
    join();
  } else if (m.type === 'close') {
    join();
    void close();
  }
});

try {
  const mod = (await import(data.module)) as Record<string, unknown>;
  const factory = mod[data.exportName];
  if (typeof factory !== 'function') {
    throw new Error(`${data.module} does not export a function ${data.exportName}`);
  }
  const opts = await (factory as StreamsAppFactory)(data.arg, { index: data.index, count: data.count });
  app = await StreamsApp.start({
    ...opts,
    beforeJoin: async () => {
      await opts.beforeJoin?.();
      post({ type: 'ready' });
      await joining;
    },
  });
  post({ type: 'started' });
  // StreamsApp reports a stop through `error`: pass the first one on, once.
  const watch = setInterval(() => {
    if (!app?.error) return;
    clearInterval(watch);
    post({ type: 'failed', error: serializeError(app.error) });
  }, 100);
  watch.unref();
} catch (err) {
  post({ type: 'failed', error: serializeError(err) });
  await app?.close().catch(() => {});
  port.close();
}

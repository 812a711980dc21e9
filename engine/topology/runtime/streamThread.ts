/**
 * One stream thread of a StreamThreads app (worker_threads entry): builds the app's options
 * from the factory module and runs a StreamsApp (see engine/threads/hostThread.ts).
 */
import { hostThread } from '../../threads/hostThread.js';
import { StreamsApp, type StreamsAppOptions } from './streamsApp.js';

await hostThread<StreamsAppOptions>((opts, beforeJoin) =>
  StreamsApp.start({
    ...opts,
    beforeJoin: async () => {
      await opts.beforeJoin?.();
      await beforeJoin();
    },
  }),
);

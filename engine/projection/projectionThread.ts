/**
 * One thread of ProjectionThreads (worker_threads entry): builds the runner's options from the
 * factory module and runs a ProjectionRunner (see engine/threads/hostThread.ts). The pool in the
 * options was made for this thread: it is ended once the runner is closed.
 */
import { hostThread } from '../threads/hostThread.js';
import { ProjectionRunner, type ProjectionRunnerOptions } from './runner.js';

await hostThread<ProjectionRunnerOptions>(async (opts, beforeJoin) => {
  const endPool = () => opts.pool.end().catch(() => {});
  let runner: ProjectionRunner;
  try {
    runner = await ProjectionRunner.start({
      ...opts,
      beforeJoin: async () => {
        await opts.beforeJoin?.();
        await beforeJoin();
      },
    });
  } catch (err) {
    await endPool();
    throw err;
  }
  return {
    get error() {
      return runner.error;
    },
    async close() {
      await runner.close();
      await endPool();
    },
  };
});

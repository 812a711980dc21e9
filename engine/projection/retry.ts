import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { classifyWriteError } from './pgErrors.js';

/** Capped exponential backoff with jitter: 50–100 ms, then doubling up to 2.5–5 s. */
export function backoffMs(attempt: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
}

/** A failure waiting can fix: the database's transient errors, or any error marked `retriable` (kafkajs, codec). */
export function isRetriable(err: unknown): boolean {
  return (
    (err as { retriable?: boolean } | null)?.retriable === true || classifyWriteError(err) === 'transient'
  );
}

/** Runs `fn` until it succeeds, retrying retriable failures with backoff while `keepTrying()` holds. */
export async function retrying<T>(
  what: string,
  fn: () => Promise<T>,
  opts: { log: Logger; keepTrying(): boolean; onRetry(err: unknown): void },
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetriable(err) || !opts.keepTrying()) throw err;
      opts.onRetry(err);
      const delayMs = Math.round(backoffMs(attempt));
      opts.log.warn({ err, attempt: attempt + 1, delayMs }, `transient failure ${what}; retrying`);
      await sleep(delayMs);
    }
  }
}

/**
 * A cache of inference results by key (callers key by input content hash and model version, so
 * an entry is never stale: a new model version is a new key). In memory (an LRU) by default;
 * Redis when a URL is given, shared by every instance. The cache is an optimisation: a Redis
 * that is down or slow fails its command fast (no offline queue, a command timeout), and
 * callers treat a failed read as a miss.
 */
import { createClient } from 'redis';
import { SluiceError } from '../errors.js';
import { LruCache } from './lruCache.js';

export interface ResultCache<T> {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<T | undefined>;
  set(key: string, value: T): Promise<void>;
  close(): Promise<void>;
}

export interface ResultCacheOptions {
  /** `redis://…` (or `rediss://`); unset: in memory. */
  redisUrl?: string;
  /** Prefix of every Redis key. Default `sluice:inference:`. */
  keyPrefix?: string;
  /** Seconds an entry lives. Default 86,400 (a day). */
  ttlSeconds?: number;
  /** In memory: most entries kept. Default 10,000. */
  maxEntries?: number;
  /** Redis: milliseconds before a command fails. Default 500. */
  commandTimeoutMs?: number;
  /** Called with Redis connection errors (the client reconnects by itself). */
  onError?: (err: Error) => void;
}

export class MemoryResultCache<T> implements ResultCache<T> {
  readonly kind = 'memory';
  private readonly lru: LruCache<string, T>;

  constructor(opts: { maxEntries?: number; ttlSeconds?: number } = {}) {
    this.lru = new LruCache({
      maxEntries: opts.maxEntries ?? 10_000,
      ttlMs: (opts.ttlSeconds ?? 86_400) * 1000,
    });
  }

  async get(key: string): Promise<T | undefined> {
    return this.lru.get(key);
  }

  async set(key: string, value: T): Promise<void> {
    this.lru.set(key, value);
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}

function redisClient(opts: ResultCacheOptions & { redisUrl: string }, connected: () => boolean) {
  return createClient({
    url: opts.redisUrl,
    disableOfflineQueue: true,
    commandOptions: { timeout: opts.commandTimeoutMs ?? 500 },
    socket: {
      connectTimeout: 5_000,
      // Before the first connection a failure is final (a wrong URL is told at start); after it,
      // the client reconnects with backoff and commands fail fast meanwhile (cache misses).
      reconnectStrategy: (retries: number, cause: Error) =>
        connected() ? Math.min(100 * 2 ** retries, 5_000) : cause,
    },
  });
}

type Redis = ReturnType<typeof redisClient>;

/** Values as JSON under `<keyPrefix><key>`, each with the TTL. */
export class RedisResultCache<T> implements ResultCache<T> {
  readonly kind = 'redis';

  private constructor(
    private readonly client: Redis,
    readonly keyPrefix: string,
    private readonly ttlSeconds: number,
  ) {}

  static async connect<T>(opts: ResultCacheOptions & { redisUrl: string }): Promise<RedisResultCache<T>> {
    let connected = false;
    const client = redisClient(opts, () => connected);
    // Without a listener an 'error' event would crash the process; the client reconnects itself.
    client.on('error', (err: Error) => opts.onError?.(err));
    try {
      await client.connect();
    } catch (err) {
      throw new SluiceError(
        'SLUICE_CACHE_UNAVAILABLE',
        `cannot connect to Redis at ${redactUrl(opts.redisUrl)}: ${(err as Error).message}`,
        { retriable: true, cause: err },
      );
    }
    connected = true;
    return new RedisResultCache<T>(client, opts.keyPrefix ?? 'sluice:inference:', opts.ttlSeconds ?? 86_400);
  }

  async get(key: string): Promise<T | undefined> {
    const raw = await this.client.get(this.keyPrefix + key);
    return raw === null || raw === undefined ? undefined : (JSON.parse(String(raw)) as T);
  }

  async set(key: string, value: T): Promise<void> {
    await this.client.set(this.keyPrefix + key, JSON.stringify(value), {
      expiration: { type: 'EX', value: this.ttlSeconds },
    });
  }

  /** Seconds left of an entry (-2: none), for tests and operators. */
  async ttl(key: string): Promise<number> {
    return Number(await this.client.ttl(this.keyPrefix + key));
  }

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.close();
  }
}

/** Redis when `redisUrl` is set, else in memory. */
export async function createResultCache<T>(opts: ResultCacheOptions = {}): Promise<ResultCache<T>> {
  if (opts.redisUrl) return RedisResultCache.connect<T>({ ...opts, redisUrl: opts.redisUrl });
  return new MemoryResultCache<T>(opts);
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an invalid URL)';
  }
}

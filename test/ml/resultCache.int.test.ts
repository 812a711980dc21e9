import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { createClient } from 'redis';
import { RedisResultCache } from '../../engine/ml/resultCache.js';
import { freePort } from '../helpers/broker.js';

const REDIS = { host: '127.0.0.1', port: 6379 };

/** A TCP proxy to the Redis server that the test can cut, as a network failure would. */
async function proxy(): Promise<{ url: string; cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(REDIS);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `redis://127.0.0.1:${port}`,
    cut: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe('RedisResultCache (the Redis server on 127.0.0.1:6379)', () => {
  it('stores JSON under its prefix with a TTL; a lost Redis fails commands fast, not hangs', async () => {
    const link = await proxy();
    const prefix = `sluice-test-${randomUUID()}:`;
    const errors: string[] = [];
    const cache = await RedisResultCache.connect<{ probabilities: number[] }>({
      redisUrl: link.url,
      keyPrefix: prefix,
      ttlSeconds: 30,
      onError: (e) => errors.push(e.message),
    });
    const admin = createClient({ url: `redis://${REDIS.host}:${REDIS.port}` });
    await admin.connect();
    try {
      assert.equal(await cache.get('k'), undefined);
      await cache.set('k', { probabilities: [0.25, 0.75] });
      assert.deepEqual(await cache.get('k'), { probabilities: [0.25, 0.75] });
      assert.equal(await admin.get(`${prefix}k`), '{"probabilities":[0.25,0.75]}');
      const ttl = await cache.ttl('k');
      assert.ok(ttl > 0 && ttl <= 30, `ttl ${ttl}`);

      await link.cut();
      const started = Date.now();
      await assert.rejects(cache.get('k'));
      await assert.rejects(cache.set('k2', { probabilities: [1] }));
      assert.ok(Date.now() - started < 2_000, `failed after ${Date.now() - started} ms`);
    } finally {
      await admin.del(`${prefix}k`);
      await admin.close();
      await cache.close().catch(() => {});
    }
  });

  it('a Redis that cannot be reached at start is a clear error, at once', async () => {
    const port = await freePort();
    const started = Date.now();
    await assert.rejects(
      RedisResultCache.connect({ redisUrl: `redis://:secret@127.0.0.1:${port}` }),
      (err: Error & { code: string }) => {
        assert.equal(err.code, 'SLUICE_CACHE_UNAVAILABLE');
        assert.match(err.message, /cannot connect to Redis at redis:\/\/:\*\*\*@127\.0\.0\.1/);
        assert.doesNotMatch(err.message, /secret/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 2_000);
  });
});

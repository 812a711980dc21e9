import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { pino } from 'pino';
import { type RunningRegistry, startRegistry } from '../../engine/registry/index.js';
import { kafkaClient } from '../helpers/broker.js';
import { body, dump, eventually, http, record, withRegistry } from './helpers.js';

/** A registry instance whose log lines are kept, to count lost races. */
async function instance(bootstrap: string, lines: string[]): Promise<RunningRegistry> {
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return startRegistry({ port: 0, bootstrapServers: [bootstrap], logger: pino({ level: 'info' }, sink) });
}

/** An embedded broker and registry, plus instances that are all closed by `stop`. */
async function cluster(brokerConfig: Parameters<typeof withRegistry>[0] = {}) {
  const env = await withRegistry(brokerConfig);
  const lines: string[] = [];
  const running: RunningRegistry[] = [];
  return {
    env,
    lines,
    async instance() {
      const r = await instance(env.env.bootstrap, lines);
      running.push(r);
      return r;
    },
    async stop() {
      await Promise.allSettled(running.map((r) => r.close()));
      await env.stop();
    },
  };
}

/** Every record of the single-partition topic, and its end offset. */
async function readTopic(kafka: Kafka, topic: string): Promise<{ offsets: number[]; end: number }> {
  const admin = kafka.admin();
  await admin.connect();
  const [{ high }] = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const end = Number(high);
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const offsets: number[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${offsets.length} records, not up to ${end}`)),
        10_000,
      );
      consumer
        .run({
          eachMessage: async ({ message }) => {
            offsets.push(Number(message.offset));
            if (Number(message.offset) >= end - 1) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return { offsets, end };
}

const schemaFor = (owner: string, i: number) =>
  record('Race', [{ name: i % 2 === 0 ? `shared${i}` : `${owner}${i}`, type: 'int' }]);
const subjectFor = (i: number) => `race-${i % 5}`;

/** A and B register `n` schemas each, all at once; even-numbered ones are the same on both. */
async function race(a: RunningRegistry, b: RunningRegistry, n: number) {
  const jobs: Promise<{ owner: string; i: number; status: number; id: number; error: unknown }>[] = [];
  for (let i = 0; i < n; i++) {
    for (const [owner, reg] of [
      ['a', a],
      ['b', b],
    ] as const) {
      jobs.push(
        http(reg.url)
          .post(`/subjects/${subjectFor(i)}/versions`, body(schemaFor(owner, i)))
          .then((res) => ({
            owner,
            i,
            status: res.status,
            id: res.body.id,
            error: res.status === 200 ? undefined : res.body,
          })),
      );
    }
  }
  return Promise.all(jobs);
}

function assertRaceOutcome(results: Awaited<ReturnType<typeof race>>, n: number): void {
  assert.deepEqual(
    results.filter((r) => r.status !== 200),
    [],
  );
  const idOf = new Map<string, number>();
  for (const r of results) {
    const key = JSON.stringify(schemaFor(r.owner, r.i));
    if (idOf.has(key)) assert.equal(r.id, idOf.get(key), `one id for ${key}`);
    idOf.set(key, r.id);
  }
  // n/2 shared schemas plus n/2 own ones on each side, each with its own id, no gaps.
  const distinct = n / 2 + n;
  assert.equal(idOf.size, distinct);
  assert.deepEqual(
    [...idOf.values()].sort((x, y) => x - y),
    [...Array(distinct).keys()].map((i) => i + 1),
  );
}

async function converged(a: RunningRegistry, b: RunningRegistry) {
  let last: [unknown, unknown] = [null, null];
  await eventually(
    async () => {
      last = [await dump(a.url), await dump(b.url)];
      return JSON.stringify(last[0]) === JSON.stringify(last[1]);
    },
    10_000,
    'identical state on both instances',
  );
  return last[0] as Awaited<ReturnType<typeof dump>>;
}

describe('the registry across restarts and instances', () => {
  it('keeps ids, versions, deletes and settings across a restart', async () => {
    const env = await withRegistry();
    try {
      const h = env.http;
      await h.put('/config', { compatibility: 'NONE' });
      for (let i = 0; i < 6; i++) {
        assert.deepEqual((await h.post(`/subjects/r-${i % 2}/versions`, body(schemaFor('r', i)))).body, {
          id: i + 1,
        });
      }
      await h.del('/subjects/r-0/versions/2');
      await h.del('/subjects/r-1');
      await h.put('/config/r-0', { compatibility: 'NONE' });
      await h.put('/mode/r-1', { mode: 'READONLY' });
      const before = await dump(env.url);
      await env.registry.close();

      const again = await env.start();
      assert.deepEqual(await dump(again.url), before);
      const h2 = http(again.url);
      assert.deepEqual((await h2.get('/config/r-0')).body, { compatibilityLevel: 'NONE' });
      assert.deepEqual((await h2.get('/mode/r-1')).body, { mode: 'READONLY' });
      assert.deepEqual((await h2.get('/subjects/r-0/versions?deleted=true')).body, [1, 2, 3]);
      assert.deepEqual((await h2.post('/subjects/r-0/versions', body(schemaFor('r', 6)))).body, { id: 7 });
      assert.deepEqual((await h2.get('/subjects/r-0/versions')).body, [1, 3, 4]);
    } finally {
      await env.stop();
    }
  });

  it('two instances registering concurrently agree on every id and version', async (t) => {
    const { env, lines, ...c } = await cluster();
    try {
      await env.http.put('/config', { compatibility: 'NONE' });
      const a = await c.instance();
      const b = await c.instance();
      const n = 20;
      assertRaceOutcome(await race(a, b, n), n);
      const state = await converged(a, b);
      for (let j = 0; j < 5; j++) {
        const expected = new Set<string>();
        for (let i = j; i < n; i += 5) {
          expected.add(JSON.stringify(schemaFor('a', i)));
          expected.add(JSON.stringify(schemaFor('b', i)));
        }
        const versions = state.subjects[subjectFor(j)] as { version: number; schema: string }[];
        assert.deepEqual(
          versions.map((v) => v.version),
          [...Array(expected.size).keys()].map((i) => i + 1),
        );
        assert.deepEqual(new Set(versions.map((v) => v.schema)), expected);
      }
      const retries = lines.filter((l) => l.includes('a concurrent write landed first'));
      const longest = Math.max(...retries.map((l) => JSON.parse(l).attempt as number));
      t.diagnostic(`${retries.length} lost races, at most ${longest} in a row`);
      assert.ok(retries.length > 0, 'the instances raced');
      // A third instance reads the same state from the log.
      assert.deepEqual(await dump((await c.instance()).url), state);
    } finally {
      await c.stop();
    }
  });

  it('a compacted topic replays to the same state, stray conflicting records included', async () => {
    const { env, lines, ...cl } = await cluster({
      'log.segment.bytes': 1024,
      'log.cleaner.backoff.ms': 50,
      'log.cleaner.delete.retention.ms': 0,
    });
    const kafka = kafkaClient(env.env.bootstrap);
    try {
      await env.http.put('/config', { compatibility: 'NONE' });
      const a = await cl.instance();
      const b = await cl.instance();
      assertRaceOutcome(await race(a, b, 10), 10);

      // Deletes soft and hard, settings changed and changed back, a re-registration.
      const ha = http(a.url);
      const hb = http(b.url);
      assert.equal((await ha.del('/subjects/race-0/versions/1')).status, 200);
      assert.equal((await hb.del('/subjects/race-0/versions/1?permanent=true')).status, 200);
      assert.equal((await ha.del('/subjects/race-1')).status, 200);
      assert.equal((await hb.del('/subjects/race-1?permanent=true')).status, 200);
      assert.equal((await ha.del('/subjects/race-2/versions/2')).status, 200);
      assert.equal((await hb.put('/config/race-3', { compatibility: 'FULL' })).status, 200);
      assert.equal((await ha.put('/config/race-3', { compatibility: 'FORWARD' })).status, 200);
      assert.equal((await hb.put('/mode/race-4', { mode: 'READONLY' })).status, 200);
      assert.equal((await ha.post('/subjects/race-1/versions', body(schemaFor('a', 1)))).status, 200);

      // A stray record a crashed writer could have left: version 1 of race-2 with another schema.
      const producer = kafka.producer();
      await producer.connect();
      const stray = {
        subject: 'race-2',
        version: 1,
        id: 999,
        schema: JSON.stringify(schemaFor('z', 0)),
        deleted: false,
      };
      await producer.send({
        topic: '_schemas',
        messages: [
          {
            key: JSON.stringify({
              keytype: 'SCHEMA',
              subject: 'race-2',
              version: 1,
              magic: 1,
              nonce: randomUUID(),
            }),
            value: JSON.stringify(stray),
          },
        ],
      });
      await producer.disconnect();
      const state = await converged(a, b);
      assert.ok((state.subjects['race-2'] as { id: number }[]).every((v) => v.id !== 999));
      assert.equal((await ha.get('/schemas/ids/999')).body.error_code, 40403);

      // A new instance removes the stray record; then wait for the cleaner to compact the topic.
      const c = await cl.instance();
      assert.deepEqual(await dump(c.url), state);
      assert.ok(lines.some((l) => l.includes('removing rejected records')));
      await eventually(
        async () => {
          const { offsets, end } = await readTopic(kafka, '_schemas');
          return offsets.length < end * 0.7;
        },
        20_000,
        'the schemas topic compacted',
      );
      const d = await cl.instance();
      assert.deepEqual(await dump(d.url), state);
    } finally {
      await cl.stop();
    }
  });
});

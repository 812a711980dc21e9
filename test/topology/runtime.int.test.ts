/**
 * The Kafka runtime (StreamsApp) end to end on the embedded broker: dead letters, late records,
 * slow async operators, exactly-once stateful processing checked against the TopologyTestDriver,
 * state restored from changelogs, and at-least-once. Each test starts its own broker.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { AvroSerializer } from '../../engine/codec/index.js';
import { SluiceError } from '../../engine/errors.js';
import { registry as metricsRegistry } from '../../engine/observability/metrics.js';
import { RegistryClient } from '../../engine/registry/index.js';
import {
  avroSerde,
  type KStream,
  SerdeError,
  Serdes,
  StreamsApp,
  type StreamsAppOptions,
  StreamsBuilder,
  TimeWindows,
  type Topology,
  TopologyTestDriver,
  type Windowed,
} from '../../engine/topology/index.js';
import { kafkaClient, tempDir, withBroker } from '../helpers/broker.js';
import { metricSum } from '../helpers/clicks.js';
import { withPlatform } from '../helpers/platform.js';
import { readAll, withAdmin } from '../helpers/readAll.js';

const str = Serdes.string();
const int64 = Serdes.int64();

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function createTopics(kafka: Kafka, topics: Record<string, number>): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    await admin.createTopics({
      topics: Object.entries(topics).map(([topic, numPartitions]) => ({ topic, numPartitions })),
      waitForLeaders: true,
    });
  });
}

type Outgoing = {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  timestamp?: number;
  partition?: number;
};

async function produce(kafka: Kafka, topic: string, messages: Outgoing[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({
        key: m.key ?? null,
        value: m.value,
        partition: m.partition,
        timestamp: m.timestamp === undefined ? undefined : String(m.timestamp),
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

/** Whether the application has committed every offset of `topics` up to their ends. */
async function caughtUp(kafka: Kafka, groupId: string, topics: string[]): Promise<boolean> {
  return withAdmin(kafka, async (admin) => {
    const committed = await admin.fetchOffsets({ groupId, topics });
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const e of ends) {
        const c = Number(mine.find((p) => p.partition === e.partition)?.offset ?? -1);
        if (Number(e.high) > 0 && c < Number(e.high)) return false;
      }
    }
    return true;
  });
}

async function waitCaughtUp(kafka: Kafka, groupId: string, topics: string[], timeoutMs = 30_000) {
  await waitFor(
    `${groupId} to commit ${topics.join(', ')} to the end`,
    () => caughtUp(kafka, groupId, topics),
    timeoutMs,
  );
}

/** The sum of a counter's values over the series matching `labels`. */
async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const metric = metricsRegistry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((s, v) => s + v.value, 0);
}

/** Starts an app on a fresh state directory; `stop` closes it and removes the directory. */
async function startApp(opts: Omit<StreamsAppOptions, 'stateDir'>) {
  const dir = tempDir('sluice-state-');
  const app = await StreamsApp.start({ ...opts, stateDir: dir.path });
  return {
    app,
    async stop() {
      await app.close();
      dir.remove();
    },
  };
}

const readingSchema = {
  type: 'record',
  name: 'Reading',
  namespace: 'sluice.test',
  fields: [
    { name: 'deviceId', type: 'string' },
    { name: 'value', type: 'double' },
  ],
};
const doubledSchema = {
  type: 'record',
  name: 'Doubled',
  namespace: 'sluice.test',
  fields: [
    { name: 'deviceId', type: 'string' },
    { name: 'doubled', type: 'double' },
  ],
};
type Reading = { deviceId: string; value: number };
type Doubled = { deviceId: string; doubled: number };

describe('StreamsApp on the embedded broker', () => {
  it('dead-letters undecodable Avro records with their reasons and original bytes, and goes on', async () => {
    const platform = await withPlatform();
    const kafka = kafkaClient(platform.bootstrap);
    const registry = new RegistryClient({ url: platform.registryUrl });
    let running: Awaited<ReturnType<typeof startApp>> | null = null;
    try {
      const input = 'sensors.reading.recorded';
      const output = 'sensors.reading.doubled';
      await createTopics(kafka, { [input]: 1, [output]: 1 });
      const writer = new AvroSerializer<Reading>(registry, `${input}-value`, readingSchema);
      const good = (i: number) => writer.encode({ deviceId: `d${i}`, value: i + 0.5 });
      const badMagic = Buffer.from(await good(100));
      badMagic[0] = 7;
      const randomBytes = Buffer.from('ff13a7c2d90e5b6f4811', 'hex');
      const unknownId = Buffer.from(await good(101));
      unknownId.writeInt32BE(987_654, 1);
      const truncated = (await good(102)).subarray(0, 8);
      // offsets:   0        1         2        3            4          5        6          7
      const values = [
        await good(0),
        badMagic,
        await good(1),
        randomBytes,
        unknownId,
        await good(2),
        truncated,
        await good(3),
      ];
      await produce(
        kafka,
        input,
        values.map((value, i) => ({ key: `k${i}`, value, timestamp: 1_000 + i })),
      );

      const outSerde = avroSerde<Doubled>(registry, { subject: `${output}-value`, schema: doubledSchema });
      await outSerde.prepare?.(null, output);
      const b = new StreamsBuilder();
      b.stream(input, {
        key: str,
        value: avroSerde<Reading>(registry, { subject: `${input}-value`, schema: readingSchema }),
      })
        .mapValues((r): Doubled => ({ deviceId: r.deviceId, doubled: r.value * 2 }))
        .to(output, { key: str, value: outSerde });
      const applicationId = `dlq-${randomUUID()}`;
      running = await startApp({ applicationId, kafka, topology: b.build() });
      await waitCaughtUp(kafka, applicationId, [input]);
      // After the bad records have been dead-lettered: the app still processes new records.
      await produce(kafka, input, [{ key: 'k8', value: await good(4), timestamp: 2_000 }]);
      await waitCaughtUp(kafka, applicationId, [input]);

      const reader = avroSerde<Doubled>(registry, { subject: `${output}-value`, schema: doubledSchema });
      const out = await readAll(kafka, output);
      const decoded = [];
      for (const r of out) {
        await reader.prepare?.(r.value, output);
        // avsc decodes records into instances of its record class: compare their fields.
        decoded.push({
          key: r.key?.toString(),
          value: { ...reader.deserialize(r.value, output) },
          ts: r.timestamp,
        });
      }
      assert.deepEqual(decoded, [
        { key: 'k0', value: { deviceId: 'd0', doubled: 1 }, ts: 1_000 },
        { key: 'k2', value: { deviceId: 'd1', doubled: 3 }, ts: 1_002 },
        { key: 'k5', value: { deviceId: 'd2', doubled: 5 }, ts: 1_005 },
        { key: 'k7', value: { deviceId: 'd3', doubled: 7 }, ts: 1_007 },
        { key: 'k8', value: { deviceId: 'd4', doubled: 9 }, ts: 2_000 },
      ]);

      const dlq = await readAll(kafka, `${input}.dlq`);
      const expected = [
        { offset: 1, code: 'SLUICE_CODEC_BAD_MAGIC', message: /magic byte 7, expected 0/ },
        { offset: 3, code: 'SLUICE_CODEC_BAD_MAGIC', message: /magic byte 255, expected 0/ },
        {
          offset: 4,
          code: 'SLUICE_CODEC_UNKNOWN_SCHEMA_ID',
          message: /schema id 987654 is not in the registry/,
        },
        { offset: 6, code: 'SLUICE_CODEC_TRUNCATED', message: /truncated/ },
      ];
      assert.equal(dlq.length, expected.length);
      dlq.forEach((d, i) => {
        const e = expected[i]!;
        assert.equal(d.key?.toString(), `k${e.offset}`);
        assert.ok(d.value?.equals(values[e.offset]!), `dead letter ${i} keeps the original bytes`);
        assert.equal(d.timestamp, 1_000 + e.offset);
        assert.equal(d.headers['sluice.dlq-kind'], 'deserialization');
        assert.equal(d.headers['sluice.error-class'], 'DecodeError');
        assert.equal(d.headers['sluice.error-code'], e.code);
        assert.match(d.headers['sluice.error-message']!, e.message);
        assert.equal(d.headers['sluice.source-topic'], input);
        assert.equal(d.headers['sluice.source-partition'], '0');
        assert.equal(d.headers['sluice.source-offset'], String(e.offset));
      });
      assert.equal(
        await counter('sluice_topology_dead_letter_records_total', {
          application: applicationId,
          kind: 'deserialization',
        }),
        4,
      );
    } finally {
      await running?.stop();
      await platform.stop();
    }
  });

  it("deadLetterPolicy 'fail' stops the app at the first bad record and reports why", async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    let running: Awaited<ReturnType<typeof startApp>> | null = null;
    try {
      await createTopics(kafka, { in: 1, out: 1 });
      await produce(kafka, 'in', [
        { key: 'a', value: '{"n":1}' },
        { key: 'b', value: 'not json' },
        { key: 'c', value: '{"n":3}' },
      ]);
      const b = new StreamsBuilder();
      b.stream('in', { key: str, value: Serdes.json<{ n: number }>() })
        .mapValues((v) => v.n * 10)
        .to('out', { value: int64 });
      const applicationId = `fail-${randomUUID()}`;
      running = await startApp({ applicationId, kafka, topology: b.build(), deadLetterPolicy: 'fail' });
      const { app } = running;
      const error = await waitFor('the app to fail', async () => app.error ?? undefined);
      assert.ok(error instanceof SluiceError);
      assert.equal(error.code, 'SLUICE_TOPOLOGY_RECORD_FAILED');
      assert.match(error.message, /^deserialization failure at in: not JSON/);
      assert.ok(error.cause instanceof SerdeError);

      // Stopped: the record before the bad one is committed, nothing after it is processed.
      await sleep(1_000);
      const out = await readAll(kafka, 'out');
      assert.deepEqual(
        out.map((r) => [r.key?.toString(), r.value?.readBigInt64BE(0)]),
        [['a', 10n]],
      );
      assert.deepEqual(await readAll(kafka, 'in.dlq'), []);
      const committed = await withAdmin(kafka, (a) =>
        a.fetchOffsets({ groupId: applicationId, topics: ['in'] }),
      );
      assert.equal(committed[0]!.partitions[0]!.offset, '1');
    } finally {
      await running?.stop();
      await env.stop();
    }
  });

  it('a record later than its window grace goes to the dead-letter topic as late and is counted', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    let running: Awaited<ReturnType<typeof startApp>> | null = null;
    try {
      await createTopics(kafka, { clicks: 1, 'clicks-per-minute': 1 });
      const b = new StreamsBuilder();
      b.stream('clicks', { key: str, value: str })
        .groupByKey()
        .windowedBy(TimeWindows.ofSize(60_000).grace(0))
        .count({ store: 'clicks-per-minute' })
        .toStream()
        .to('clicks-per-minute', { key: Serdes.windowed(str), value: int64 });
      const applicationId = `late-${randomUUID()}`;
      running = await startApp({ applicationId, kafka, topology: b.build() });
      const minute = 60_000;
      await produce(kafka, 'clicks', [
        { key: 'u', value: 'a', timestamp: 10 * minute + 5 },
        { key: 'u', value: 'b', timestamp: 12 * minute + 1 },
        // Window [10, 11) closed at stream time 11 + grace 0: late.
        { key: 'u', value: 'c', timestamp: 10 * minute + 30_000 },
        { key: 'u', value: 'd', timestamp: 12 * minute + 2 },
      ]);
      await waitCaughtUp(kafka, applicationId, ['clicks']);

      const windowed = Serdes.windowed(str);
      const out = (await readAll(kafka, 'clicks-per-minute')).map((r) => ({
        ...windowed.deserialize(r.key, 'clicks-per-minute'),
        count: int64.deserialize(r.value, 'clicks-per-minute'),
      }));
      assert.deepEqual(out, [
        { key: 'u', start: 10 * minute, end: 11 * minute, count: 1 },
        { key: 'u', start: 12 * minute, end: 13 * minute, count: 1 },
        { key: 'u', start: 12 * minute, end: 13 * minute, count: 2 },
      ]);
      const dlq = await readAll(kafka, 'clicks.dlq');
      assert.equal(dlq.length, 1);
      assert.equal(dlq[0]!.value?.toString(), 'c');
      assert.equal(dlq[0]!.key?.toString(), 'u');
      assert.equal(dlq[0]!.headers['sluice.dlq-kind'], 'late');
      assert.equal(dlq[0]!.headers['sluice.error-code'], 'SLUICE_RECORD_LATE');
      assert.equal(dlq[0]!.headers['sluice.source-offset'], '2');
      assert.equal(await counter('sluice_topology_late_records_total', { application: applicationId }), 1);
      assert.equal(
        await counter('sluice_topology_dead_letter_records_total', {
          application: applicationId,
          kind: 'late',
        }),
        1,
      );
    } finally {
      await running?.stop();
      await env.stop();
    }
  });

  it('a mapAsync step slower in total than the session timeout causes no rebalance', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    let running: Awaited<ReturnType<typeof startApp>> | null = null;
    try {
      await createTopics(kafka, { jobs: 1, results: 1 });
      const calls: string[] = [];
      const b = new StreamsBuilder();
      b.stream('jobs', { key: str, value: str })
        .mapAsync(
          async (v) => {
            calls.push(v);
            await sleep(500);
            return `done ${v}`;
          },
          { concurrency: 1 },
        )
        .to('results', { value: str });
      const applicationId = `slow-${randomUUID()}`;
      running = await startApp({
        applicationId,
        kafka,
        topology: b.build(),
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 1_000,
      });
      const rebalances = () => counter('sluice_topology_rebalances_total', { application: applicationId });
      const firstJoin = await waitFor('the first group join', async () => (await rebalances()) || undefined);
      const jobs = Array.from({ length: 20 }, (_, i) => `job-${String(i).padStart(2, '0')}`);
      const started = Date.now();
      await produce(
        kafka,
        'jobs',
        jobs.map((j) => ({ key: j, value: j })),
      );
      await waitCaughtUp(kafka, applicationId, ['jobs'], 40_000);
      const took = Date.now() - started;
      assert.ok(took >= 20 * 500, `20 calls of 500 ms one at a time took ${took} ms`);

      assert.equal(firstJoin, 1);
      assert.equal(await rebalances(), firstJoin);
      assert.deepEqual(calls, jobs);
      const out = await readAll(kafka, 'results');
      assert.deepEqual(
        out.map((r) => r.value?.toString()),
        jobs.map((j) => `done ${j}`),
      );
    } finally {
      await running?.stop();
      await env.stop();
    }
  });

  it('exactly-once windowed count and stream-table join give the TopologyTestDriver output', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    let running: Awaited<ReturnType<typeof startApp>> | null = null;
    type Order = { id: string; amount: number };
    type Customer = { name: string; tier: string };
    type Enriched = { id: string; amount: number; name: string; tier: string };
    const orderSerde = Serdes.json<Order>();
    const customerSerde = Serdes.json<Customer>();
    const enrichedSerde = Serdes.json<Enriched>();
    const windowed = Serdes.windowed(str);
    const build = (): Topology => {
      const b = new StreamsBuilder();
      const customers = b.table('customers', { key: str, value: customerSerde, store: 'customers' });
      const orders: KStream<string, Order> = b.stream('orders', { key: str, value: orderSerde });
      orders
        .join(customers, (o, c): Enriched => ({ id: o.id, amount: o.amount, name: c.name, tier: c.tier }))
        .to('orders-enriched', { value: enrichedSerde });
      orders
        .groupByKey()
        .windowedBy(TimeWindows.ofSize(60_000))
        .count({ store: 'orders-per-minute' })
        .toStream()
        .to('orders-per-minute', { key: windowed, value: int64 });
      return b.build();
    };

    // Phases are produced one after another, each processed before the next, so table
    // updates and orders meet in the same order on Kafka as in the driver.
    const keys = Array.from({ length: 12 }, (_, i) => `c${i}`);
    let seq = 0;
    const minute = 60_000;
    const ordersPhase = (fromMinute: number) =>
      Array.from({ length: 120 }, (_, i) => {
        const key = keys[(i * 7) % keys.length]!;
        // Minutes never go back, timestamps jump around inside a minute: out of order, never late.
        const ts = (fromMinute + Math.floor(i / 40)) * minute + ((i * 7919) % minute);
        return { key, value: { id: `o${seq++}`, amount: (i % 9) + 1 }, timestamp: ts };
      });
    const phases: {
      topic: 'customers' | 'orders';
      records: { key: string; value: unknown; timestamp: number }[];
    }[] = [
      {
        topic: 'customers',
        records: keys
          .filter((_, i) => i !== 5)
          .map((key, i) => ({ key, value: { name: `name-${key}`, tier: 'basic' }, timestamp: i })),
      },
      { topic: 'orders', records: ordersPhase(100) },
      {
        topic: 'customers',
        records: ['c1', 'c5', 'c9'].map((key, i) => ({
          key,
          value: { name: `name-${key}`, tier: 'gold' },
          timestamp: 200 * minute + i,
        })),
      },
      { topic: 'orders', records: ordersPhase(103) },
    ];

    try {
      const driver = new TopologyTestDriver(build());
      for (const phase of phases) {
        const topic = driver.createInputTopic<string, unknown>(phase.topic, str, Serdes.json());
        for (const r of phase.records) await topic.pipeInput(r.key, r.value, r.timestamp);
      }
      await driver.flush();
      const expectedEnriched = driver
        .createOutputTopic('orders-enriched', str, enrichedSerde)
        .readKeyValuesToList();
      const expectedCounts = driver
        .createOutputTopic('orders-per-minute', windowed, int64)
        .readKeyValuesToList();
      assert.equal(driver.deadLetters.length, 0);
      driver.close();
      // The driver's output is not trivial: c5 joins only after it appears, c1/c5/c9 turn gold.
      assert.equal(expectedEnriched.length, 240 - 10);
      assert.ok(expectedEnriched.some((e) => e.value.tier === 'gold'));
      assert.equal(expectedCounts.length, 240);

      await createTopics(kafka, { customers: 3, orders: 3, 'orders-enriched': 3, 'orders-per-minute': 3 });
      const applicationId = `eos-${randomUUID()}`;
      running = await startApp({ applicationId, kafka, topology: build() });
      for (const phase of phases) {
        await produce(
          kafka,
          phase.topic,
          phase.records.map((r) => ({ key: r.key, value: JSON.stringify(r.value), timestamp: r.timestamp })),
        );
        await waitCaughtUp(kafka, applicationId, [phase.topic]);
      }

      // Kafka keeps order per record key (one partition), not across keys. The sink partitions
      // a windowed key by all its bytes (key and window), so each window of a key is one sequence.
      const byKey = <T>(records: { key: string; value: T }[]) => {
        const m = new Map<string, T[]>();
        for (const r of records) m.set(r.key, [...(m.get(r.key) ?? []), r.value]);
        return [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
      };
      const enriched = (await readAll(kafka, 'orders-enriched')).map((r) => ({
        key: str.deserialize(r.key, ''),
        value: enrichedSerde.deserialize(r.value, ''),
      }));
      assert.equal(enriched.length, expectedEnriched.length);
      assert.deepEqual(byKey(enriched), byKey(expectedEnriched));
      const windowCount = (w: Windowed<string>, count: number) => ({
        key: `${w.key}@${w.start}-${w.end}`,
        value: count,
      });
      const counts = (await readAll(kafka, 'orders-per-minute')).map((r) =>
        windowCount(windowed.deserialize(r.key, ''), int64.deserialize(r.value, '')),
      );
      assert.equal(counts.length, expectedCounts.length);
      assert.deepEqual(byKey(counts), byKey(expectedCounts.map((r) => windowCount(r.key, r.value))));
      assert.deepEqual(await readAll(kafka, 'orders.dlq'), []);
    } finally {
      await running?.stop();
      await env.stop();
    }
  });

  it('a new instance restores a count store from its changelog and counts on', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    let running: Awaited<ReturnType<typeof startApp>> | null = null;
    try {
      await createTopics(kafka, { visits: 2, 'visit-counts': 2 });
      const build = () => {
        const b = new StreamsBuilder();
        b.stream('visits', { key: str, value: str })
          .groupByKey()
          .count({ store: 'visit-counts', storeKind: 'memory' })
          .toStream()
          .to('visit-counts', { value: int64 });
        return b.build();
      };
      const keys = ['ann', 'bob', 'cid', 'dee', 'eve'];
      const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ key: keys[i % 5]!, value: 'v' }));
      const applicationId = `restore-${randomUUID()}`;

      running = await startApp({ applicationId, kafka, topology: build() });
      await produce(kafka, 'visits', batch(100));
      await waitCaughtUp(kafka, applicationId, ['visits']);
      await running.stop();
      running = null;
      assert.equal((await readAll(kafka, 'visit-counts')).length, 100);
      const changelogTopic = `${applicationId}-visit-counts-changelog`;
      // One record per key and commit (the latest change), at least one per key.
      const changelog = await readAll(kafka, changelogTopic);
      assert.ok(changelog.length >= keys.length);
      assert.equal(
        await counter('sluice_topology_restored_records_total', { application: applicationId }),
        0,
      );

      running = await startApp({ applicationId, kafka, topology: build() });
      await produce(kafka, 'visits', batch(15));
      await waitCaughtUp(kafka, applicationId, ['visits']);

      const out = (await readAll(kafka, 'visit-counts')).map((r) => ({
        key: r.key!.toString(),
        count: int64.deserialize(r.value, ''),
      }));
      assert.equal(out.length, 115);
      const last = new Map(out.map((r) => [r.key, r.count]));
      assert.deepEqual(Object.fromEntries(last), { ann: 23, bob: 23, cid: 23, dee: 23, eve: 23 });
      // The second instance's first update per key continues from 20.
      const secondRun = out.filter((r) => r.count > 20);
      assert.equal(secondRun.length, 15);
      for (const key of keys) {
        assert.deepEqual(
          secondRun.filter((r) => r.key === key).map((r) => r.count),
          [21, 22, 23],
        );
      }
      // The second instance read back everything the first one had written to the changelog.
      assert.equal(
        await counter('sluice_topology_restored_records_total', { application: applicationId }),
        changelog.length,
      );
    } finally {
      await running?.stop();
      await env.stop();
    }
  });

  it('a commit larger than the broker takes in one batch goes in several requests', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    let running: Awaited<ReturnType<typeof startApp>> | null = null;
    try {
      await createTopics(kafka, { big: 1, 'big-out': 1 });
      // 3,000 outputs of 1 KiB in one exactly-once commit: 3 MiB for one partition, where the
      // broker refuses record batches over 1 MiB (message.max.bytes).
      const inputs = Array.from({ length: 3000 }, (_, i) => ({ key: `k${i}`, value: String(i) }));
      await produce(kafka, 'big', inputs);
      const b = new StreamsBuilder();
      b.stream('big', { key: str, value: str })
        .mapValues((v) => v.padEnd(1024, '.'))
        .to('big-out', { key: str, value: str });
      const applicationId = `big-${randomUUID()}`;
      running = await startApp({ applicationId, kafka, topology: b.build(), commitIntervalMs: 60_000 });
      // Nothing is committed before close() (a 60 s interval): the whole 3 MiB goes in its commit.
      await waitFor(
        '3,000 records processed',
        async () =>
          (await metricSum(metricsRegistry, 'sluice_topology_records_in_total', {
            application: applicationId,
          })) === 3000,
        20_000,
      );
      assert.equal(await caughtUp(kafka, applicationId, ['big']), false);
      await running.stop();
      running = null;
      assert.equal(await caughtUp(kafka, applicationId, ['big']), true);
      const out = await readAll(kafka, 'big-out');
      assert.equal(out.length, 3000);
      assert.equal(out[2999]!.value!.toString().slice(0, 4), '2999');
    } finally {
      await running?.stop();
      await env.stop();
    }
  });

  it('at_least_once: an output the broker refuses keeps the offsets behind it', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    let running: Awaited<ReturnType<typeof startApp>> | null = null;
    try {
      await createTopics(kafka, { notes: 1 });
      // The output topic takes records of up to 2,000 bytes; record 50's output is larger.
      await withAdmin(kafka, (admin) =>
        admin.createTopics({
          topics: [
            {
              topic: 'notes-out',
              numPartitions: 1,
              configEntries: [{ name: 'max.message.bytes', value: '2000' }],
            },
          ],
          waitForLeaders: true,
        }),
      );
      const notes = Array.from({ length: 100 }, (_, i) => ({
        key: `k${i}`,
        value: i === 50 ? 'x'.repeat(4000) : `n${i}`,
      }));
      const b = new StreamsBuilder();
      b.stream('notes', { key: str, value: str }).to('notes-out', { key: str, value: str });
      const applicationId = `refused-${randomUUID()}`;
      running = await startApp({
        applicationId,
        kafka,
        topology: b.build(),
        processingGuarantee: 'at_least_once',
        commitIntervalMs: 200,
      });
      const committedTo = async () => {
        const [c] = await withAdmin(kafka, (admin) =>
          admin.fetchOffsets({ groupId: applicationId, topics: ['notes'] }),
        );
        return Number(c!.partitions[0]!.offset);
      };
      // The first 50 go through and are committed; then the refused one comes.
      await produce(kafka, 'notes', notes.slice(0, 50));
      await waitFor('the first 50 committed', async () => (await committedTo()) === 50, 10_000);
      await produce(kafka, 'notes', notes.slice(50));
      // Commits keep being attempted every 200 ms; none may pass the refused record.
      await sleep(3000);
      assert.equal(await committedTo(), 50);
      await running.stop();
      running = null;
      assert.equal(await committedTo(), 50);
    } finally {
      await running?.stop();
      await env.stop();
    }
  });

  it('at_least_once sends outputs as they are produced and commits every 30 s by default (and on close)', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    let running: Awaited<ReturnType<typeof startApp>> | null = null;
    try {
      await createTopics(kafka, { words: 2, shouted: 2 });
      const b = new StreamsBuilder();
      b.stream('words', { key: str, value: str })
        .map((k, v) => ({ key: k, value: `${v.toUpperCase()}!` }))
        .to('shouted', { key: str, value: str });
      const applicationId = `alo-${randomUUID()}`;
      running = await startApp({
        applicationId,
        kafka,
        topology: b.build(),
        processingGuarantee: 'at_least_once',
      });
      const words = Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 13}`, value: `word${i}` }));
      await produce(kafka, 'words', words);
      await waitFor(
        'every output, before any commit',
        async () => {
          const ends = await withAdmin(kafka, (admin) => admin.fetchTopicOffsets('shouted'));
          return ends.reduce((n, e) => n + Number(e.high), 0) === 200;
        },
        10_000,
      );
      // Outputs do not wait for the commit; the offsets do (Kafka Streams' 30 s under at_least_once).
      assert.equal(await caughtUp(kafka, applicationId, ['words']), false);
      const out = await readAll(kafka, 'shouted');
      const perKey = (rs: { key: string; value: string }[]) => {
        const m: Record<string, string[]> = {};
        for (const r of rs) (m[r.key] ??= []).push(r.value);
        return m;
      };
      assert.deepEqual(
        perKey(out.map((r) => ({ key: r.key!.toString(), value: r.value!.toString() }))),
        perKey(words.map((w) => ({ key: w.key, value: `${w.value.toUpperCase()}!` }))),
      );
      assert.equal(out.length, 200);
      // Closing commits what was processed.
      await running.stop();
      running = null;
      assert.equal(await caughtUp(kafka, applicationId, ['words']), true);
    } finally {
      await running?.stop();
      await env.stop();
    }
  });
});

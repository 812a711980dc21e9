import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { loadCatalogue } from '../../engine/catalogue/index.js';
import { AvroDeserializer, AvroSerializer, DecodeError } from '../../engine/codec/index.js';
import { RegistryClient } from '../../engine/registry/index.js';
import { kafkaClient } from '../helpers/broker.js';
import { withPlatform } from '../helpers/platform.js';

const v1 = {
  type: 'record',
  name: 'Reading',
  namespace: 'sluice.test',
  doc: 'a reading',
  fields: [
    { name: 'deviceId', type: 'string', doc: 'device' },
    { name: 'value', type: 'double', doc: 'value' },
  ],
};
const v2 = {
  ...v1,
  fields: [...v1.fields, { name: 'unit', type: ['null', 'string'], default: null, doc: 'unit' }],
};

describe('codec against the embedded broker and registry', () => {
  let platform: Awaited<ReturnType<typeof withPlatform>>;
  let registry: RegistryClient;
  before(async () => {
    platform = await withPlatform();
    registry = new RegistryClient({ url: platform.registryUrl });
  });
  after(() => platform.stop());

  it('a consumer on a v2 reader schema reads v1 and v2 records produced through the broker', async () => {
    const topic = 'evolution';
    const kafka = kafkaClient(platform.bootstrap);
    const producer = kafka.producer();
    await producer.connect();
    const ser1 = new AvroSerializer(registry, `${topic}-value`, v1);
    await producer.send({
      topic,
      messages: [
        { value: await ser1.encode({ deviceId: 'a', value: 1 }) },
        { value: await ser1.encode({ deviceId: 'b', value: 2 }) },
      ],
    });
    const ser2 = new AvroSerializer(registry, `${topic}-value`, v2);
    await producer.send({
      topic,
      messages: [{ value: await ser2.encode({ deviceId: 'c', value: 3, unit: 'C' }) }],
    });
    await producer.disconnect();
    assert.notEqual(await ser1.schemaId(), await ser2.schemaId());
    const latest = await registry.getLatest(`${topic}-value`);
    assert.equal(latest.version, 2);

    const de = new AvroDeserializer(registry, v2);
    const consumer = kafka.consumer({ groupId: 'evolution-reader', maxWaitTimeInMs: 50 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: unknown[] = [];
    await new Promise<void>((resolve) => {
      consumer.run({
        eachMessage: async ({ message, partition }) => {
          got.push({
            ...((await de.decode(message.value!, { topic, partition, offset: message.offset })) as object),
          });
          if (got.length === 3) resolve();
        },
      });
    });
    await consumer.disconnect();
    const byDevice = Object.fromEntries((got as { deviceId: string }[]).map((g) => [g.deviceId, g]));
    assert.deepEqual(byDevice, {
      a: { deviceId: 'a', value: 1, unit: null },
      b: { deviceId: 'b', value: 2, unit: null },
      c: { deviceId: 'c', value: 3, unit: 'C' },
    });
  });

  it('every catalogue schema round-trips random values through the registry-framed codec', async () => {
    const cat = loadCatalogue(new URL('../../schemas', import.meta.url).pathname);
    let checked = 0;
    for (const topic of cat.topics) {
      for (const { fullName, subject } of topic.subjects) {
        const entry = cat.schemas.get(fullName)!;
        const ser = new AvroSerializer(registry, subject, entry.json);
        const de = new AvroDeserializer(registry, entry.json);
        for (let i = 0; i < 50; i++) {
          const value = entry.type.random();
          const bytes = await ser.encode(value);
          assert.equal(bytes.readInt32BE(1), await ser.schemaId());
          const back = await de.decode(bytes);
          // Same Avro encoding = same value, maps and bytes included.
          assert.deepEqual(entry.type.toBuffer(back), entry.type.toBuffer(value), `${fullName} value ${i}`);
          checked++;
        }
      }
    }
    assert.equal(checked, 50 * cat.topics.reduce((n, t) => n + t.subjects.length, 0));
  });

  it('bad payloads in a topic give typed errors and never stop the consumer', async () => {
    const topic = 'mixed';
    const kafka = kafkaClient(platform.bootstrap);
    const ser = new AvroSerializer(registry, `${topic}-value`, v2);
    const good = (i: number) => ser.encode({ deviceId: `d${i}`, value: i, unit: null });
    const unknownId = Buffer.from(await good(0));
    unknownId.writeInt32BE(424242, 1);
    const badMagic = Buffer.from(await good(0));
    badMagic[0] = 7;
    const values = [
      await good(1),
      badMagic,
      await good(2),
      unknownId,
      (await good(3)).subarray(0, 8),
      Buffer.from('{"json":"not avro"}'),
      await good(4),
    ];
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: values.map((value) => ({ key: 'same-partition', value })) });
    await producer.disconnect();

    const de = new AvroDeserializer(registry, v2);
    const decoded: string[] = [];
    const failures: [number, string][] = [];
    const consumer = kafka.consumer({ groupId: 'mixed-reader', maxWaitTimeInMs: 50 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      consumer.run({
        eachMessage: async ({ message, partition }) => {
          try {
            decoded.push(
              (
                (await de.decode(message.value!, { topic, partition, offset: message.offset })) as {
                  deviceId: string;
                }
              ).deviceId,
            );
          } catch (err) {
            assert.ok(err instanceof DecodeError);
            assert.ok(err.message.includes(`${topic}-${partition}@${message.offset}`));
            failures.push([Number(message.offset), err.code]);
          }
          if (decoded.length + failures.length === values.length) resolve();
        },
      });
    });
    await consumer.disconnect();
    assert.deepEqual(decoded, ['d1', 'd2', 'd4']);
    assert.deepEqual(failures, [
      [1, 'SLUICE_CODEC_BAD_MAGIC'],
      [3, 'SLUICE_CODEC_UNKNOWN_SCHEMA_ID'],
      [4, 'SLUICE_CODEC_TRUNCATED'],
      [5, 'SLUICE_CODEC_BAD_MAGIC'],
    ]);
  });

  it('a registry answering 500 gives a retriable error after bounded retries', async () => {
    let requests = 0;
    const server: Server = createServer((_req, res) => {
      requests++;
      res.writeHead(500, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
      res.end(JSON.stringify({ error_code: 50001, message: 'store error' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const failing = new RegistryClient({ url: `http://127.0.0.1:${port}`, retries: 2, retryBackoffMs: 5 });
      const de = new AvroDeserializer(failing, v2);
      const payload = await new AvroSerializer(registry, 'other-value', v2).encode({
        deviceId: 'x',
        value: 1,
        unit: null,
      });
      await assert.rejects(
        de.decode(payload, { topic: 't', partition: 0, offset: 9 }),
        (err: DecodeError) => {
          assert.equal(err.code, 'SLUICE_CODEC_REGISTRY_UNAVAILABLE');
          assert.equal(err.retriable, true);
          return true;
        },
      );
      assert.equal(requests, 3);
    } finally {
      server.close();
    }
  });
});

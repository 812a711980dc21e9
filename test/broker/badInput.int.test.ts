import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Admin } from 'kafkajs';
import { ApiKey, supportedVersions } from '../../engine/protocol/apiKeys.js';
import { ErrorCode } from '../../engine/protocol/errorCodes.js';
import { computeCrc, encodeBatch } from '../../engine/protocol/recordBatch.js';
import { Writer } from '../../engine/protocol/writer.js';
import { kafkaClient, withBroker } from '../helpers/broker.js';

/** Sends raw bytes and collects whatever comes back until the broker closes or goes quiet. */
function exchange(port: number, bytes: Buffer, quietMs = 150): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout;
    const sock: Socket = connect(port, '127.0.0.1');
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const quiet = () => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    sock.on('connect', () => {
      sock.write(bytes);
      quiet();
    });
    sock.on('data', (d) => {
      chunks.push(d);
      quiet();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      closed = true;
      done();
    });
  });
}

function request(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  body: (w: Writer) => void,
): Buffer {
  const w = new Writer();
  w.int16(apiKey).int16(apiVersion).int32(correlationId).string('fuzzer');
  body(w);
  const payload = w.toBuffer();
  const out = Buffer.alloc(4 + payload.length);
  out.writeInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

function produceRequest(topic: string, records: Buffer, version = 3): Buffer {
  return request(ApiKey.Produce, version, 7, (w) => {
    w.nullableString(null).int16(-1).int32(5000);
    w.int32(1).string(topic).int32(1).int32(0).bytes(records);
  });
}

function sampleBatch(): Buffer {
  return encodeBatch({
    baseOffset: 0,
    records: [
      { offset: 0, timestamp: Date.now(), key: Buffer.from('k'), value: Buffer.from('v'), headers: [] },
    ],
  });
}

/** Error code of the single partition in a Produce v3 response. */
function produceError(resp: Buffer): number {
  // size, correlation id, topics[1], name, partitions[1], index, then the error code.
  let pos = 8 + 4;
  pos += 2 + resp.readInt16BE(pos);
  pos += 4 + 4;
  return resp.readInt16BE(pos);
}

describe('bad input on the broker port', () => {
  let env: Awaited<ReturnType<typeof withBroker>>;
  let admin: Admin;
  before(async () => {
    env = await withBroker();
    admin = kafkaClient(env.bootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'fuzz', numPartitions: 1 }] });
  });
  after(async () => {
    await admin.disconnect();
    await env.stop();
  });

  const stillServing = async () => {
    const offsets = await admin.fetchTopicOffsets('fuzz');
    assert.equal(offsets.length, 1);
  };

  it('answers a record batch with a bad CRC with CORRUPT_MESSAGE and appends nothing', async () => {
    const batch = sampleBatch();
    batch[batch.length - 1] ^= 0xff;
    const { data, closed } = await exchange(env.broker.port, produceRequest('fuzz', batch));
    assert.equal(closed, false);
    assert.equal(data.readInt32BE(4), 7);
    assert.equal(produceError(data), ErrorCode.CORRUPT_MESSAGE);
    const good = await exchange(env.broker.port, produceRequest('fuzz', sampleBatch()));
    assert.equal(produceError(good.data), ErrorCode.NONE);
    assert.equal((await admin.fetchTopicOffsets('fuzz'))[0].high, '1');
  });

  it('rejects old message formats, truncated batches and zstd below Produce v7', async () => {
    const old = sampleBatch();
    old[16] = 1;
    assert.equal(
      produceError((await exchange(env.broker.port, produceRequest('fuzz', old))).data),
      ErrorCode.INVALID_RECORD,
    );
    const cut = sampleBatch().subarray(0, 40);
    assert.equal(
      produceError((await exchange(env.broker.port, produceRequest('fuzz', cut))).data),
      ErrorCode.CORRUPT_MESSAGE,
    );
    // encodeBatch writes only none/gzip: stamp the zstd codec into the attributes and re-sign.
    const zstd = sampleBatch();
    zstd.writeInt16BE(4, 21);
    zstd.writeUInt32BE(computeCrc(zstd), 17);
    assert.equal(
      produceError((await exchange(env.broker.port, produceRequest('fuzz', zstd, 3))).data),
      ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
    );
  });

  it('answers unknown API keys and versions with UNSUPPORTED_VERSION and keeps the connection', async () => {
    const unknown = await exchange(
      env.broker.port,
      request(999, 0, 42, () => {}),
    );
    assert.equal(unknown.closed, false);
    assert.equal(unknown.data.readInt32BE(0), 6);
    assert.equal(unknown.data.readInt32BE(4), 42);
    assert.equal(unknown.data.readInt16BE(8), ErrorCode.UNSUPPORTED_VERSION);
    const tooNew = await exchange(
      env.broker.port,
      request(ApiKey.Fetch, 99, 43, () => {}),
    );
    assert.equal(tooNew.data.readInt16BE(8), ErrorCode.UNSUPPORTED_VERSION);
    // ApiVersions v3 gets the v0 layout: error code, then the full list of APIs.
    const av = await exchange(
      env.broker.port,
      request(ApiKey.ApiVersions, 3, 44, () => {}),
    );
    assert.equal(av.data.readInt16BE(8), ErrorCode.UNSUPPORTED_VERSION);
    const served = Object.keys(supportedVersions).length;
    assert.equal(av.data.readInt32BE(10), served);
    assert.equal(av.data.length, 4 + 4 + 2 + 4 + served * 6);
  });

  it('closes a connection announcing a 2 GiB request without allocating it', async () => {
    const rssBefore = process.memoryUsage().rss;
    const huge = Buffer.alloc(64 * 1024);
    huge.writeInt32BE(0x7fffffff, 0);
    const res = await exchange(env.broker.port, huge, 1000);
    assert.equal(res.closed, true);
    assert.equal(res.data.length, 0);
    const negative = Buffer.from([0xff, 0xff, 0xff, 0xfe, 1, 2, 3]);
    assert.equal((await exchange(env.broker.port, negative, 1000)).closed, true);
    assert.ok(process.memoryUsage().rss - rssBefore < 64 * 1024 * 1024);
    await stillServing();
  });

  it('closes the connection on a non-Kafka protocol (HTTP) and keeps serving others', async () => {
    const res = await exchange(env.broker.port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 1000);
    assert.equal(res.closed, true);
    await stillServing();
  });

  it('property: random and mutated frames never take the broker down', async () => {
    const valid = [
      request(ApiKey.ApiVersions, 0, 1, () => {}),
      request(ApiKey.Metadata, 4, 2, (w) => w.int32(1).string('fuzz').boolean(false)),
      produceRequest('fuzz', sampleBatch()),
      request(ApiKey.Fetch, 4, 3, (w) => {
        w.int32(-1)
          .int32(0)
          .int32(0)
          .int32(1 << 20)
          .int8(0);
        w.int32(1)
          .string('fuzz')
          .int32(1)
          .int32(0)
          .int64(0)
          .int32(1 << 20);
      }),
      request(ApiKey.JoinGroup, 5, 4, (w) => {
        w.string('g').int32(10000).int32(10000).string('').nullableString(null).string('consumer');
        w.int32(1)
          .string('range')
          .bytes(Buffer.from([0, 1, 0, 0, 0, 0]));
      }),
    ];
    const mutated = fc
      .tuple(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      )
      .map(([frame, flips]) => {
        const out = Buffer.from(frame);
        for (const [at, v] of flips) out[4 + (at % (out.length - 4))] = v;
        return out;
      });
    const truncated = fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([frame, n]) => {
      const body = frame.subarray(4, 4 + (n % (frame.length - 4)));
      const out = Buffer.alloc(4 + body.length);
      out.writeInt32BE(body.length, 0);
      body.copy(out, 4);
      return out;
    });
    const lying = fc
      .tuple(fc.constantFrom(...valid), fc.integer({ min: -10, max: 10 }))
      .map(([frame, delta]) => {
        const out = Buffer.from(frame);
        out.writeInt32BE(frame.length - 4 + delta, 0);
        return out;
      });
    const random = fc.uint8Array({ minLength: 0, maxLength: 300 }).map((a) => Buffer.from(a));
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated, truncated, lying, random), async (frame) => {
        await exchange(env.broker.port, frame, 30);
        await stillServing();
      }),
      { numRuns: 150 },
    );
    // Whatever the fuzzer appended to the log must still read back as valid batches.
    const consumer = kafkaClient(env.bootstrap).consumer({ groupId: 'fuzz-check', maxWaitTimeInMs: 50 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'fuzz', fromBeginning: true });
    const high = Number((await admin.fetchTopicOffsets('fuzz'))[0].high);
    let last = -1;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read up to ${last} of ${high}`)), 20_000);
      consumer.run({
        eachMessage: async ({ message }) => {
          last = Number(message.offset);
          if (last === high - 1) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    assert.equal(last, high - 1);
  });
});

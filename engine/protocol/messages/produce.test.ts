import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  arb,
  assertGarbageIsProtocolError,
  assertPrefixesThrow,
  bytes,
  decodeBody,
  encodeBody,
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsResponse,
  kafkajsVersions,
  range,
  readRecords,
  type SeenMessage,
  type TestMessage,
  viaKafkajs,
} from './harness.test.js';
import { decodeProduceRequest, encodeProduceResponse, type ProduceResponse } from './produce.js';

const { min, max } = supportedVersions[ApiKey.Produce];
const versions = range(min, max);
const T = 1_700_000_000_000;

/** What kafkajs reads back from the records it produced at this version. */
function expectSeen(version: number, msgs: TestMessage[]): SeenMessage[] {
  return msgs.map((m, i) => {
    // v0-1 write magic 0 and v2 magic 1 message sets; v3+ write magic 2 batches. kafkajs numbers
    // v0-1 messages (it passes no compression, which its MessageSet takes for compressed) but
    // writes -1 offsets at v2.
    if (version <= 1) return { offset: String(i), key: m.key, value: m.value };
    if (version === 2) return { offset: '-1', key: m.key, value: m.value, timestamp: String(m.timestamp) };
    return {
      offset: String(i),
      key: m.key,
      value: m.value,
      timestamp: String(m.timestamp),
      headers: m.headers ?? {},
    };
  });
}

const orders0: TestMessage[] = [
  { key: 'k-1', value: 'first', timestamp: T, headers: { trace: 'abc' } },
  { key: null, value: 'second', timestamp: T + 7 },
];
const orders7: TestMessage[] = [{ key: 'k-2', value: null, timestamp: T + 1 }];
const unicode2: TestMessage[] = [{ key: 'ключ', value: '値', timestamp: T + 2 }];

test('kafkajs implements every served Produce version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('produce').includes(v)),
    [],
  );
});

for (const version of versions) {
  test(`Produce v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'produce',
      version,
    )({
      acks: -1,
      timeout: 30_000,
      transactionalId: 'tx-1',
      topicData: [
        {
          topic: 'orders',
          partitions: [
            { partition: 0, messages: orders0 },
            { partition: 7, messages: orders7 },
          ],
        },
        { topic: 'ünïcödé', partitions: [{ partition: 2, messages: unicode2 }] },
      ],
    });
    const got = await viaKafkajs(decodeProduceRequest, req);
    assert.equal(got.transactionalId, version >= 3 ? 'tx-1' : null);
    assert.equal(got.acks, -1);
    assert.equal(got.timeoutMs, 30_000);
    assert.deepEqual(
      got.topicData.map((t) => [t.name, t.partitionData.map((p) => p.index)]),
      [
        ['orders', [0, 7]],
        ['ünïcödé', [2]],
      ],
    );
    const [orders, unicode] = got.topicData;
    assert.deepEqual(await readRecords(orders.partitionData[0].records!), expectSeen(version, orders0));
    assert.deepEqual(await readRecords(orders.partitionData[1].records!), expectSeen(version, orders7));
    assert.deepEqual(await readRecords(unicode.partitionData[0].records!), expectSeen(version, unicode2));
    // Magic byte: 0 for v0-1, 1 for v2 (message sets), 2 for v3+ (record batches).
    assert.equal(orders.partitionData[0].records![16], version <= 1 ? 0 : version === 2 ? 1 : 2);

    assertPrefixesThrow(decodeProduceRequest, version, await kafkajsRequestBody(req));
  });
}

test('Produce v3+ without a transactional id decodes transactionalId null', async () => {
  for (const version of range(3, max)) {
    const req = kafkajsRequest('produce', version)({ acks: 1, timeout: 5, topicData: [] });
    assert.deepEqual(await viaKafkajs(decodeProduceRequest, req), {
      transactionalId: null,
      acks: 1,
      timeoutMs: 5,
      topicData: [],
    });
  }
});

test('Produce request with null records (hand-made: no client sends them)', () => {
  const body = bytes((w) =>
    w.nullableString(null).int16(0).int32(100).int32(1).string('t').int32(1).int32(4).int32(-1),
  );
  assert.deepEqual(decodeBody(decodeProduceRequest, 3, body), {
    transactionalId: null,
    acks: 0,
    timeoutMs: 100,
    topicData: [{ name: 't', partitionData: [{ index: 4, records: null }] }],
  });
  assertPrefixesThrow(decodeProduceRequest, 3, body);
});

test('Produce request records are a view into the frame, not a copy', () => {
  const body = bytes((w) =>
    w.int16(1).int32(100).int32(1).string('t').int32(1).int32(0).bytes(Buffer.from('xyz')),
  );
  const got = decodeBody(decodeProduceRequest, 0, body);
  const records = got.topicData[0].partitionData[0].records!;
  assert.equal(records.buffer, body.buffer);
  assert.equal(records.toString(), 'xyz');
});

const response: ProduceResponse = {
  responses: [
    {
      name: 'orders',
      partitionResponses: [
        { index: 0, errorCode: 0, baseOffset: 2 ** 40 + 3, logAppendTimeMs: T + 123, logStartOffset: 17 },
        { index: 7, errorCode: 0, baseOffset: 0, logAppendTimeMs: -1, logStartOffset: 0 },
      ],
    },
    {
      name: 'ünïcödé',
      partitionResponses: [
        { index: 2, errorCode: 0, baseOffset: 99, logAppendTimeMs: -1, logStartOffset: 5 },
      ],
    },
  ],
  throttleTimeMs: 250,
};

/** kafkajs's view of `response` at each version. */
function kafkajsView(version: number, res: ProduceResponse): unknown {
  const topics = res.responses.map((t) => ({
    topicName: t.name,
    partitions: t.partitionResponses.map((p) => {
      if (version <= 1) return { partition: p.index, errorCode: p.errorCode, offset: String(p.baseOffset) };
      if (version === 2) {
        return {
          partition: p.index,
          errorCode: p.errorCode,
          offset: String(p.baseOffset),
          timestamp: String(p.logAppendTimeMs),
        };
      }
      const out: Record<string, unknown> = {
        partition: p.index,
        errorCode: p.errorCode,
        baseOffset: String(p.baseOffset),
        logAppendTime: String(p.logAppendTimeMs),
      };
      if (version >= 5) out.logStartOffset = String(p.logStartOffset);
      return out;
    }),
  }));
  if (version === 0) return { topics };
  // From v6 kafkajs treats the throttle as a request to throttle itself (KIP-219).
  if (version >= 6) return { topics, throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs };
  return { topics, throttleTime: res.throttleTimeMs };
}

for (const version of versions) {
  test(`Produce v${version} response decoded by kafkajs`, async () => {
    const body = encodeBody(encodeProduceResponse, version, response);
    assert.deepEqual(
      await kafkajsReads(kafkajsResponse('produce', version), body),
      kafkajsView(version, response),
    );
  });
}

test('Produce response error codes reach kafkajs as its typed errors', async () => {
  const failed: ProduceResponse = {
    responses: [
      {
        name: 't',
        partitionResponses: [
          { index: 0, errorCode: 6, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 },
        ],
      },
    ],
    throttleTimeMs: 0,
  };
  for (const version of versions) {
    const body = encodeBody(encodeProduceResponse, version, failed);
    await assert.rejects(kafkajsReads(kafkajsResponse('produce', version), body), {
      name: 'KafkaJSProtocolError',
      type: 'NOT_LEADER_FOR_PARTITION',
    });
  }
});

test('Produce: any kafkajs request decodes to the values it was built from', async () => {
  const message = fc.record({
    key: fc.option(arb.string()),
    value: fc.option(arb.string()),
    // kafkajs replaces a falsy timestamp (0) with Date.now(), so 0 cannot round-trip.
    timestamp: fc.integer({ min: 1, max: 2 ** 42 }),
  });
  const partition = fc.record({
    partition: arb.int32(),
    messages: fc.array(message, { minLength: 1, maxLength: 3 }),
  });
  const topic = fc.record({ topic: arb.string(), partitions: fc.array(partition, { maxLength: 3 }) });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...versions),
      arb.int16(),
      arb.int32(),
      fc.option(arb.string()),
      fc.array(topic, { maxLength: 3 }),
      async (version, acks, timeout, transactionalId, topicData) => {
        const req = kafkajsRequest('produce', version)({ acks, timeout, transactionalId, topicData });
        const got = await viaKafkajs(decodeProduceRequest, req);
        assert.equal(got.transactionalId, version >= 3 ? transactionalId : null);
        assert.equal(got.acks, acks);
        assert.equal(got.timeoutMs, timeout);
        assert.deepEqual(
          got.topicData.map((t) => ({ topic: t.name, partitions: t.partitionData.map((p) => p.index) })),
          topicData.map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => p.partition) })),
        );
        for (const [i, t] of got.topicData.entries()) {
          for (const [j, p] of t.partitionData.entries()) {
            const sent = topicData[i].partitions[j].messages;
            assert.deepEqual(await readRecords(p.records!), expectSeen(version, sent));
          }
        }
      },
    ),
    { numRuns: 150 },
  );
});

test('Produce: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeProduceRequest, versions);
});

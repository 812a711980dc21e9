import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import { ErrorCode } from '../errorCodes.js';
import {
  type AddPartitionsToTxnResponse,
  decodeAddPartitionsToTxnRequest,
  encodeAddPartitionsToTxnResponse,
} from './addPartitionsToTxn.js';
import {
  arb,
  assertGarbageIsProtocolError,
  assertPrefixesThrow,
  encodeBody,
  kafkajs,
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsResponse,
  kafkajsVersions,
  range,
  viaKafkajs,
} from './harness.test.js';

// The versions this codec handles (v2 is identical to v1 but kafkajs lacks it; v3+ is flexible).
// supportedVersions gains ApiKey.AddPartitionsToTxn once the broker has a handler.
const versions = range(0, 1);

test('AddPartitionsToTxn: api key, codec versions and served versions agree with kafkajs', () => {
  assert.equal(
    ApiKey.AddPartitionsToTxn,
    kafkajs<Record<string, number>>('requests/apiKeys.js').AddPartitionsToTxn,
  );
  assert.deepEqual(kafkajsVersions('addPartitionsToTxn'), versions);
  const served = supportedVersions[ApiKey.AddPartitionsToTxn];
  if (served)
    assert.deepEqual(
      range(served.min, served.max).filter((v) => !versions.includes(v)),
      [],
    );
});

for (const version of versions) {
  test(`AddPartitionsToTxn v${version} request encoded by kafkajs`, async () => {
    // kafkajs keeps the producer id as the string its InitProducerId decoder made of the int64.
    const req = kafkajsRequest(
      'addPartitionsToTxn',
      version,
    )({
      transactionalId: 'tx-1',
      producerId: String(2 ** 40 + 7),
      producerEpoch: 4,
      topics: [
        { topic: 'orders', partitions: [0, 7, 2 ** 31 - 1] },
        { topic: 'ünïcödé', partitions: [2] },
        { topic: 'empty', partitions: [] },
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeAddPartitionsToTxnRequest, req), {
      transactionalId: 'tx-1',
      producerId: 2 ** 40 + 7,
      producerEpoch: 4,
      topics: [
        { name: 'orders', partitions: [0, 7, 2 ** 31 - 1] },
        { name: 'ünïcödé', partitions: [2] },
        { name: 'empty', partitions: [] },
      ],
    });
    assertPrefixesThrow(decodeAddPartitionsToTxnRequest, version, await kafkajsRequestBody(req));
  });
}

const response: AddPartitionsToTxnResponse = {
  throttleTimeMs: 12,
  resultsByTopic: [
    {
      name: 'orders',
      resultsByPartition: [
        { partitionIndex: 0, partitionErrorCode: 0 },
        { partitionIndex: 7, partitionErrorCode: 0 },
      ],
    },
    { name: 'ünïcödé', resultsByPartition: [{ partitionIndex: 2, partitionErrorCode: 0 }] },
    { name: 'empty', resultsByPartition: [] },
  ],
};

/** kafkajs's decode (not parse) of `res` at each version. */
function kafkajsView(version: number, res: AddPartitionsToTxnResponse): unknown {
  const errors = res.resultsByTopic.map((t) => ({
    topic: t.name,
    partitionErrors: t.resultsByPartition.map((p) => ({
      partition: p.partitionIndex,
      errorCode: p.partitionErrorCode,
    })),
  }));
  // From v1 kafkajs treats the throttle as a request to throttle itself (KIP-219).
  if (version === 0) return { throttleTime: res.throttleTimeMs, errors };
  return { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs, errors };
}

for (const version of versions) {
  test(`AddPartitionsToTxn v${version} response decoded by kafkajs`, async () => {
    const kjs = kafkajsResponse('addPartitionsToTxn', version);
    const body = encodeBody(encodeAddPartitionsToTxnResponse, version, response);
    assert.deepEqual(await kafkajsReads(kjs, body), kafkajsView(version, response));

    // The coordinator fails the whole request: the partitions it did not get to are OPERATION_NOT_ATTEMPTED.
    const failed = structuredClone(response);
    failed.resultsByTopic[0].resultsByPartition[0].partitionErrorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    failed.resultsByTopic[0].resultsByPartition[1].partitionErrorCode = ErrorCode.OPERATION_NOT_ATTEMPTED;
    failed.resultsByTopic[1].resultsByPartition[0].partitionErrorCode = ErrorCode.OPERATION_NOT_ATTEMPTED;
    const failedBody = encodeBody(encodeAddPartitionsToTxnResponse, version, failed);
    assert.deepEqual(await kafkajsReads(kjs, failedBody, { parse: false }), kafkajsView(version, failed));
    await assert.rejects(kafkajsReads(kjs, failedBody), {
      name: 'KafkaJSProtocolError',
      type: 'UNKNOWN_TOPIC_OR_PARTITION',
    });

    const fenced = structuredClone(response);
    for (const t of fenced.resultsByTopic) {
      for (const p of t.resultsByPartition) p.partitionErrorCode = ErrorCode.INVALID_PRODUCER_EPOCH;
    }
    await assert.rejects(kafkajsReads(kjs, encodeBody(encodeAddPartitionsToTxnResponse, version, fenced)), {
      type: 'INVALID_PRODUCER_EPOCH',
    });
  });
}

test('AddPartitionsToTxn: any kafkajs request decodes to the values it was built from', async () => {
  const topic = fc.record({ topic: arb.string(), partitions: fc.array(arb.int32(), { maxLength: 5 }) });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...versions),
      arb.string(),
      arb.int64(),
      arb.int16(),
      fc.array(topic, { maxLength: 4 }),
      async (version, transactionalId, producerId, producerEpoch, topics) => {
        const req = kafkajsRequest(
          'addPartitionsToTxn',
          version,
        )({
          transactionalId,
          producerId: String(producerId),
          producerEpoch,
          topics,
        });
        assert.deepEqual(await viaKafkajs(decodeAddPartitionsToTxnRequest, req), {
          transactionalId,
          producerId,
          producerEpoch,
          topics: topics.map((t) => ({ name: t.topic, partitions: t.partitions })),
        });
        assertPrefixesThrow(decodeAddPartitionsToTxnRequest, version, await kafkajsRequestBody(req));
      },
    ),
    { numRuns: 150 },
  );
});

test('AddPartitionsToTxn: any response reads back through kafkajs', async () => {
  const result = fc.record({
    name: arb.string(),
    resultsByPartition: fc.array(
      fc.record({ partitionIndex: arb.int32(), partitionErrorCode: arb.int16() }),
      { maxLength: 4 },
    ),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...versions),
      fc.record({ throttleTimeMs: arb.int32(), resultsByTopic: fc.array(result, { maxLength: 4 }) }),
      async (version, res) => {
        const body = encodeBody(encodeAddPartitionsToTxnResponse, version, res);
        const kjs = kafkajsResponse('addPartitionsToTxn', version);
        assert.deepEqual(await kafkajsReads(kjs, body, { parse: false }), kafkajsView(version, res));
      },
    ),
    { numRuns: 150 },
  );
});

test('AddPartitionsToTxn: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeAddPartitionsToTxnRequest, versions);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import { ErrorCode } from '../errorCodes.js';
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
import {
  decodeTxnOffsetCommitRequest,
  encodeTxnOffsetCommitResponse,
  type TxnOffsetCommitResponse,
} from './txnOffsetCommit.js';

// The versions this codec handles (v2 adds CommittedLeaderEpoch and kafkajs lacks it; v3+ is
// flexible). supportedVersions gains ApiKey.TxnOffsetCommit once the broker has a handler.
const versions = range(0, 1);

test('TxnOffsetCommit: api key, codec versions and served versions agree with kafkajs', () => {
  assert.equal(
    ApiKey.TxnOffsetCommit,
    kafkajs<Record<string, number>>('requests/apiKeys.js').TxnOffsetCommit,
  );
  assert.deepEqual(kafkajsVersions('txnOffsetCommit'), versions);
  const served = supportedVersions[ApiKey.TxnOffsetCommit];
  if (served)
    assert.deepEqual(
      range(served.min, served.max).filter((v) => !versions.includes(v)),
      [],
    );
});

for (const version of versions) {
  test(`TxnOffsetCommit v${version} request encoded by kafkajs`, async () => {
    // kafkajs keeps the producer id as the string its InitProducerId decoder made of the int64.
    const req = kafkajsRequest(
      'txnOffsetCommit',
      version,
    )({
      transactionalId: 'tx-1',
      groupId: 'grüp',
      producerId: String(2 ** 40 + 7),
      producerEpoch: 9,
      topics: [
        {
          topic: 'orders',
          partitions: [
            { partition: 0, offset: String(2 ** 40), metadata: 'meta' },
            { partition: 3, offset: '0' }, // no metadata: a null string
            { partition: 5, offset: '17', metadata: '' },
          ],
        },
        { topic: 'ünïcödé', partitions: [] },
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeTxnOffsetCommitRequest, req), {
      transactionalId: 'tx-1',
      groupId: 'grüp',
      producerId: 2 ** 40 + 7,
      producerEpoch: 9,
      topics: [
        {
          name: 'orders',
          partitions: [
            { partitionIndex: 0, committedOffset: 2 ** 40, committedMetadata: 'meta' },
            { partitionIndex: 3, committedOffset: 0, committedMetadata: null },
            { partitionIndex: 5, committedOffset: 17, committedMetadata: '' },
          ],
        },
        { name: 'ünïcödé', partitions: [] },
      ],
    });
    assertPrefixesThrow(decodeTxnOffsetCommitRequest, version, await kafkajsRequestBody(req));
  });
}

const response: TxnOffsetCommitResponse = {
  throttleTimeMs: 8,
  topics: [
    {
      name: 'orders',
      partitions: [
        { partitionIndex: 0, errorCode: 0 },
        { partitionIndex: 3, errorCode: 0 },
      ],
    },
    { name: 'ünïcödé', partitions: [] },
  ],
};

/** kafkajs's decode (not parse) of `res` at each version. */
function kafkajsView(version: number, res: TxnOffsetCommitResponse): unknown {
  const topics = res.topics.map((t) => ({
    topic: t.name,
    partitions: t.partitions.map((p) => ({ partition: p.partitionIndex, errorCode: p.errorCode })),
  }));
  // From v1 kafkajs treats the throttle as a request to throttle itself (KIP-219).
  if (version === 0) return { throttleTime: res.throttleTimeMs, topics };
  return { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs, topics };
}

for (const version of versions) {
  test(`TxnOffsetCommit v${version} response decoded by kafkajs`, async () => {
    const kjs = kafkajsResponse('txnOffsetCommit', version);
    const body = encodeBody(encodeTxnOffsetCommitResponse, version, response);
    assert.deepEqual(await kafkajsReads(kjs, body), kafkajsView(version, response));

    const failed = structuredClone(response);
    failed.topics[0].partitions[1].errorCode = ErrorCode.INVALID_PRODUCER_EPOCH;
    const failedBody = encodeBody(encodeTxnOffsetCommitResponse, version, failed);
    assert.deepEqual(await kafkajsReads(kjs, failedBody, { parse: false }), kafkajsView(version, failed));
    await assert.rejects(kafkajsReads(kjs, failedBody), {
      name: 'KafkaJSProtocolError',
      type: 'INVALID_PRODUCER_EPOCH',
    });
  });
}

test('TxnOffsetCommit: any kafkajs request decodes to the values it was built from', async () => {
  const partition = fc.record({
    partition: arb.int32(),
    offset: arb.int64(),
    metadata: fc.option(arb.string()),
  });
  const topic = fc.record({ topic: arb.string(), partitions: fc.array(partition, { maxLength: 4 }) });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...versions),
      arb.string(),
      arb.string(),
      arb.int64(),
      arb.int16(),
      fc.array(topic, { maxLength: 4 }),
      async (version, transactionalId, groupId, producerId, producerEpoch, topics) => {
        const req = kafkajsRequest(
          'txnOffsetCommit',
          version,
        )({
          transactionalId,
          groupId,
          producerId: String(producerId),
          producerEpoch,
          topics: topics.map((t) => ({
            topic: t.topic,
            partitions: t.partitions.map((p) => ({ ...p, offset: String(p.offset) })),
          })),
        });
        assert.deepEqual(await viaKafkajs(decodeTxnOffsetCommitRequest, req), {
          transactionalId,
          groupId,
          producerId,
          producerEpoch,
          topics: topics.map((t) => ({
            name: t.topic,
            partitions: t.partitions.map((p) => ({
              partitionIndex: p.partition,
              committedOffset: p.offset,
              committedMetadata: p.metadata,
            })),
          })),
        });
        assertPrefixesThrow(decodeTxnOffsetCommitRequest, version, await kafkajsRequestBody(req));
      },
    ),
    { numRuns: 150 },
  );
});

test('TxnOffsetCommit: any response reads back through kafkajs', async () => {
  const topic = fc.record({
    name: arb.string(),
    partitions: fc.array(fc.record({ partitionIndex: arb.int32(), errorCode: arb.int16() }), {
      maxLength: 4,
    }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...versions),
      fc.record({ throttleTimeMs: arb.int32(), topics: fc.array(topic, { maxLength: 4 }) }),
      async (version, res) => {
        const body = encodeBody(encodeTxnOffsetCommitResponse, version, res);
        const kjs = kafkajsResponse('txnOffsetCommit', version);
        assert.deepEqual(await kafkajsReads(kjs, body, { parse: false }), kafkajsView(version, res));
      },
    ),
    { numRuns: 150 },
  );
});

test('TxnOffsetCommit: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeTxnOffsetCommitRequest, versions);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  assertGarbageIsProtocolError,
  assertPrefixesThrow,
  encodeBody,
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsResponse,
  kafkajsVersions,
  range,
  viaKafkajs,
} from './harness.test.js';
import {
  decodeListOffsetsRequest,
  encodeListOffsetsResponse,
  type ListOffsetsResponse,
} from './listOffsets.js';

const { min, max } = supportedVersions[ApiKey.ListOffsets];
const versions = range(min, max);
const T = 1_700_000_000_000;

test('kafkajs implements every served ListOffsets version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('listOffsets').includes(v)),
    [],
  );
});

for (const version of versions) {
  test(`ListOffsets v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'listOffsets',
      version,
    )({
      replicaId: -1,
      isolationLevel: 1,
      topics: [
        {
          topic: 'orders',
          partitions: [
            { partition: 0, timestamp: -2, maxNumOffsets: 3 },
            { partition: 2, timestamp: T },
          ],
        },
        { topic: 'ünïcödé', partitions: [{ partition: 1 }] }, // kafkajs defaults timestamp to -1 (latest)
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeListOffsetsRequest, req), {
      replicaId: -1,
      isolationLevel: version >= 2 ? 1 : 0,
      topics: [
        {
          name: 'orders',
          partitions: [
            { partitionIndex: 0, timestamp: -2, maxNumOffsets: version === 0 ? 3 : 1 },
            { partitionIndex: 2, timestamp: T, maxNumOffsets: 1 },
          ],
        },
        { name: 'ünïcödé', partitions: [{ partitionIndex: 1, timestamp: -1, maxNumOffsets: 1 }] },
      ],
    });
    assertPrefixesThrow(decodeListOffsetsRequest, version, await kafkajsRequestBody(req));
  });
}

const response: ListOffsetsResponse = {
  throttleTimeMs: 5,
  topics: [
    {
      name: 'orders',
      partitions: [
        { partitionIndex: 0, errorCode: 0, oldStyleOffsets: [2 ** 40, 0], timestamp: -1, offset: 2 ** 40 },
        { partitionIndex: 2, errorCode: 0, oldStyleOffsets: [], timestamp: T, offset: 17 },
      ],
    },
  ],
};

function kafkajsView(version: number, res: ListOffsetsResponse): unknown {
  const responses = res.topics.map((t) => ({
    topic: t.name,
    partitions: t.partitions.map((p) =>
      version === 0
        ? { partition: p.partitionIndex, errorCode: p.errorCode, offsets: p.oldStyleOffsets.map(String) }
        : {
            partition: p.partitionIndex,
            errorCode: p.errorCode,
            timestamp: String(p.timestamp),
            offset: String(p.offset),
          },
    ),
  }));
  return version >= 2 ? { throttleTime: res.throttleTimeMs, responses } : { responses };
}

for (const version of versions) {
  test(`ListOffsets v${version} response decoded by kafkajs`, async () => {
    const body = encodeBody(encodeListOffsetsResponse, version, response);
    assert.deepEqual(
      await kafkajsReads(kafkajsResponse('listOffsets', version), body),
      kafkajsView(version, response),
    );

    const failed = structuredClone(response);
    failed.topics[0].partitions[1].errorCode = 3;
    const failedBody = encodeBody(encodeListOffsetsResponse, version, failed);
    await assert.rejects(kafkajsReads(kafkajsResponse('listOffsets', version), failedBody), {
      type: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
  });
}

test('ListOffsets: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeListOffsetsRequest, versions);
});

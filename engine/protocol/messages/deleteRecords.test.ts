import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  type DeleteRecordsResponse,
  decodeDeleteRecordsRequest,
  encodeDeleteRecordsResponse,
} from './deleteRecords.js';
import {
  assertGarbageIsProtocolError,
  assertPrefixesThrow,
  encodeBody,
  type KafkaJsResponse,
  kafkajs,
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsVersions,
  range,
  viaKafkajs,
} from './harness.test.js';

const { min, max } = supportedVersions[ApiKey.DeleteRecords];
const versions = range(min, max);

test('kafkajs implements every served DeleteRecords version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('deleteRecords').includes(v)),
    [],
  );
});

const requested = [
  {
    topic: 'orders',
    partitions: [
      { partition: 0, offset: 2 ** 40 },
      { partition: 3, offset: -1 },
    ],
  },
];

/** kafkajs's DeleteRecords response module needs the request's topics to word its errors. */
function kafkajsResponse(version: number): KafkaJsResponse {
  const factory = kafkajs<(o: { topics: typeof requested }) => KafkaJsResponse>(
    `requests/deleteRecords/v${version}/response.js`,
  );
  return factory({ topics: requested });
}

const response: DeleteRecordsResponse = {
  throttleTimeMs: 14,
  topics: [
    {
      name: 'orders',
      partitions: [
        { partitionIndex: 0, lowWatermark: 2 ** 40, errorCode: 0 },
        { partitionIndex: 3, lowWatermark: 512, errorCode: 0 },
      ],
    },
  ],
};

for (const version of versions) {
  test(`DeleteRecords v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest('deleteRecords', version)({ topics: requested, timeout: 7_000 });
    assert.deepEqual(await viaKafkajs(decodeDeleteRecordsRequest, req), {
      topics: [
        {
          name: 'orders',
          partitions: [
            { partitionIndex: 0, offset: 2 ** 40 },
            { partitionIndex: 3, offset: -1 },
          ],
        },
      ],
      timeoutMs: 7_000,
    });
    assertPrefixesThrow(decodeDeleteRecordsRequest, version, await kafkajsRequestBody(req));
  });

  test(`DeleteRecords v${version} response decoded by kafkajs`, async () => {
    const topics = [
      {
        topic: 'orders',
        partitions: [
          // kafkajs leaves this int64 as a bigint.
          { partition: 0, lowWatermark: 2n ** 40n, errorCode: 0 },
          { partition: 3, lowWatermark: 512n, errorCode: 0 },
        ],
      },
    ];
    const view =
      version === 0 ? { throttleTime: 14, topics } : { throttleTime: 0, clientSideThrottleTime: 14, topics };
    const body = encodeBody(encodeDeleteRecordsResponse, version, response);
    assert.deepEqual(await kafkajsReads(kafkajsResponse(version), body), view);

    const failed = structuredClone(response);
    failed.topics[0].partitions[1].errorCode = 1;
    await assert.rejects(
      kafkajsReads(kafkajsResponse(version), encodeBody(encodeDeleteRecordsResponse, version, failed)),
      {
        name: 'KafkaJSDeleteTopicRecordsError',
      },
    );
  });
}

test('DeleteRecords: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeDeleteRecordsRequest, versions);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  type CreatePartitionsResponse,
  decodeCreatePartitionsRequest,
  encodeCreatePartitionsResponse,
} from './createPartitions.js';
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

const { min, max } = supportedVersions[ApiKey.CreatePartitions];
const versions = range(min, max);

test('kafkajs implements every served CreatePartitions version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('createPartitions').includes(v)),
    [],
  );
});

for (const version of versions) {
  test(`CreatePartitions v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'createPartitions',
      version,
    )({
      timeout: 6_000,
      validateOnly: true,
      topicPartitions: [
        { topic: 'orders', count: 5, assignments: [[1], [1, 2]] },
        { topic: 'ünïcödé', count: 2 }, // no assignments: kafkajs writes a null array
        { topic: 'odd', count: 3, assignments: [[]] }, // and an empty broker list as null too
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeCreatePartitionsRequest, req), {
      topics: [
        { name: 'orders', count: 5, assignments: [{ brokerIds: [1] }, { brokerIds: [1, 2] }] },
        { name: 'ünïcödé', count: 2, assignments: null },
        { name: 'odd', count: 3, assignments: [{ brokerIds: [] }] },
      ],
      timeoutMs: 6_000,
      validateOnly: true,
    });
    assertPrefixesThrow(decodeCreatePartitionsRequest, version, await kafkajsRequestBody(req));
  });
}

const response: CreatePartitionsResponse = {
  throttleTimeMs: 19,
  results: [
    { name: 'orders', errorCode: 0, errorMessage: null },
    { name: 'alpha', errorCode: 0, errorMessage: null },
  ],
};

for (const version of versions) {
  test(`CreatePartitions v${version} response decoded by kafkajs`, async () => {
    const topicErrors = [
      { topic: 'alpha', errorCode: 0, errorMessage: null },
      { topic: 'orders', errorCode: 0, errorMessage: null },
    ];
    const view =
      version === 0
        ? { throttleTime: 19, topicErrors }
        : { throttleTime: 0, clientSideThrottleTime: 19, topicErrors };
    const res = kafkajsResponse('createPartitions', version);
    assert.deepEqual(
      await kafkajsReads(res, encodeBody(encodeCreatePartitionsResponse, version, response)),
      view,
    );
    const failed = {
      ...response,
      results: [{ name: 'orders', errorCode: 37, errorMessage: 'fewer than now' }],
    };
    await assert.rejects(kafkajsReads(res, encodeBody(encodeCreatePartitionsResponse, version, failed)), {
      type: 'INVALID_PARTITIONS',
    });
  });
}

test('CreatePartitions: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeCreatePartitionsRequest, versions);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  type DeleteTopicsResponse,
  decodeDeleteTopicsRequest,
  encodeDeleteTopicsResponse,
} from './deleteTopics.js';
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

const { min, max } = supportedVersions[ApiKey.DeleteTopics];
const versions = range(min, max);

test('kafkajs implements every served DeleteTopics version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('deleteTopics').includes(v)),
    [],
  );
});

const response: DeleteTopicsResponse = {
  throttleTimeMs: 13,
  responses: [
    { name: 'orders', errorCode: 0 },
    { name: 'alpha', errorCode: 0 },
  ],
};

for (const version of versions) {
  test(`DeleteTopics v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest('deleteTopics', version)({ topics: ['orders', 'ünïcödé'], timeout: 9_000 });
    assert.deepEqual(await viaKafkajs(decodeDeleteTopicsRequest, req), {
      topicNames: ['orders', 'ünïcödé'],
      timeoutMs: 9_000,
    });
    assertPrefixesThrow(decodeDeleteTopicsRequest, version, await kafkajsRequestBody(req));
  });

  test(`DeleteTopics v${version} response decoded by kafkajs`, async () => {
    // kafkajs sorts by name; v1 is the first version whose throttle it applies itself.
    const topicErrors = [
      { topic: 'alpha', errorCode: 0 },
      { topic: 'orders', errorCode: 0 },
    ];
    const view =
      version === 0 ? { topicErrors } : { throttleTime: 0, clientSideThrottleTime: 13, topicErrors };
    const res = kafkajsResponse('deleteTopics', version);
    assert.deepEqual(
      await kafkajsReads(res, encodeBody(encodeDeleteTopicsResponse, version, response)),
      view,
    );
    const failed = { ...response, responses: [{ name: 'orders', errorCode: 3 }] };
    await assert.rejects(kafkajsReads(res, encodeBody(encodeDeleteTopicsResponse, version, failed)), {
      type: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
  });
}

test('DeleteTopics: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeDeleteTopicsRequest, versions);
});

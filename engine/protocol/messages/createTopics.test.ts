import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  type CreateTopicsResponse,
  decodeCreateTopicsRequest,
  encodeCreateTopicsResponse,
} from './createTopics.js';
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

const { min, max } = supportedVersions[ApiKey.CreateTopics];
const versions = range(min, max);

test('kafkajs implements every served CreateTopics version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('createTopics').includes(v)),
    [],
  );
});

for (const version of versions) {
  test(`CreateTopics v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'createTopics',
      version,
    )({
      timeout: 15_000,
      validateOnly: true,
      topics: [
        {
          topic: 'orders',
          numPartitions: 3,
          replicationFactor: 1,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'retention.ms', value: null },
          ],
        },
        {
          topic: 'ünïcödé',
          replicaAssignment: [
            { partition: 0, replicas: [1] },
            { partition: 1, replicas: [1, 2] },
          ],
        },
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeCreateTopicsRequest, req), {
      topics: [
        {
          name: 'orders',
          numPartitions: 3,
          replicationFactor: 1,
          assignments: [],
          configs: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'retention.ms', value: null },
          ],
        },
        {
          // kafkajs sends -1 ("broker default") for what it is not given.
          name: 'ünïcödé',
          numPartitions: -1,
          replicationFactor: -1,
          assignments: [
            { partitionIndex: 0, brokerIds: [1] },
            { partitionIndex: 1, brokerIds: [1, 2] },
          ],
          configs: [],
        },
      ],
      timeoutMs: 15_000,
      validateOnly: version >= 1,
    });
    assertPrefixesThrow(decodeCreateTopicsRequest, version, await kafkajsRequestBody(req));
  });
}

const response: CreateTopicsResponse = {
  throttleTimeMs: 11,
  topics: [
    { name: 'orders', errorCode: 0, errorMessage: null },
    { name: 'alpha', errorCode: 0, errorMessage: 'created' },
  ],
};

function kafkajsView(version: number, res: CreateTopicsResponse): unknown {
  const topicErrors = res.topics
    .map((t) =>
      version === 0
        ? { topic: t.name, errorCode: t.errorCode }
        : { topic: t.name, errorCode: t.errorCode, errorMessage: t.errorMessage },
    )
    .sort((a, b) => a.topic.localeCompare(b.topic)); // kafkajs sorts by name
  if (version <= 1) return { topicErrors };
  if (version === 2) return { throttleTime: res.throttleTimeMs, topicErrors };
  return { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs, topicErrors };
}

for (const version of versions) {
  test(`CreateTopics v${version} response decoded by kafkajs`, async () => {
    const res = kafkajsResponse('createTopics', version);
    assert.deepEqual(
      await kafkajsReads(res, encodeBody(encodeCreateTopicsResponse, version, response)),
      kafkajsView(version, response),
    );
    const failed = { ...response, topics: [{ name: 'orders', errorCode: 36, errorMessage: 'exists' }] };
    await assert.rejects(
      kafkajsReads(res, encodeBody(encodeCreateTopicsResponse, version, failed)),
      (e: unknown) => {
        const agg = e as { name: string; errors: { type: string; topic: string }[] };
        assert.equal(agg.name, 'KafkaJSAggregateError');
        assert.deepEqual(
          agg.errors.map((x) => [x.type, x.topic]),
          [['TOPIC_ALREADY_EXISTS', 'orders']],
        );
        return true;
      },
    );
  });
}

test('CreateTopics: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeCreateTopicsRequest, versions);
});

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
  decodeOffsetCommitRequest,
  encodeOffsetCommitResponse,
  type OffsetCommitResponse,
} from './offsetCommit.js';

const { min, max } = supportedVersions[ApiKey.OffsetCommit];
const versions = range(min, max);
const T = 1_700_000_000_000;

test('kafkajs implements every served OffsetCommit version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('offsetCommit').includes(v)),
    [],
  );
});

for (const version of versions) {
  test(`OffsetCommit v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'offsetCommit',
      version,
    )({
      groupId: 'grp',
      groupGenerationId: 5,
      memberId: 'member-a',
      retentionTime: 86_400_000,
      topics: [
        {
          topic: 'orders',
          partitions: [
            { partition: 0, offset: 2 ** 40, timestamp: T, metadata: 'meta' },
            { partition: 3, offset: 0, timestamp: T }, // kafkajs defaults metadata to null
          ],
        },
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeOffsetCommitRequest, req), {
      groupId: 'grp',
      generationIdOrMemberEpoch: version >= 1 ? 5 : -1,
      memberId: version >= 1 ? 'member-a' : '',
      retentionTimeMs: version >= 2 && version <= 4 ? 86_400_000 : -1,
      topics: [
        {
          name: 'orders',
          partitions: [
            {
              partitionIndex: 0,
              committedOffset: 2 ** 40,
              commitTimestamp: version === 1 ? T : -1,
              committedMetadata: 'meta',
            },
            {
              partitionIndex: 3,
              committedOffset: 0,
              commitTimestamp: version === 1 ? T : -1,
              committedMetadata: null,
            },
          ],
        },
      ],
    });
    assertPrefixesThrow(decodeOffsetCommitRequest, version, await kafkajsRequestBody(req));
  });
}

const response: OffsetCommitResponse = {
  throttleTimeMs: 9,
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

function kafkajsView(version: number, res: OffsetCommitResponse): unknown {
  const responses = res.topics.map((t) => ({
    topic: t.name,
    partitions: t.partitions.map((p) => ({ partition: p.partitionIndex, errorCode: p.errorCode })),
  }));
  if (version <= 2) return { responses };
  if (version === 3) return { throttleTime: res.throttleTimeMs, responses };
  return { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs, responses };
}

for (const version of versions) {
  test(`OffsetCommit v${version} response decoded by kafkajs`, async () => {
    const body = encodeBody(encodeOffsetCommitResponse, version, response);
    assert.deepEqual(
      await kafkajsReads(kafkajsResponse('offsetCommit', version), body),
      kafkajsView(version, response),
    );

    const failed = structuredClone(response);
    failed.topics[0].partitions[1].errorCode = 22;
    const failedBody = encodeBody(encodeOffsetCommitResponse, version, failed);
    await assert.rejects(kafkajsReads(kafkajsResponse('offsetCommit', version), failedBody), {
      type: 'ILLEGAL_GENERATION',
    });
  });
}

test('OffsetCommit: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeOffsetCommitRequest, versions);
});

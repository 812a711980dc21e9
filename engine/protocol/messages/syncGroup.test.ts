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
import { decodeSyncGroupRequest, encodeSyncGroupResponse, type SyncGroupResponse } from './syncGroup.js';

const { min, max } = supportedVersions[ApiKey.SyncGroup];
const versions = range(min, max);

test('kafkajs implements every served SyncGroup version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('syncGroup').includes(v)),
    [],
  );
});

const assignmentA = Buffer.from([
  0, 1, 0, 0, 0, 1, 0, 6, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x73, 0, 0, 0, 1, 0, 0, 0, 0,
]);

for (const version of versions) {
  test(`SyncGroup v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'syncGroup',
      version,
    )({
      groupId: 'grp',
      generationId: 4,
      memberId: 'member-a',
      groupInstanceId: 'instance-1',
      groupAssignment: [
        { memberId: 'member-a', memberAssignment: assignmentA },
        { memberId: 'member-b', memberAssignment: Buffer.alloc(0) },
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeSyncGroupRequest, req), {
      groupId: 'grp',
      generationId: 4,
      memberId: 'member-a',
      groupInstanceId: version >= 3 ? 'instance-1' : null,
      assignments: [
        { memberId: 'member-a', assignment: assignmentA },
        { memberId: 'member-b', assignment: Buffer.alloc(0) },
      ],
    });
    assertPrefixesThrow(decodeSyncGroupRequest, version, await kafkajsRequestBody(req));
  });

  test(`SyncGroup v${version} response decoded by kafkajs`, async () => {
    const res: SyncGroupResponse = { throttleTimeMs: 2, errorCode: 0, assignment: assignmentA };
    const base = { errorCode: 0, memberAssignment: assignmentA };
    const view =
      version === 0
        ? base
        : version === 1
          ? { throttleTime: 2, ...base }
          : { throttleTime: 0, clientSideThrottleTime: 2, ...base };
    const response = kafkajsResponse('syncGroup', version);
    assert.deepEqual(await kafkajsReads(response, encodeBody(encodeSyncGroupResponse, version, res)), view);
    const failed = { ...res, errorCode: 27, assignment: Buffer.alloc(0) };
    await assert.rejects(kafkajsReads(response, encodeBody(encodeSyncGroupResponse, version, failed)), {
      type: 'REBALANCE_IN_PROGRESS',
    });
  });
}

test('SyncGroup: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeSyncGroupRequest, versions);
});

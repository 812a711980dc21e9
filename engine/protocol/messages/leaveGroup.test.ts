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
import { decodeLeaveGroupRequest, encodeLeaveGroupResponse } from './leaveGroup.js';

const { min, max } = supportedVersions[ApiKey.LeaveGroup];
const versions = range(min, max);

test('kafkajs implements every served LeaveGroup version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('leaveGroup').includes(v)),
    [],
  );
});

for (const version of versions) {
  test(`LeaveGroup v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest('leaveGroup', version)({ groupId: 'grp', memberId: 'member-ä' });
    assert.deepEqual(await viaKafkajs(decodeLeaveGroupRequest, req), {
      groupId: 'grp',
      memberId: 'member-ä',
    });
    assertPrefixesThrow(decodeLeaveGroupRequest, version, await kafkajsRequestBody(req));
  });

  test(`LeaveGroup v${version} response decoded by kafkajs`, async () => {
    const res = { throttleTimeMs: 8, errorCode: 0 };
    const response = kafkajsResponse('leaveGroup', version);
    assert.deepEqual(
      await kafkajsReads(response, encodeBody(encodeLeaveGroupResponse, version, res)),
      version === 0 ? { errorCode: 0 } : { throttleTime: 8, errorCode: 0 },
    );
    await assert.rejects(
      kafkajsReads(response, encodeBody(encodeLeaveGroupResponse, version, { ...res, errorCode: 25 })),
      { type: 'UNKNOWN_MEMBER_ID' },
    );
  });
}

test('LeaveGroup: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeLeaveGroupRequest, versions);
});

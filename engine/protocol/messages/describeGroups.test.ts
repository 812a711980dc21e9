import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  type DescribeGroupsResponse,
  decodeDescribeGroupsRequest,
  encodeDescribeGroupsResponse,
} from './describeGroups.js';
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

const { min, max } = supportedVersions[ApiKey.DescribeGroups];
const versions = range(min, max);

test('kafkajs implements every served DescribeGroups version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('describeGroups').includes(v)),
    [],
  );
});

const response: DescribeGroupsResponse = {
  throttleTimeMs: 6,
  groups: [
    {
      errorCode: 0,
      groupId: 'grp',
      groupState: 'Stable',
      protocolType: 'consumer',
      protocolData: 'RoundRobinAssigner',
      members: [
        {
          memberId: 'member-a',
          clientId: 'client-ä',
          clientHost: '/127.0.0.1',
          memberMetadata: Buffer.from([0, 1, 2]),
          memberAssignment: Buffer.from([3, 4]),
        },
      ],
    },
    { errorCode: 0, groupId: 'idle', groupState: 'Empty', protocolType: '', protocolData: '', members: [] },
  ],
};

function kafkajsView(version: number, res: DescribeGroupsResponse): unknown {
  const groups = res.groups.map((g) => ({
    errorCode: g.errorCode,
    groupId: g.groupId,
    state: g.groupState,
    protocolType: g.protocolType,
    protocol: g.protocolData,
    members: g.members.map((m) => ({ ...m })),
  }));
  if (version === 0) return { groups };
  if (version === 1) return { throttleTime: res.throttleTimeMs, groups };
  return { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs, groups };
}

for (const version of versions) {
  test(`DescribeGroups v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest('describeGroups', version)({ groupIds: ['grp', 'idle'] });
    assert.deepEqual(await viaKafkajs(decodeDescribeGroupsRequest, req), { groups: ['grp', 'idle'] });
    assertPrefixesThrow(decodeDescribeGroupsRequest, version, await kafkajsRequestBody(req));
  });

  test(`DescribeGroups v${version} response decoded by kafkajs`, async () => {
    const response_ = kafkajsResponse('describeGroups', version);
    const body = encodeBody(encodeDescribeGroupsResponse, version, response);
    assert.deepEqual(await kafkajsReads(response_, body), kafkajsView(version, response));
    // Not structuredClone: it turns Buffers into plain Uint8Arrays.
    const failed = { ...response, groups: [response.groups[0], { ...response.groups[1], errorCode: 69 }] };
    const failedBody = encodeBody(encodeDescribeGroupsResponse, version, failed);
    await assert.rejects(kafkajsReads(response_, failedBody), { type: 'GROUP_ID_NOT_FOUND' });
  });
}

test('DescribeGroups: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeDescribeGroupsRequest, versions);
});

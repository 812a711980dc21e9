import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  decodeBody,
  encodeBody,
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsResponse,
  kafkajsVersions,
  range,
  viaKafkajs,
} from './harness.test.js';
import { decodeListGroupsRequest, encodeListGroupsResponse, type ListGroupsResponse } from './listGroups.js';

const { min, max } = supportedVersions[ApiKey.ListGroups];
const versions = range(min, max);

test('kafkajs implements every served ListGroups version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('listGroups').includes(v)),
    [],
  );
});

const response: ListGroupsResponse = {
  throttleTimeMs: 4,
  errorCode: 0,
  groups: [
    { groupId: 'grp', protocolType: 'consumer' },
    { groupId: 'grüppe', protocolType: '' },
  ],
};

for (const version of versions) {
  test(`ListGroups v${version} request encoded by kafkajs (an empty body)`, async () => {
    const req = kafkajsRequest('listGroups', version)({});
    assert.equal((await kafkajsRequestBody(req)).length, 0);
    assert.deepEqual(await viaKafkajs(decodeListGroupsRequest, req), {});
    // Later versions' filters are not ours to read: a trailing byte is left for the caller to reject.
    assert.throws(() => decodeBody(decodeListGroupsRequest, version, Buffer.from([0])), /unread/);
  });

  test(`ListGroups v${version} response decoded by kafkajs`, async () => {
    const base = { errorCode: 0, groups: response.groups };
    const view =
      version === 0
        ? base
        : version === 1
          ? { throttleTime: 4, ...base }
          : { throttleTime: 0, clientSideThrottleTime: 4, ...base };
    const res = kafkajsResponse('listGroups', version);
    assert.deepEqual(await kafkajsReads(res, encodeBody(encodeListGroupsResponse, version, response)), view);
    const failed = { ...response, errorCode: 15, groups: [] };
    await assert.rejects(kafkajsReads(res, encodeBody(encodeListGroupsResponse, version, failed)), {
      type: 'GROUP_COORDINATOR_NOT_AVAILABLE',
    });
  });
}

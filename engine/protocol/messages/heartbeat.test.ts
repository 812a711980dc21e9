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
import { decodeHeartbeatRequest, encodeHeartbeatResponse } from './heartbeat.js';

const { min, max } = supportedVersions[ApiKey.Heartbeat];
const versions = range(min, max);

test('kafkajs implements every served Heartbeat version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('heartbeat').includes(v)),
    [],
  );
});

for (const version of versions) {
  test(`Heartbeat v${version} request encoded by kafkajs`, async () => {
    const args = {
      groupId: 'grp',
      groupGenerationId: 7,
      memberId: 'member-a',
      groupInstanceId: 'instance-1',
    };
    const req = kafkajsRequest('heartbeat', version)(args);
    assert.deepEqual(await viaKafkajs(decodeHeartbeatRequest, req), {
      groupId: 'grp',
      generationId: 7,
      memberId: 'member-a',
      groupInstanceId: version >= 3 ? 'instance-1' : null,
    });
    assertPrefixesThrow(decodeHeartbeatRequest, version, await kafkajsRequestBody(req));
    if (version >= 3) {
      // kafkajs leaves groupInstanceId undefined when the consumer is not static: a null string.
      const dynamic = kafkajsRequest('heartbeat', version)({ ...args, groupInstanceId: undefined });
      assert.equal((await viaKafkajs(decodeHeartbeatRequest, dynamic)).groupInstanceId, null);
    }
  });

  test(`Heartbeat v${version} response decoded by kafkajs`, async () => {
    const res = { throttleTimeMs: 21, errorCode: 0 };
    const view =
      version === 0
        ? { errorCode: 0 }
        : version === 1
          ? { throttleTime: 21, errorCode: 0 }
          : { throttleTime: 0, clientSideThrottleTime: 21, errorCode: 0 };
    const response = kafkajsResponse('heartbeat', version);
    assert.deepEqual(await kafkajsReads(response, encodeBody(encodeHeartbeatResponse, version, res)), view);
    await assert.rejects(
      kafkajsReads(response, encodeBody(encodeHeartbeatResponse, version, { ...res, errorCode: 27 })),
      { type: 'REBALANCE_IN_PROGRESS' },
    );
  });
}

test('Heartbeat: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeHeartbeatRequest, versions);
});

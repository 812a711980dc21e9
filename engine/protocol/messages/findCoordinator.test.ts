import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  decodeFindCoordinatorRequest,
  encodeFindCoordinatorResponse,
  type FindCoordinatorResponse,
} from './findCoordinator.js';
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

const { min, max } = supportedVersions[ApiKey.FindCoordinator];
const versions = range(min, max);

test('kafkajs implements every served FindCoordinator version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('findCoordinator').includes(v)),
    [],
  );
});

for (const version of versions) {
  test(`FindCoordinator v${version} request encoded by kafkajs`, async () => {
    // v0 is group-only; v1+ carries a key type (1 = transaction).
    const args = version === 0 ? { groupId: 'grp' } : { coordinatorKey: 'tx-1', coordinatorType: 1 };
    const req = kafkajsRequest('findCoordinator', version)(args);
    assert.deepEqual(
      await viaKafkajs(decodeFindCoordinatorRequest, req),
      version === 0 ? { key: 'grp', keyType: 0 } : { key: 'tx-1', keyType: 1 },
    );
    assertPrefixesThrow(decodeFindCoordinatorRequest, version, await kafkajsRequestBody(req));
  });
}

const response: FindCoordinatorResponse = {
  throttleTimeMs: 12,
  errorCode: 0,
  errorMessage: null,
  nodeId: 1,
  host: 'localhost',
  port: 9092,
};

function kafkajsView(version: number, res: FindCoordinatorResponse): unknown {
  const coordinator = { nodeId: res.nodeId, host: res.host, port: res.port };
  if (version === 0) return { errorCode: res.errorCode, coordinator };
  const view = {
    throttleTime: res.throttleTimeMs,
    errorCode: res.errorCode,
    errorMessage: res.errorMessage,
    coordinator,
  };
  return version === 1 ? view : { ...view, throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs };
}

for (const version of versions) {
  test(`FindCoordinator v${version} response decoded by kafkajs`, async () => {
    const body = encodeBody(encodeFindCoordinatorResponse, version, response);
    assert.deepEqual(
      await kafkajsReads(kafkajsResponse('findCoordinator', version), body),
      kafkajsView(version, response),
    );
    const withMessage = { ...response, errorMessage: 'fine' };
    assert.deepEqual(
      await kafkajsReads(
        kafkajsResponse('findCoordinator', version),
        encodeBody(encodeFindCoordinatorResponse, version, withMessage),
      ),
      kafkajsView(version, withMessage),
    );
    const failed = { ...response, errorCode: 15, nodeId: -1, host: '', port: -1 };
    await assert.rejects(
      kafkajsReads(
        kafkajsResponse('findCoordinator', version),
        encodeBody(encodeFindCoordinatorResponse, version, failed),
      ),
      { type: 'GROUP_COORDINATOR_NOT_AVAILABLE' },
    );
  });
}

test('FindCoordinator: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeFindCoordinatorRequest, versions);
});

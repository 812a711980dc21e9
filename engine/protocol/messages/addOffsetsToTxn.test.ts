import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import { ErrorCode } from '../errorCodes.js';
import { decodeAddOffsetsToTxnRequest, encodeAddOffsetsToTxnResponse } from './addOffsetsToTxn.js';
import {
  assertGarbageIsProtocolError,
  assertPrefixesThrow,
  encodeBody,
  kafkajs,
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsResponse,
  kafkajsVersions,
  range,
  viaKafkajs,
} from './harness.test.js';

// The versions this codec handles (v2 is identical to v1 but kafkajs lacks it; v3+ is flexible).
// supportedVersions gains ApiKey.AddOffsetsToTxn once the broker has a handler.
const versions = range(0, 1);

test('AddOffsetsToTxn: api key, codec versions and served versions agree with kafkajs', () => {
  assert.equal(
    ApiKey.AddOffsetsToTxn,
    kafkajs<Record<string, number>>('requests/apiKeys.js').AddOffsetsToTxn,
  );
  assert.deepEqual(kafkajsVersions('addOffsetsToTxn'), versions);
  const served = supportedVersions[ApiKey.AddOffsetsToTxn];
  if (served)
    assert.deepEqual(
      range(served.min, served.max).filter((v) => !versions.includes(v)),
      [],
    );
});

for (const version of versions) {
  test(`AddOffsetsToTxn v${version} request encoded by kafkajs`, async () => {
    // kafkajs keeps the producer id as the string its InitProducerId decoder made of the int64.
    const req = kafkajsRequest(
      'addOffsetsToTxn',
      version,
    )({ transactionalId: 'tx-1', producerId: String(2 ** 40 + 7), producerEpoch: 12, groupId: 'grüp' });
    assert.deepEqual(await viaKafkajs(decodeAddOffsetsToTxnRequest, req), {
      transactionalId: 'tx-1',
      producerId: 2 ** 40 + 7,
      producerEpoch: 12,
      groupId: 'grüp',
    });
    assertPrefixesThrow(decodeAddOffsetsToTxnRequest, version, await kafkajsRequestBody(req));
  });

  test(`AddOffsetsToTxn v${version} response decoded by kafkajs`, async () => {
    const kjs = kafkajsResponse('addOffsetsToTxn', version);
    const body = encodeBody(encodeAddOffsetsToTxnResponse, version, { throttleTimeMs: 33, errorCode: 0 });
    assert.deepEqual(
      await kafkajsReads(kjs, body),
      version === 0
        ? { throttleTime: 33, errorCode: 0 }
        : { throttleTime: 0, clientSideThrottleTime: 33, errorCode: 0 },
    );
    for (const [errorCode, type] of [
      [ErrorCode.INVALID_TXN_STATE, 'INVALID_TXN_STATE'],
      [ErrorCode.INVALID_PRODUCER_EPOCH, 'INVALID_PRODUCER_EPOCH'],
      [ErrorCode.NOT_COORDINATOR, 'NOT_COORDINATOR_FOR_GROUP'], // kafkajs's name for it
      [ErrorCode.UNSUPPORTED_VERSION, 'UNSUPPORTED_VERSION'], // kafkajs throws this one while decoding
    ] as const) {
      const failed = encodeBody(encodeAddOffsetsToTxnResponse, version, { throttleTimeMs: 0, errorCode });
      await assert.rejects(kafkajsReads(kjs, failed), { name: 'KafkaJSProtocolError', type });
    }
  });
}

test('AddOffsetsToTxn: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeAddOffsetsToTxnRequest, versions);
});

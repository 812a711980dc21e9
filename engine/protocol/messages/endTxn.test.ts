import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import { ErrorCode } from '../errorCodes.js';
import { decodeEndTxnRequest, encodeEndTxnResponse } from './endTxn.js';
import {
  assertGarbageIsProtocolError,
  assertPrefixesThrow,
  bytes,
  decodeBody,
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
// supportedVersions gains ApiKey.EndTxn once the broker has a handler.
const versions = range(0, 1);

test('EndTxn: api key, codec versions and served versions agree with kafkajs', () => {
  assert.equal(ApiKey.EndTxn, kafkajs<Record<string, number>>('requests/apiKeys.js').EndTxn);
  assert.deepEqual(kafkajsVersions('endTxn'), versions);
  const served = supportedVersions[ApiKey.EndTxn];
  if (served)
    assert.deepEqual(
      range(served.min, served.max).filter((v) => !versions.includes(v)),
      [],
    );
});

for (const version of versions) {
  test(`EndTxn v${version} request encoded by kafkajs`, async () => {
    for (const transactionResult of [true, false]) {
      const req = kafkajsRequest(
        'endTxn',
        version,
      )({ transactionalId: 'tx-ünï', producerId: String(2 ** 40 + 7), producerEpoch: 3, transactionResult });
      assert.deepEqual(await viaKafkajs(decodeEndTxnRequest, req), {
        transactionalId: 'tx-ünï',
        producerId: 2 ** 40 + 7,
        producerEpoch: 3,
        committed: transactionResult,
      });
      assertPrefixesThrow(decodeEndTxnRequest, version, await kafkajsRequestBody(req));
    }
  });

  test(`EndTxn v${version} response decoded by kafkajs`, async () => {
    const kjs = kafkajsResponse('endTxn', version);
    const body = encodeBody(encodeEndTxnResponse, version, { throttleTimeMs: 5, errorCode: 0 });
    assert.deepEqual(
      await kafkajsReads(kjs, body),
      version === 0
        ? { throttleTime: 5, errorCode: 0 }
        : { throttleTime: 0, clientSideThrottleTime: 5, errorCode: 0 },
    );
    for (const [errorCode, type] of [
      [ErrorCode.INVALID_PRODUCER_EPOCH, 'INVALID_PRODUCER_EPOCH'],
      [ErrorCode.INVALID_TXN_STATE, 'INVALID_TXN_STATE'],
      [ErrorCode.CONCURRENT_TRANSACTIONS, 'CONCURRENT_TRANSACTIONS'],
      [ErrorCode.INVALID_PRODUCER_ID_MAPPING, 'INVALID_PRODUCER_ID_MAPPING'],
      [ErrorCode.UNSUPPORTED_VERSION, 'UNSUPPORTED_VERSION'], // kafkajs throws this one while decoding
    ] as const) {
      const failed = encodeBody(encodeEndTxnResponse, version, { throttleTimeMs: 0, errorCode });
      await assert.rejects(kafkajsReads(kjs, failed), { name: 'KafkaJSProtocolError', type });
    }
  });
}

test('EndTxn request: any non-zero boolean byte commits, as Kafka reads it', () => {
  for (const [byte, committed] of [
    [0, false],
    [1, true],
    [2, true],
    [-1, true],
  ] as const) {
    const body = bytes((w) => w.string('tx').int64(0).int16(0).int8(byte));
    assert.equal(decodeBody(decodeEndTxnRequest, 1, body).committed, committed);
  }
});

test('EndTxn: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeEndTxnRequest, versions);
});

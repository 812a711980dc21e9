import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import { ErrorCode } from '../errorCodes.js';
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
import {
  decodeInitProducerIdRequest,
  encodeInitProducerIdResponse,
  type InitProducerIdResponse,
} from './initProducerId.js';

// The versions this codec handles (v2+ is flexible). supportedVersions gains
// ApiKey.InitProducerId once the broker has a handler; it must stay within these.
const versions = range(0, 1);

test('InitProducerId: api key, codec versions and served versions agree with kafkajs', () => {
  assert.equal(ApiKey.InitProducerId, kafkajs<Record<string, number>>('requests/apiKeys.js').InitProducerId);
  assert.deepEqual(kafkajsVersions('initProducerId'), versions);
  const served = supportedVersions[ApiKey.InitProducerId];
  if (served)
    assert.deepEqual(
      range(served.min, served.max).filter((v) => !versions.includes(v)),
      [],
    );
});

for (const version of versions) {
  test(`InitProducerId v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'initProducerId',
      version,
    )({ transactionalId: 'tx-ünï', transactionTimeout: 60_000 });
    assert.deepEqual(await viaKafkajs(decodeInitProducerIdRequest, req), {
      transactionalId: 'tx-ünï',
      transactionTimeoutMs: 60_000,
    });
    assertPrefixesThrow(decodeInitProducerIdRequest, version, await kafkajsRequestBody(req));

    // An idempotent, non-transactional producer leaves transactionalId undefined: a null string.
    const idempotent = kafkajsRequest('initProducerId', version)({ transactionTimeout: 5_000 });
    assert.deepEqual(await viaKafkajs(decodeInitProducerIdRequest, idempotent), {
      transactionalId: null,
      transactionTimeoutMs: 5_000,
    });
    assertPrefixesThrow(decodeInitProducerIdRequest, version, await kafkajsRequestBody(idempotent));
  });
}

test('InitProducerId request with an empty transactional id is not null', () => {
  const body = bytes((w) => w.string('').int32(-1));
  assert.deepEqual(decodeBody(decodeInitProducerIdRequest, 0, body), {
    transactionalId: '',
    transactionTimeoutMs: -1,
  });
});

const response: InitProducerIdResponse = {
  throttleTimeMs: 17,
  errorCode: 0,
  producerId: 2 ** 40 + 7,
  producerEpoch: 32_767,
};

function kafkajsView(version: number, res: InitProducerIdResponse): unknown {
  const fields = {
    errorCode: res.errorCode,
    producerId: String(res.producerId),
    producerEpoch: res.producerEpoch,
  };
  // From v1 kafkajs treats the throttle as a request to throttle itself (KIP-219).
  if (version === 0) return { throttleTime: res.throttleTimeMs, ...fields };
  return { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs, ...fields };
}

for (const version of versions) {
  test(`InitProducerId v${version} response decoded by kafkajs`, async () => {
    const kjs = kafkajsResponse('initProducerId', version);
    assert.deepEqual(
      await kafkajsReads(kjs, encodeBody(encodeInitProducerIdResponse, version, response)),
      kafkajsView(version, response),
    );

    const zero = { throttleTimeMs: 0, errorCode: 0, producerId: 0, producerEpoch: 0 };
    assert.deepEqual(
      await kafkajsReads(kjs, encodeBody(encodeInitProducerIdResponse, version, zero)),
      kafkajsView(version, zero),
    );

    const failed = {
      throttleTimeMs: 0,
      errorCode: ErrorCode.CONCURRENT_TRANSACTIONS,
      producerId: -1,
      producerEpoch: -1,
    };
    const failedBody = encodeBody(encodeInitProducerIdResponse, version, failed);
    assert.deepEqual(await kafkajsReads(kjs, failedBody, { parse: false }), kafkajsView(version, failed));
    await assert.rejects(kafkajsReads(kjs, failedBody), {
      name: 'KafkaJSProtocolError',
      type: 'CONCURRENT_TRANSACTIONS',
    });

    for (const [errorCode, type] of [
      [ErrorCode.INVALID_TRANSACTION_TIMEOUT, 'INVALID_TRANSACTION_TIMEOUT'],
      [ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'],
      [ErrorCode.UNSUPPORTED_VERSION, 'UNSUPPORTED_VERSION'], // kafkajs throws this one while decoding
    ] as const) {
      const body = encodeBody(encodeInitProducerIdResponse, version, { ...failed, errorCode });
      await assert.rejects(kafkajsReads(kjs, body), { type });
    }
  });
}

test('InitProducerId: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeInitProducerIdRequest, versions);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  type ApiVersionsResponse,
  decodeApiVersionsRequest,
  encodeApiVersionsResponse,
} from './apiVersions.js';
import {
  encodeBody,
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsResponse,
  kafkajsVersions,
  range,
  viaKafkajs,
} from './harness.test.js';

const { min, max } = supportedVersions[ApiKey.ApiVersions];
const versions = range(min, max);

test('kafkajs implements every served ApiVersions version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('apiVersions').includes(v)),
    [],
  );
});

// The broker's real table, as it will advertise it.
const apiKeys = Object.entries(supportedVersions).map(([key, r]) => ({
  apiKey: Number(key),
  minVersion: r.min,
  maxVersion: r.max,
}));
const response: ApiVersionsResponse = { errorCode: 0, apiKeys, throttleTimeMs: 1 };

for (const version of versions) {
  test(`ApiVersions v${version} request encoded by kafkajs (an empty body)`, async () => {
    const req = kafkajsRequest('apiVersions', version)({});
    assert.equal((await kafkajsRequestBody(req)).length, 0);
    assert.deepEqual(await viaKafkajs(decodeApiVersionsRequest, req), {});
  });

  test(`ApiVersions v${version} response decoded by kafkajs`, async () => {
    const base = { errorCode: 0, apiVersions: apiKeys };
    const view =
      version === 0
        ? base
        : version === 1
          ? { ...base, throttleTime: 1 }
          : { ...base, throttleTime: 0, clientSideThrottleTime: 1 };
    const body = encodeBody(encodeApiVersionsResponse, version, response);
    assert.deepEqual(await kafkajsReads(kafkajsResponse('apiVersions', version), body), view);
  });
}

test('ApiVersions UNSUPPORTED_VERSION answer (v0 layout) makes kafkajs retry lower', async () => {
  // kafkajs starts at v2 and steps down while the broker answers UNSUPPORTED_VERSION; Kafka
  // answers a too-new ApiVersions request in the v0 layout, listing what it does serve.
  const body = encodeBody(encodeApiVersionsResponse, 0, { ...response, errorCode: 35 });
  for (const version of versions) {
    await assert.rejects(kafkajsResponse('apiVersions', version).decode(body), {
      type: 'UNSUPPORTED_VERSION',
    });
  }
});

test('ApiVersions v0 layout: ErrorCode, then [ApiKey MinVersion MaxVersion]; v1+ appends ThrottleTimeMs', () => {
  const one: ApiVersionsResponse = {
    errorCode: 35,
    apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 2 }],
    throttleTimeMs: 0,
  };
  const v0 = Buffer.from([0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 2]);
  assert.deepEqual(encodeBody(encodeApiVersionsResponse, 0, one), v0);
  assert.deepEqual(encodeBody(encodeApiVersionsResponse, 1, one), Buffer.concat([v0, Buffer.alloc(4)]));
});

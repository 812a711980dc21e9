import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  assertGarbageIsProtocolError,
  assertPrefixesThrow,
  bytes,
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
import {
  decodeOffsetFetchRequest,
  encodeOffsetFetchResponse,
  type OffsetFetchResponse,
} from './offsetFetch.js';

const { min, max } = supportedVersions[ApiKey.OffsetFetch];
const versions = range(min, max);
const byKafkajs = versions.filter((v) => kafkajsVersions('offsetFetch').includes(v));

test('kafkajs implements OffsetFetch v1-4; v0 is tested byte by byte', () => {
  assert.deepEqual(byKafkajs, range(1, 4));
});

for (const version of byKafkajs) {
  test(`OffsetFetch v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'offsetFetch',
      version,
    )({
      groupId: 'grp',
      topics: [
        { topic: 'orders', partitions: [{ partition: 0 }, { partition: 3 }] },
        { topic: 'ünïcödé', partitions: [] },
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeOffsetFetchRequest, req), {
      groupId: 'grp',
      topics: [
        { name: 'orders', partitionIndexes: [0, 3] },
        { name: 'ünïcödé', partitionIndexes: [] },
      ],
    });
    assertPrefixesThrow(decodeOffsetFetchRequest, version, await kafkajsRequestBody(req));

    // kafkajs writes [] as a null array from v3, which asks for every committed offset.
    const all = kafkajsRequest('offsetFetch', version)({ groupId: 'grp', topics: [] });
    assert.deepEqual((await viaKafkajs(decodeOffsetFetchRequest, all)).topics, version >= 3 ? null : []);
  });
}

test('OffsetFetch v0 request, byte by byte from the spec (the v1 layout)', () => {
  const body = bytes((w) => w.string('grp').int32(1).string('orders').int32(2).int32(0).int32(3));
  assert.deepEqual(decodeBody(decodeOffsetFetchRequest, 0, body), {
    groupId: 'grp',
    topics: [{ name: 'orders', partitionIndexes: [0, 3] }],
  });
  assertPrefixesThrow(decodeOffsetFetchRequest, 0, body);
});

test('OffsetFetch v0-1 cannot ask for all topics; v2+ can with a null array', () => {
  const nullTopics = bytes((w) => w.string('grp').int32(-1));
  // The v0-1 topics array is not nullable: read leniently as no topics.
  assert.deepEqual(decodeBody(decodeOffsetFetchRequest, 1, nullTopics).topics, []);
  assert.equal(decodeBody(decodeOffsetFetchRequest, 2, nullTopics).topics, null);
});

const response: OffsetFetchResponse = {
  throttleTimeMs: 3,
  topics: [
    {
      name: 'orders',
      partitions: [
        { partitionIndex: 0, committedOffset: 2 ** 40, metadata: 'meta', errorCode: 0 },
        { partitionIndex: 3, committedOffset: -1, metadata: null, errorCode: 0 },
      ],
    },
  ],
  errorCode: 0,
};

function kafkajsView(version: number, res: OffsetFetchResponse): unknown {
  const responses = res.topics.map((t) => ({
    topic: t.name,
    partitions: t.partitions.map((p) => ({
      partition: p.partitionIndex,
      offset: String(p.committedOffset),
      metadata: p.metadata,
      errorCode: p.errorCode,
    })),
  }));
  if (version === 1) return { responses };
  if (version === 2) return { responses, errorCode: res.errorCode };
  if (version === 3) return { throttleTime: res.throttleTimeMs, responses, errorCode: res.errorCode };
  return { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs, responses, errorCode: res.errorCode };
}

for (const version of byKafkajs) {
  test(`OffsetFetch v${version} response decoded by kafkajs`, async () => {
    const body = encodeBody(encodeOffsetFetchResponse, version, response);
    assert.deepEqual(
      await kafkajsReads(kafkajsResponse('offsetFetch', version), body),
      kafkajsView(version, response),
    );
  });
}

test('OffsetFetch v0 response, byte by byte from the spec (the v1 layout)', () => {
  const expected = bytes((w) => {
    w.int32(1).string('orders').int32(2);
    w.int32(0)
      .int64(2 ** 40)
      .nullableString('meta')
      .int16(0);
    w.int32(3).int64(-1).nullableString(null).int16(0);
  });
  assert.deepEqual(encodeBody(encodeOffsetFetchResponse, 0, response), expected);
  assert.deepEqual(encodeBody(encodeOffsetFetchResponse, 1, response), expected);
});

test('OffsetFetch v2+ group-level error reaches kafkajs', async () => {
  for (const version of range(2, max)) {
    const body = encodeBody(encodeOffsetFetchResponse, version, { ...response, errorCode: 16 });
    await assert.rejects(kafkajsReads(kafkajsResponse('offsetFetch', version), body), {
      type: 'NOT_COORDINATOR_FOR_GROUP',
    });
  }
});

test('OffsetFetch: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeOffsetFetchRequest, versions);
});

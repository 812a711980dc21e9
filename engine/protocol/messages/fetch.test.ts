import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import { decodeFetchRequest, encodeFetchResponse, type FetchRequest, type FetchResponse } from './fetch.js';
import {
  arb,
  assertGarbageIsProtocolError,
  assertPrefixesThrow,
  encodeBody,
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsResponse,
  kafkajsVersions,
  messageSet,
  range,
  recordBatch,
  type SeenMessage,
  seen,
  type TestMessage,
  viaKafkajs,
} from './harness.test.js';

const { min, max } = supportedVersions[ApiKey.Fetch];
const versions = range(min, max);
const T = 1_700_000_000_000;

test('kafkajs implements every served Fetch version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('fetch').includes(v)),
    [],
  );
});

/** The request in kafkajs's vocabulary. */
const kafkajsArgs = {
  replicaId: -1,
  maxWaitTime: 500,
  minBytes: 1,
  maxBytes: 10_485_760,
  isolationLevel: 1,
  sessionId: 12,
  sessionEpoch: 3,
  rackId: 'rack-a',
  topics: [
    {
      topic: 'orders',
      partitions: [
        { partition: 0, currentLeaderEpoch: 5, fetchOffset: 2 ** 40, logStartOffset: 9, maxBytes: 1_048_576 },
        { partition: 3, fetchOffset: 0, maxBytes: 65_536 },
      ],
    },
    { topic: 'ünïcödé', partitions: [] },
  ],
  forgottenTopics: [{ topic: 'gone', partitions: [1, 4] }],
};

/** What our decoder must make of kafkajsArgs at each version (Kafka's defaults where a field is absent). */
function expected(version: number): FetchRequest {
  return {
    replicaId: -1,
    maxWaitMs: 500,
    minBytes: 1,
    maxBytes: version >= 3 ? 10_485_760 : 0x7fffffff,
    isolationLevel: version >= 4 ? 1 : 0,
    sessionId: version >= 7 ? 12 : 0,
    sessionEpoch: version >= 7 ? 3 : -1,
    topics: [
      {
        topic: 'orders',
        partitions: [
          {
            partition: 0,
            currentLeaderEpoch: version >= 9 ? 5 : -1,
            fetchOffset: 2 ** 40,
            logStartOffset: version >= 5 ? 9 : -1,
            partitionMaxBytes: 1_048_576,
          },
          // kafkajs fills currentLeaderEpoch and logStartOffset with -1 itself.
          {
            partition: 3,
            currentLeaderEpoch: -1,
            fetchOffset: 0,
            logStartOffset: -1,
            partitionMaxBytes: 65_536,
          },
        ],
      },
      { topic: 'ünïcödé', partitions: [] },
    ],
    forgottenTopicsData: version >= 7 ? [{ topic: 'gone', partitions: [1, 4] }] : [],
    rackId: version >= 11 ? 'rack-a' : '',
  };
}

for (const version of versions) {
  test(`Fetch v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest('fetch', version)(kafkajsArgs);
    assert.deepEqual(await viaKafkajs(decodeFetchRequest, req), expected(version));
    assertPrefixesThrow(decodeFetchRequest, version, await kafkajsRequestBody(req));
  });
}

const batchA: TestMessage[] = [
  { key: 'a', value: 'alpha', timestamp: T, headers: { h: '1' } },
  { key: null, value: 'beta', timestamp: T + 1 },
];
const batchB: TestMessage[] = [{ key: 'b', value: 'gamma', timestamp: T + 2 }];

/** Records as the log would hand them over: several chunks, one batch split across two. */
async function records(version: number): Promise<{ chunks: Buffer[]; seen: SeenMessage[] }> {
  if (version <= 3) {
    // v0-3 clients (kafkajs included) only read legacy message sets.
    const set = Buffer.concat([messageSet(1, 100, batchA), messageSet(1, 102, batchB)]);
    const msgs = [...batchA, ...batchB];
    return {
      chunks: [set.subarray(0, 30), set.subarray(30)],
      seen: msgs.map((m, i) => ({
        offset: String(100 + i),
        key: m.key,
        value: m.value,
        timestamp: String(m.timestamp),
      })),
    };
  }
  const a = await recordBatch(100, batchA);
  const b = await recordBatch(102, batchB);
  return {
    chunks: [a, b.subarray(0, 20), b.subarray(20)],
    seen: [...batchA, ...batchB].map((m, i) => ({
      offset: String(100 + i),
      key: m.key,
      value: m.value,
      timestamp: String(m.timestamp),
      headers: m.headers ?? {},
    })),
  };
}

function response(chunks: Buffer[]): FetchResponse {
  return {
    throttleTimeMs: 40,
    errorCode: 0,
    sessionId: 77,
    responses: [
      {
        topic: 'orders',
        partitions: [
          {
            partitionIndex: 0,
            errorCode: 0,
            highWatermark: 103,
            lastStableOffset: 101,
            logStartOffset: 2,
            abortedTransactions: [{ producerId: 2 ** 35, firstOffset: 100 }],
            preferredReadReplica: -1,
            records: chunks,
          },
          {
            partitionIndex: 3,
            errorCode: 0,
            highWatermark: 0,
            lastStableOffset: 0,
            logStartOffset: 0,
            abortedTransactions: null,
            preferredReadReplica: 1,
            records: [],
          },
        ],
      },
    ],
  };
}

interface KafkaJsFetchView {
  responses: { partitions: { messages: Parameters<typeof seen>[0][] }[] }[];
}

/** kafkajs's view of `res` at `version`, with `seenMessages` in the first partition. */
function kafkajsView(version: number, res: FetchResponse, seenMessages: SeenMessage[]): unknown {
  const responses = res.responses.map((t) => ({
    topicName: t.topic,
    partitions: t.partitions.map((p, i) => {
      const out: Record<string, unknown> = {
        partition: p.partitionIndex,
        errorCode: p.errorCode,
        highWatermark: String(p.highWatermark),
      };
      if (version >= 4) out.lastStableOffset = String(p.lastStableOffset);
      if (version >= 5) out.lastStartOffset = String(p.logStartOffset); // sic: kafkajs's name
      if (version >= 4) {
        out.abortedTransactions = (p.abortedTransactions ?? []).map((a) => ({
          producerId: String(a.producerId),
          firstOffset: String(a.firstOffset),
        }));
      }
      if (version >= 11) out.preferredReadReplica = p.preferredReadReplica;
      out.messages = i === 0 ? seenMessages : [];
      return out;
    }),
  }));
  if (version === 0) return { responses };
  if (version <= 6) return { throttleTime: res.throttleTimeMs, responses };
  const session = { errorCode: res.errorCode, sessionId: res.sessionId, responses };
  if (version === 7) return { throttleTime: res.throttleTimeMs, ...session };
  return { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs, ...session };
}

/** kafkajs's decoded response with its messages reduced to what identifies them. */
function normalized(decoded: unknown): unknown {
  const view = decoded as KafkaJsFetchView;
  for (const t of view.responses) for (const p of t.partitions) p.messages = p.messages.map(seen) as never;
  return view;
}

for (const version of versions) {
  test(`Fetch v${version} response decoded by kafkajs`, async () => {
    const { chunks, seen: seenMessages } = await records(version);
    const res = response(chunks);
    const body = encodeBody(encodeFetchResponse, version, res);
    const decoded = await kafkajsReads(kafkajsResponse('fetch', version), body);
    assert.deepEqual(normalized(decoded), kafkajsView(version, res, seenMessages));
  });
}

test('Fetch response keeps large record chunks by reference', async () => {
  const big = Buffer.alloc(4096, 1);
  const res = response([big]);
  const { Writer } = await import('../writer.js');
  const w = new Writer();
  encodeFetchResponse(w, 11, res);
  assert.ok(w.toChunks().includes(big));
});

test('Fetch response null records: -1 on the wire, read as no messages by kafkajs v4+', async () => {
  const res = response([]);
  res.responses[0].partitions[1].records = null;
  const body = encodeBody(encodeFetchResponse, 4, res);
  assert.equal(body.readInt32BE(body.length - 4), -1);
  for (const version of range(4, max)) {
    const decoded = await kafkajsReads(
      kafkajsResponse('fetch', version),
      encodeBody(encodeFetchResponse, version, res),
    );
    assert.deepEqual(normalized(decoded), kafkajsView(version, res, []));
  }
});

test('Fetch response errors reach kafkajs as its typed errors', async () => {
  const res = response([]);
  res.responses[0].partitions[1].errorCode = 1;
  for (const version of versions) {
    const body = encodeBody(encodeFetchResponse, version, res);
    await assert.rejects(kafkajsReads(kafkajsResponse('fetch', version), body), {
      name: 'KafkaJSOffsetOutOfRange',
      topic: 'orders',
      partition: 3,
    });
  }
});

test('Fetch: any kafkajs request decodes to the values it was built from', async () => {
  const partition = fc.record({
    partition: arb.int32(),
    currentLeaderEpoch: arb.int32(),
    fetchOffset: arb.int64(),
    logStartOffset: arb.int64(),
    maxBytes: arb.int32(),
  });
  const topic = fc.record({ topic: arb.string(), partitions: fc.array(partition, { maxLength: 3 }) });
  const forgotten = fc.record({ topic: arb.string(), partitions: fc.array(arb.int32(), { maxLength: 3 }) });
  const args = fc.record({
    replicaId: arb.int32(),
    maxWaitTime: arb.int32(),
    minBytes: arb.int32(),
    maxBytes: arb.int32(),
    isolationLevel: arb.int8(),
    sessionId: arb.int32(),
    sessionEpoch: arb.int32(),
    rackId: arb.string(),
    topics: fc.array(topic, { maxLength: 3 }),
    forgottenTopics: fc.array(forgotten, { maxLength: 2 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...versions), args, async (version, a) => {
      const got = await viaKafkajs(decodeFetchRequest, kafkajsRequest('fetch', version)(a));
      assert.deepEqual(got, {
        replicaId: a.replicaId,
        maxWaitMs: a.maxWaitTime,
        minBytes: a.minBytes,
        maxBytes: version >= 3 ? a.maxBytes : 0x7fffffff,
        isolationLevel: version >= 4 ? a.isolationLevel : 0,
        sessionId: version >= 7 ? a.sessionId : 0,
        sessionEpoch: version >= 7 ? a.sessionEpoch : -1,
        topics: a.topics.map((t) => ({
          topic: t.topic,
          partitions: t.partitions.map((p) => ({
            partition: p.partition,
            currentLeaderEpoch: version >= 9 ? p.currentLeaderEpoch : -1,
            fetchOffset: p.fetchOffset,
            logStartOffset: version >= 5 ? p.logStartOffset : -1,
            partitionMaxBytes: p.maxBytes,
          })),
        })),
        forgottenTopicsData: version >= 7 ? a.forgottenTopics.map((f) => ({ ...f })) : [],
        rackId: version >= 11 ? a.rackId : '',
      });
    }),
    { numRuns: 300 },
  );
});

test('Fetch: any response we encode reads back through kafkajs', async () => {
  const partition = fc.record({
    partitionIndex: arb.int32(),
    errorCode: fc.constant(0),
    highWatermark: arb.int64(),
    lastStableOffset: arb.int64(),
    logStartOffset: arb.int64(),
    abortedTransactions: fc.option(
      fc.array(fc.record({ producerId: arb.int64(), firstOffset: arb.int64() }), { maxLength: 2 }),
    ),
    preferredReadReplica: arb.int32(),
    records: fc.constant<Buffer[]>([]),
  });
  const res = fc.record({
    throttleTimeMs: arb.int32(),
    errorCode: arb.int16(),
    sessionId: arb.int32(),
    responses: fc.array(
      fc.record({ topic: arb.string(), partitions: fc.array(partition, { maxLength: 3 }) }),
      {
        maxLength: 3,
      },
    ),
  });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...versions), res, async (version, r) => {
      const body = encodeBody(encodeFetchResponse, version, r);
      const decoded = await kafkajsReads(kafkajsResponse('fetch', version), body, { parse: false });
      assert.deepEqual(normalized(decoded), kafkajsView(version, r, []));
    }),
    { numRuns: 200 },
  );
});

test('Fetch: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeFetchRequest, versions);
});

test('Fetch v0-3: kafkajs misreads null records, so the broker must send [] there', async () => {
  const res = response([]);
  res.responses[0].partitions[0].records = null;
  for (const version of range(0, 3)) {
    const body = encodeBody(encodeFetchResponse, version, res);
    // Its legacy message-set reader moves back one byte on a -1 size and reads garbage after it.
    await assert.rejects(kafkajsReads(kafkajsResponse('fetch', version), body), /did not stop at the end/);
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  arb,
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
import { decodeMetadataRequest, encodeMetadataResponse, type MetadataResponse } from './metadata.js';

const { min, max } = supportedVersions[ApiKey.Metadata];
const versions = range(min, max);
const byKafkajs = versions.filter((v) => kafkajsVersions('metadata').includes(v));

test('kafkajs implements Metadata v0-6; v7-8 are tested byte by byte', () => {
  assert.deepEqual(byKafkajs, range(0, 6));
});

for (const version of byKafkajs) {
  test(`Metadata v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'metadata',
      version,
    )({ topics: ['orders', 'ünïcödé'], allowAutoTopicCreation: false });
    assert.deepEqual(await viaKafkajs(decodeMetadataRequest, req), {
      topics: [{ name: 'orders' }, { name: 'ünïcödé' }],
      allowAutoTopicCreation: version < 4,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    assertPrefixesThrow(decodeMetadataRequest, version, await kafkajsRequestBody(req));

    // kafkajs asks for all topics with [], which it writes as [] at v0 and as null from v1.
    const all = kafkajsRequest('metadata', version)({ topics: [] });
    assert.equal((await viaKafkajs(decodeMetadataRequest, all)).topics, null);
  });
}

test('Metadata v1+ empty topic array means no topics (librdkafka asks for brokers only that way)', () => {
  for (const version of range(1, max)) {
    const body = bytes((w) => {
      w.int32(0);
      if (version >= 4) w.boolean(true);
      if (version >= 8) w.boolean(false).boolean(false);
    });
    assert.deepEqual(decodeBody(decodeMetadataRequest, version, body).topics, []);
  }
});

test('Metadata v7-8 requests, byte by byte from the spec', () => {
  const v7 = bytes((w) => w.int32(1).string('orders').boolean(false));
  assert.deepEqual(decodeBody(decodeMetadataRequest, 7, v7), {
    topics: [{ name: 'orders' }],
    allowAutoTopicCreation: false,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  });
  assertPrefixesThrow(decodeMetadataRequest, 7, v7);

  // Topics null, AllowAutoTopicCreation, IncludeClusterAuthorizedOperations, IncludeTopicAuthorizedOperations.
  const v8 = Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 1, 0]);
  assert.deepEqual(decodeBody(decodeMetadataRequest, 8, v8), {
    topics: null,
    allowAutoTopicCreation: true,
    includeClusterAuthorizedOperations: true,
    includeTopicAuthorizedOperations: false,
  });
  assertPrefixesThrow(decodeMetadataRequest, 8, v8);
});

const response: MetadataResponse = {
  throttleTimeMs: 30,
  brokers: [
    { nodeId: 1, host: 'localhost', port: 9092, rack: 'rack-a' },
    { nodeId: 2, host: 'bröker', port: 19092, rack: null },
  ],
  clusterId: 'sluice-cluster',
  controllerId: 1,
  topics: [
    {
      errorCode: 0,
      name: 'orders',
      isInternal: false,
      partitions: [
        {
          errorCode: 0,
          partitionIndex: 0,
          leaderId: 1,
          leaderEpoch: 4,
          replicaNodes: [1, 2],
          isrNodes: [1],
          offlineReplicas: [2],
        },
        {
          errorCode: 0,
          partitionIndex: 1,
          leaderId: 2,
          leaderEpoch: 0,
          replicaNodes: [2],
          isrNodes: [2],
          offlineReplicas: [],
        },
      ],
      topicAuthorizedOperations: 0x0ff8,
    },
    {
      errorCode: 0,
      name: '__consumer_offsets',
      isInternal: true,
      partitions: [],
      topicAuthorizedOperations: -2147483648,
    },
  ],
  clusterAuthorizedOperations: -2147483648,
};

function kafkajsView(version: number, res: MetadataResponse): unknown {
  const brokers = res.brokers.map((b) =>
    version === 0 ? { nodeId: b.nodeId, host: b.host, port: b.port } : { ...b },
  );
  const topicMetadata = res.topics.map((t) => {
    const out: Record<string, unknown> = {
      topicErrorCode: t.errorCode,
      topic: t.name,
      partitionMetadata: t.partitions.map((p) => {
        const pm: Record<string, unknown> = {
          partitionErrorCode: p.errorCode,
          partitionId: p.partitionIndex,
          leader: p.leaderId,
          replicas: p.replicaNodes,
          isr: p.isrNodes,
        };
        if (version >= 5) pm.offlineReplicas = p.offlineReplicas;
        return pm;
      }),
    };
    if (version >= 1) out.isInternal = t.isInternal;
    return out;
  });
  const view: Record<string, unknown> = { brokers, topicMetadata };
  if (version >= 1) view.controllerId = res.controllerId;
  if (version >= 2) view.clusterId = res.clusterId;
  if (version >= 3) view.throttleTime = res.throttleTimeMs;
  if (version >= 6) Object.assign(view, { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs });
  return view;
}

for (const version of byKafkajs) {
  test(`Metadata v${version} response decoded by kafkajs`, async () => {
    const body = encodeBody(encodeMetadataResponse, version, response);
    assert.deepEqual(
      await kafkajsReads(kafkajsResponse('metadata', version), body),
      kafkajsView(version, response),
    );
  });
}

test('Metadata v7-8 responses, byte by byte from the spec', () => {
  for (const version of [7, 8]) {
    const expected = bytes((w) => {
      w.int32(30); // ThrottleTimeMs
      w.int32(2); // Brokers: NodeId Host Port Rack
      w.int32(1).string('localhost').int32(9092).nullableString('rack-a');
      w.int32(2).string('bröker').int32(19092).nullableString(null);
      w.nullableString('sluice-cluster'); // ClusterId
      w.int32(1); // ControllerId
      w.int32(2); // Topics: ErrorCode Name IsInternal Partitions [TopicAuthorizedOperations]
      w.int16(0).string('orders').boolean(false);
      w.int32(2); // Partitions: ErrorCode PartitionIndex LeaderId LeaderEpoch ReplicaNodes IsrNodes OfflineReplicas
      w.int16(0).int32(0).int32(1).int32(4);
      w.int32(2).int32(1).int32(2).int32(1).int32(1).int32(1).int32(2);
      w.int16(0).int32(1).int32(2).int32(0);
      w.int32(1).int32(2).int32(1).int32(2).int32(0);
      if (version >= 8) w.int32(0x0ff8);
      w.int16(0).string('__consumer_offsets').boolean(true).int32(0);
      if (version >= 8) w.int32(-2147483648);
      if (version >= 8) w.int32(-2147483648); // ClusterAuthorizedOperations
    });
    assert.deepEqual(encodeBody(encodeMetadataResponse, version, response), expected);
  }
});

test('Metadata response errors reach kafkajs as its typed errors', async () => {
  const res: MetadataResponse = {
    ...response,
    topics: [{ errorCode: 3, name: 'nope', isInternal: false, partitions: [], topicAuthorizedOperations: 0 }],
  };
  for (const version of byKafkajs) {
    await assert.rejects(
      kafkajsReads(kafkajsResponse('metadata', version), encodeBody(encodeMetadataResponse, version, res)),
      {
        type: 'UNKNOWN_TOPIC_OR_PARTITION',
      },
    );
  }
});

test('Metadata: any kafkajs request decodes to the values it was built from', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...byKafkajs),
      fc.array(arb.string(), { maxLength: 5 }),
      fc.boolean(),
      async (version, topics, allowAutoTopicCreation) => {
        const req = kafkajsRequest('metadata', version)({ topics, allowAutoTopicCreation });
        assert.deepEqual(await viaKafkajs(decodeMetadataRequest, req), {
          topics: topics.length === 0 ? null : topics.map((name) => ({ name })),
          allowAutoTopicCreation: version >= 4 ? allowAutoTopicCreation : true,
          includeClusterAuthorizedOperations: false,
          includeTopicAuthorizedOperations: false,
        });
      },
    ),
    { numRuns: 300 },
  );
});

test('Metadata: any response we encode reads back through kafkajs', async () => {
  const ids = fc.array(arb.int32(), { maxLength: 4 });
  const partition = fc.record({
    errorCode: fc.constant(0),
    partitionIndex: arb.int32(),
    leaderId: arb.int32(),
    leaderEpoch: arb.int32(),
    replicaNodes: ids,
    isrNodes: ids,
    offlineReplicas: ids,
  });
  const res = fc.record({
    throttleTimeMs: arb.int32(),
    brokers: fc.array(
      fc.record({
        nodeId: arb.int32(),
        host: arb.string(),
        port: arb.int32(),
        rack: fc.option(arb.string()),
      }),
      { maxLength: 3 },
    ),
    clusterId: fc.option(arb.string()),
    controllerId: arb.int32(),
    topics: fc.array(
      fc.record({
        errorCode: fc.constant(0),
        name: arb.string(),
        isInternal: fc.boolean(),
        partitions: fc.array(partition, { maxLength: 3 }),
        topicAuthorizedOperations: arb.int32(),
      }),
      { maxLength: 3 },
    ),
    clusterAuthorizedOperations: arb.int32(),
  });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...byKafkajs), res, async (version, r) => {
      const body = encodeBody(encodeMetadataResponse, version, r);
      assert.deepEqual(
        await kafkajsReads(kafkajsResponse('metadata', version), body),
        kafkajsView(version, r),
      );
    }),
    { numRuns: 300 },
  );
});

test('Metadata: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeMetadataRequest, versions);
});

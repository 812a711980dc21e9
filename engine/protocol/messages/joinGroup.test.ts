import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ApiKey, supportedVersions } from '../apiKeys.js';
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
  range,
  viaKafkajs,
} from './harness.test.js';
import { decodeJoinGroupRequest, encodeJoinGroupResponse, type JoinGroupResponse } from './joinGroup.js';

const { min, max } = supportedVersions[ApiKey.JoinGroup];
const versions = range(min, max);

test('kafkajs implements every served JoinGroup version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('joinGroup').includes(v)),
    [],
  );
});

const subscription = Buffer.from([
  0, 1, 0, 0, 0, 1, 0, 6, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x73, 0xff, 0xff, 0xff, 0xff,
]);

for (const version of versions) {
  test(`JoinGroup v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'joinGroup',
      version,
    )({
      groupId: 'grp',
      sessionTimeout: 30_000,
      rebalanceTimeout: 60_000,
      memberId: '',
      groupInstanceId: 'instance-1',
      protocolType: 'consumer',
      groupProtocols: [
        { name: 'RoundRobinAssigner', metadata: subscription },
        { name: 'empty' }, // kafkajs defaults metadata to an empty buffer
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeJoinGroupRequest, req), {
      groupId: 'grp',
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: version >= 1 ? 60_000 : 30_000,
      memberId: '',
      groupInstanceId: version >= 5 ? 'instance-1' : null,
      protocolType: 'consumer',
      protocols: [
        { name: 'RoundRobinAssigner', metadata: subscription },
        { name: 'empty', metadata: Buffer.alloc(0) },
      ],
    });
    assertPrefixesThrow(decodeJoinGroupRequest, version, await kafkajsRequestBody(req));
  });
}

const response: JoinGroupResponse = {
  throttleTimeMs: 15,
  errorCode: 0,
  generationId: 4,
  protocolName: 'RoundRobinAssigner',
  leader: 'member-a',
  memberId: 'member-a',
  members: [
    { memberId: 'member-a', groupInstanceId: 'instance-1', metadata: subscription },
    { memberId: 'member-b', groupInstanceId: null, metadata: Buffer.alloc(0) },
  ],
};

function kafkajsView(version: number, res: JoinGroupResponse): unknown {
  const view: Record<string, unknown> = {
    errorCode: res.errorCode,
    generationId: res.generationId,
    groupProtocol: res.protocolName,
    leaderId: res.leader,
    memberId: res.memberId,
    members: res.members.map((m) =>
      version >= 5
        ? { memberId: m.memberId, groupInstanceId: m.groupInstanceId, memberMetadata: m.metadata }
        : { memberId: m.memberId, memberMetadata: m.metadata },
    ),
  };
  if (version === 2) view.throttleTime = res.throttleTimeMs;
  if (version >= 3) Object.assign(view, { throttleTime: 0, clientSideThrottleTime: res.throttleTimeMs });
  return view;
}

for (const version of versions) {
  test(`JoinGroup v${version} response decoded by kafkajs`, async () => {
    const body = encodeBody(encodeJoinGroupResponse, version, response);
    assert.deepEqual(
      await kafkajsReads(kafkajsResponse('joinGroup', version), body),
      kafkajsView(version, response),
    );
  });
}

test('JoinGroup v4+ MEMBER_ID_REQUIRED hands kafkajs the assigned member id', async () => {
  const res: JoinGroupResponse = {
    ...response,
    errorCode: 79,
    generationId: -1,
    protocolName: '',
    leader: '',
    memberId: 'assigned-id',
    members: [],
  };
  for (const version of range(4, max)) {
    const body = encodeBody(encodeJoinGroupResponse, version, res);
    await assert.rejects(kafkajsReads(kafkajsResponse('joinGroup', version), body), {
      name: 'KafkaJSMemberIdRequired',
      memberId: 'assigned-id',
    });
  }
});

test('JoinGroup: any kafkajs request decodes to the values it was built from', async () => {
  const args = fc.record({
    groupId: arb.string(),
    sessionTimeout: arb.int32(),
    rebalanceTimeout: arb.int32(),
    memberId: arb.string(),
    groupInstanceId: fc.option(arb.string()),
    protocolType: arb.string(),
    groupProtocols: fc.array(fc.record({ name: arb.string(), metadata: arb.bytes() }), { maxLength: 4 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...versions), args, async (version, a) => {
      const got = await viaKafkajs(decodeJoinGroupRequest, kafkajsRequest('joinGroup', version)(a));
      assert.deepEqual(got, {
        groupId: a.groupId,
        sessionTimeoutMs: a.sessionTimeout,
        rebalanceTimeoutMs: version >= 1 ? a.rebalanceTimeout : a.sessionTimeout,
        memberId: a.memberId,
        groupInstanceId: version >= 5 ? a.groupInstanceId : null,
        protocolType: a.protocolType,
        protocols: a.groupProtocols.map((p) => ({ name: p.name, metadata: p.metadata })),
      });
    }),
    { numRuns: 300 },
  );
});

test('JoinGroup: any response we encode reads back through kafkajs', async () => {
  const res = fc.record({
    throttleTimeMs: arb.int32(),
    errorCode: fc.constant(0),
    generationId: arb.int32(),
    protocolName: arb.string(),
    leader: arb.string(),
    memberId: arb.string(),
    members: fc.array(
      fc.record({ memberId: arb.string(), groupInstanceId: fc.option(arb.string()), metadata: arb.bytes() }),
      { maxLength: 4 },
    ),
  });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...versions), res, async (version, r) => {
      const body = encodeBody(encodeJoinGroupResponse, version, r);
      assert.deepEqual(
        await kafkajsReads(kafkajsResponse('joinGroup', version), body),
        kafkajsView(version, r),
      );
    }),
    { numRuns: 300 },
  );
});

test('JoinGroup: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeJoinGroupRequest, versions);
});

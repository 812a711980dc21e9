import { ErrorCode } from '../../protocol/errorCodes.js';
import type {
  DescribeGroupsRequest,
  DescribeGroupsResponse,
} from '../../protocol/messages/describeGroups.js';
import type { HeartbeatRequest, HeartbeatResponse } from '../../protocol/messages/heartbeat.js';
import type { JoinGroupRequest, JoinGroupResponse } from '../../protocol/messages/joinGroup.js';
import type { LeaveGroupRequest, LeaveGroupResponse } from '../../protocol/messages/leaveGroup.js';
import type { ListGroupsResponse } from '../../protocol/messages/listGroups.js';
import type { OffsetCommitRequest, OffsetCommitResponse } from '../../protocol/messages/offsetCommit.js';
import type { OffsetFetchRequest, OffsetFetchResponse } from '../../protocol/messages/offsetFetch.js';
import type { SyncGroupRequest, SyncGroupResponse } from '../../protocol/messages/syncGroup.js';
import type { BrokerState, RequestContext } from './context.js';

/** The group APIs translate wire messages to the coordinator and back; the semantics live there. */
export async function handleJoinGroup(
  b: BrokerState,
  req: JoinGroupRequest,
  version: number,
  ctx: RequestContext,
): Promise<JoinGroupResponse> {
  const res = await b.groups.join({
    groupId: req.groupId,
    sessionTimeoutMs: req.sessionTimeoutMs,
    // v0 has no rebalance timeout: Kafka uses the session timeout.
    rebalanceTimeoutMs: version >= 1 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs,
    memberId: req.memberId,
    groupInstanceId: req.groupInstanceId,
    protocolType: req.protocolType,
    // The coordinator keeps these past this request; the frame they point into is reused.
    protocols: req.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) })),
    clientId: ctx.header.clientId ?? '',
    clientHost: `/${ctx.clientHost}`,
    requireKnownMemberId: version >= 4,
  });
  return {
    throttleTimeMs: 0,
    errorCode: res.errorCode,
    generationId: res.generationId,
    protocolName: res.protocolName ?? '',
    leader: res.leader,
    memberId: res.memberId,
    members: res.members,
  };
}

export async function handleSyncGroup(b: BrokerState, req: SyncGroupRequest): Promise<SyncGroupResponse> {
  const res = await b.groups.sync({
    ...req,
    assignments: req.assignments.map((a) => ({
      memberId: a.memberId,
      assignment: Buffer.from(a.assignment),
    })),
  });
  return { throttleTimeMs: 0, errorCode: res.errorCode, assignment: res.assignment };
}

export function handleHeartbeat(b: BrokerState, req: HeartbeatRequest): HeartbeatResponse {
  return { throttleTimeMs: 0, errorCode: b.groups.heartbeat(req).errorCode };
}

export function handleLeaveGroup(b: BrokerState, req: LeaveGroupRequest): LeaveGroupResponse {
  return { throttleTimeMs: 0, errorCode: b.groups.leave(req).errorCode };
}

export async function handleOffsetCommit(
  b: BrokerState,
  req: OffsetCommitRequest,
): Promise<OffsetCommitResponse> {
  const known = req.topics.map((t) => ({
    ...t,
    partitions: t.partitions.filter((p) => b.topics.partitionLog(t.name, p.partitionIndex)),
  }));
  const results = await b.groups.commitOffsets({
    groupId: req.groupId,
    generationId: req.generationIdOrMemberEpoch,
    memberId: req.memberId,
    groupInstanceId: null,
    offsets: known.flatMap((t) =>
      t.partitions.map((p) => ({
        topic: t.name,
        partition: p.partitionIndex,
        offset: p.committedOffset,
        metadata: p.committedMetadata,
      })),
    ),
  });
  const code = new Map(results.map((r) => [`${r.topic}\0${r.partition}`, r.errorCode]));
  return {
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        errorCode: code.get(`${t.name}\0${p.partitionIndex}`) ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
      })),
    })),
  };
}

export function handleOffsetFetch(b: BrokerState, req: OffsetFetchRequest): OffsetFetchResponse {
  const res = b.groups.fetchOffsets(
    req.groupId,
    req.topics === null ? null : req.topics.map((t) => ({ topic: t.name, partitions: t.partitionIndexes })),
  );
  return {
    throttleTimeMs: 0,
    errorCode: res.errorCode,
    topics: res.topics.map((t) => ({
      name: t.topic,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partition,
        committedOffset: p.offset,
        metadata: p.metadata,
        errorCode: p.errorCode,
      })),
    })),
  };
}

export function handleDescribeGroups(b: BrokerState, req: DescribeGroupsRequest): DescribeGroupsResponse {
  return {
    throttleTimeMs: 0,
    groups: b.groups.describeGroups(req.groups).map((g) => ({
      errorCode: g.errorCode,
      groupId: g.groupId,
      groupState: g.state,
      protocolType: g.protocolType,
      protocolData: g.protocol,
      members: g.members.map((m) => ({
        memberId: m.memberId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: m.metadata,
        memberAssignment: m.assignment,
      })),
    })),
  };
}

export function handleListGroups(b: BrokerState): ListGroupsResponse {
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, groups: b.groups.listGroups() };
}

import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// JoinGroup (api key 11), v0-5. Field names follow JoinGroupRequest.json / JoinGroupResponse.json.

export interface JoinGroupRequest {
  groupId: string;
  sessionTimeoutMs: number;
  /** v1+. v0 has none: like Kafka's JoinGroupRequest, the decoder uses sessionTimeoutMs. */
  rebalanceTimeoutMs: number;
  /** '' on the first join. */
  memberId: string;
  /** v5+ (static membership); null otherwise. */
  groupInstanceId: string | null;
  protocolType: string;
  protocols: JoinGroupRequestProtocol[];
}

export interface JoinGroupRequestProtocol {
  name: string;
  /** Opaque to the broker (the consumer protocol's subscription). */
  metadata: Buffer;
}

export interface JoinGroupResponse {
  /** v2+. */
  throttleTimeMs: number;
  errorCode: number;
  generationId: number;
  protocolName: string;
  /** Member id of the leader. */
  leader: string;
  memberId: string;
  /** Filled for the leader only. */
  members: JoinGroupResponseMember[];
}

export interface JoinGroupResponseMember {
  memberId: string;
  /** v5+. */
  groupInstanceId: string | null;
  metadata: Buffer;
}

export function decodeJoinGroupRequest(r: Reader, version: number): JoinGroupRequest {
  const groupId = r.string();
  const sessionTimeoutMs = r.int32();
  const rebalanceTimeoutMs = version >= 1 ? r.int32() : sessionTimeoutMs;
  const memberId = r.string();
  const groupInstanceId = version >= 5 ? r.nullableString() : null;
  const protocolType = r.string();
  const protocols = r.array((r) => ({ name: r.string(), metadata: r.bytes() }));
  return {
    groupId,
    sessionTimeoutMs,
    rebalanceTimeoutMs,
    memberId,
    groupInstanceId,
    protocolType,
    protocols,
  };
}

export function encodeJoinGroupResponse(w: Writer, version: number, res: JoinGroupResponse): void {
  if (version >= 2) w.int32(res.throttleTimeMs);
  w.int16(res.errorCode)
    .int32(res.generationId)
    .string(res.protocolName)
    .string(res.leader)
    .string(res.memberId);
  w.array(res.members, (w, m) => {
    w.string(m.memberId);
    if (version >= 5) w.nullableString(m.groupInstanceId);
    w.bytes(m.metadata);
  });
}

import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// DescribeGroups (api key 15), v0-2. Field names follow DescribeGroupsRequest.json / DescribeGroupsResponse.json.

export interface DescribeGroupsRequest {
  groups: string[];
}

export interface DescribeGroupsResponse {
  /** v1+. */
  throttleTimeMs: number;
  groups: DescribedGroup[];
}

export interface DescribedGroup {
  errorCode: number;
  groupId: string;
  /** Dead, Empty, PreparingRebalance, CompletingRebalance or Stable. */
  groupState: string;
  protocolType: string;
  /** The chosen assignor (e.g. 'range'), '' while rebalancing. */
  protocolData: string;
  members: DescribedGroupMember[];
}

export interface DescribedGroupMember {
  memberId: string;
  clientId: string;
  clientHost: string;
  memberMetadata: Buffer;
  memberAssignment: Buffer;
}

export function decodeDescribeGroupsRequest(r: Reader, _version: number): DescribeGroupsRequest {
  return { groups: r.array((r) => r.string()) };
}

export function encodeDescribeGroupsResponse(w: Writer, version: number, res: DescribeGroupsResponse): void {
  if (version >= 1) w.int32(res.throttleTimeMs);
  w.array(res.groups, (w, g) => {
    w.int16(g.errorCode).string(g.groupId).string(g.groupState).string(g.protocolType).string(g.protocolData);
    w.array(g.members, (w, m) => {
      w.string(m.memberId).string(m.clientId).string(m.clientHost);
      w.bytes(m.memberMetadata).bytes(m.memberAssignment);
    });
  });
}

import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// LeaveGroup (api key 13), v0-1. Field names follow LeaveGroupRequest.json / LeaveGroupResponse.json.

export interface LeaveGroupRequest {
  groupId: string;
  memberId: string;
}

export interface LeaveGroupResponse {
  /** v1+. */
  throttleTimeMs: number;
  errorCode: number;
}

export function decodeLeaveGroupRequest(r: Reader, _version: number): LeaveGroupRequest {
  const groupId = r.string();
  const memberId = r.string();
  return { groupId, memberId };
}

export function encodeLeaveGroupResponse(w: Writer, version: number, res: LeaveGroupResponse): void {
  if (version >= 1) w.int32(res.throttleTimeMs);
  w.int16(res.errorCode);
}

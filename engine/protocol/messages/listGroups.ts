import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// ListGroups (api key 16), v0-2. Field names follow ListGroupsRequest.json / ListGroupsResponse.json.

/** Empty up to v3 (statesFilter arrives in v4). */
export type ListGroupsRequest = Record<string, never>;

export interface ListGroupsResponse {
  /** v1+. */
  throttleTimeMs: number;
  errorCode: number;
  groups: ListedGroup[];
}

export interface ListedGroup {
  groupId: string;
  protocolType: string;
}

export function decodeListGroupsRequest(_r: Reader, _version: number): ListGroupsRequest {
  return {};
}

export function encodeListGroupsResponse(w: Writer, version: number, res: ListGroupsResponse): void {
  if (version >= 1) w.int32(res.throttleTimeMs);
  w.int16(res.errorCode);
  w.array(res.groups, (w, g) => w.string(g.groupId).string(g.protocolType));
}

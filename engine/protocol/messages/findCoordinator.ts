import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// FindCoordinator (api key 10), v0-2. Field names follow FindCoordinatorRequest.json / FindCoordinatorResponse.json.

export interface FindCoordinatorRequest {
  /** The group id (keyType 0) or transactional id (keyType 1). */
  key: string;
  /** v1+; 0 = group, 1 = transaction. */
  keyType: number;
}

export interface FindCoordinatorResponse {
  /** v1+. */
  throttleTimeMs: number;
  errorCode: number;
  /** v1+. */
  errorMessage: string | null;
  nodeId: number;
  host: string;
  port: number;
}

export function decodeFindCoordinatorRequest(r: Reader, version: number): FindCoordinatorRequest {
  const key = r.string();
  const keyType = version >= 1 ? r.int8() : 0;
  return { key, keyType };
}

export function encodeFindCoordinatorResponse(
  w: Writer,
  version: number,
  res: FindCoordinatorResponse,
): void {
  if (version >= 1) w.int32(res.throttleTimeMs);
  w.int16(res.errorCode);
  if (version >= 1) w.nullableString(res.errorMessage);
  w.int32(res.nodeId).string(res.host).int32(res.port);
}

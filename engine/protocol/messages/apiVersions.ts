import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// ApiVersions (api key 18), v0-2. Field names follow ApiVersionsRequest.json / ApiVersionsResponse.json.

/** Empty up to v2 (clientSoftwareName/Version arrive with the flexible v3). */
export type ApiVersionsRequest = Record<string, never>;

export interface ApiVersionsResponse {
  /**
   * UNSUPPORTED_VERSION (35) answers a too-new request; Kafka then sends the v0 layout with
   * the full apiKeys list so the client can pick a version it shares with us.
   */
  errorCode: number;
  apiKeys: ApiVersion[];
  /** v1+. */
  throttleTimeMs: number;
}

export interface ApiVersion {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

export function decodeApiVersionsRequest(_r: Reader, _version: number): ApiVersionsRequest {
  return {};
}

export function encodeApiVersionsResponse(w: Writer, version: number, res: ApiVersionsResponse): void {
  w.int16(res.errorCode);
  w.array(res.apiKeys, (w, k) => w.int16(k.apiKey).int16(k.minVersion).int16(k.maxVersion));
  if (version >= 1) w.int32(res.throttleTimeMs);
}

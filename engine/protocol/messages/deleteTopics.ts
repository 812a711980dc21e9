import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// DeleteTopics (api key 20), v0-1. Field names follow DeleteTopicsRequest.json / DeleteTopicsResponse.json.

export interface DeleteTopicsRequest {
  topicNames: string[];
  timeoutMs: number;
}

export interface DeleteTopicsResponse {
  /** v1+. */
  throttleTimeMs: number;
  responses: DeletableTopicResult[];
}

export interface DeletableTopicResult {
  name: string;
  errorCode: number;
}

export function decodeDeleteTopicsRequest(r: Reader, _version: number): DeleteTopicsRequest {
  const topicNames = r.array((r) => r.string());
  const timeoutMs = r.int32();
  return { topicNames, timeoutMs };
}

export function encodeDeleteTopicsResponse(w: Writer, version: number, res: DeleteTopicsResponse): void {
  if (version >= 1) w.int32(res.throttleTimeMs);
  w.array(res.responses, (w, t) => w.string(t.name).int16(t.errorCode));
}

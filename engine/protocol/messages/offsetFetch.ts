import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// OffsetFetch (api key 9), v0-4. Field names follow OffsetFetchRequest.json / OffsetFetchResponse.json.

export interface OffsetFetchRequest {
  groupId: string;
  /** null (v2+ only) = every partition the group has committed offsets for. */
  topics: OffsetFetchRequestTopic[] | null;
}

export interface OffsetFetchRequestTopic {
  name: string;
  partitionIndexes: number[];
}

export interface OffsetFetchResponse {
  /** v3+. */
  throttleTimeMs: number;
  topics: OffsetFetchResponseTopic[];
  /** v2+: group-level error (older clients only see the per-partition codes). */
  errorCode: number;
}

export interface OffsetFetchResponseTopic {
  name: string;
  partitions: OffsetFetchResponsePartition[];
}

export interface OffsetFetchResponsePartition {
  partitionIndex: number;
  /** -1 when the group has no committed offset for the partition. */
  committedOffset: number;
  metadata: string | null;
  errorCode: number;
}

export function decodeOffsetFetchRequest(r: Reader, version: number): OffsetFetchRequest {
  const groupId = r.string();
  const topic = (r: Reader) => ({ name: r.string(), partitionIndexes: r.array((r) => r.int32()) });
  const topics = version >= 2 ? r.nullableArray(topic) : r.array(topic);
  return { groupId, topics };
}

export function encodeOffsetFetchResponse(w: Writer, version: number, res: OffsetFetchResponse): void {
  if (version >= 3) w.int32(res.throttleTimeMs);
  w.array(res.topics, (w, t) => {
    w.string(t.name);
    w.array(t.partitions, (w, p) => {
      w.int32(p.partitionIndex).int64(p.committedOffset).nullableString(p.metadata).int16(p.errorCode);
    });
  });
  if (version >= 2) w.int16(res.errorCode);
}

import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// OffsetCommit (api key 8), v0-5. Field names follow OffsetCommitRequest.json / OffsetCommitResponse.json.

export interface OffsetCommitRequest {
  groupId: string;
  /** v1+; -1 before (v0 commits are not tied to a group generation). */
  generationIdOrMemberEpoch: number;
  /** v1+; '' before. */
  memberId: string;
  /** v2-4; -1 = use the broker's default retention. */
  retentionTimeMs: number;
  topics: OffsetCommitRequestTopic[];
}

export interface OffsetCommitRequestTopic {
  name: string;
  partitions: OffsetCommitRequestPartition[];
}

export interface OffsetCommitRequestPartition {
  partitionIndex: number;
  committedOffset: number;
  /** v1 only; -1 otherwise. */
  commitTimestamp: number;
  committedMetadata: string | null;
}

export interface OffsetCommitResponse {
  /** v3+. */
  throttleTimeMs: number;
  topics: OffsetCommitResponseTopic[];
}

export interface OffsetCommitResponseTopic {
  name: string;
  partitions: OffsetCommitResponsePartition[];
}

export interface OffsetCommitResponsePartition {
  partitionIndex: number;
  errorCode: number;
}

export function decodeOffsetCommitRequest(r: Reader, version: number): OffsetCommitRequest {
  const groupId = r.string();
  const generationIdOrMemberEpoch = version >= 1 ? r.int32() : -1;
  const memberId = version >= 1 ? r.string() : '';
  const retentionTimeMs = version >= 2 && version <= 4 ? r.int64() : -1;
  const topics = r.array((r) => ({
    name: r.string(),
    partitions: r.array((r) => ({
      partitionIndex: r.int32(),
      committedOffset: r.int64(),
      commitTimestamp: version === 1 ? r.int64() : -1,
      committedMetadata: r.nullableString(),
    })),
  }));
  return { groupId, generationIdOrMemberEpoch, memberId, retentionTimeMs, topics };
}

export function encodeOffsetCommitResponse(w: Writer, version: number, res: OffsetCommitResponse): void {
  if (version >= 3) w.int32(res.throttleTimeMs);
  w.array(res.topics, (w, t) => {
    w.string(t.name);
    w.array(t.partitions, (w, p) => w.int32(p.partitionIndex).int16(p.errorCode));
  });
}

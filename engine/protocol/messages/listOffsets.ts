import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// ListOffsets (api key 2), v0-2. Field names follow ListOffsetsRequest.json / ListOffsetsResponse.json.

export interface ListOffsetsRequest {
  /** -1 for consumers. */
  replicaId: number;
  /** v2+; 0 = READ_UNCOMMITTED, 1 = READ_COMMITTED. */
  isolationLevel: number;
  topics: ListOffsetsTopic[];
}

export interface ListOffsetsTopic {
  name: string;
  partitions: ListOffsetsPartition[];
}

export interface ListOffsetsPartition {
  partitionIndex: number;
  /** -1 = latest, -2 = earliest, else a timestamp in ms. */
  timestamp: number;
  /** v0 only; 1 otherwise. */
  maxNumOffsets: number;
}

export interface ListOffsetsResponse {
  /** v2+. */
  throttleTimeMs: number;
  topics: ListOffsetsTopicResponse[];
}

export interface ListOffsetsTopicResponse {
  name: string;
  partitions: ListOffsetsPartitionResponse[];
}

export interface ListOffsetsPartitionResponse {
  partitionIndex: number;
  errorCode: number;
  /** v0 only: the offsets found, newest first. */
  oldStyleOffsets: number[];
  /** v1+. */
  timestamp: number;
  /** v1+. */
  offset: number;
}

export function decodeListOffsetsRequest(r: Reader, version: number): ListOffsetsRequest {
  const replicaId = r.int32();
  const isolationLevel = version >= 2 ? r.int8() : 0;
  const topics = r.array((r) => ({
    name: r.string(),
    partitions: r.array((r) => ({
      partitionIndex: r.int32(),
      timestamp: r.int64(),
      maxNumOffsets: version === 0 ? r.int32() : 1,
    })),
  }));
  return { replicaId, isolationLevel, topics };
}

export function encodeListOffsetsResponse(w: Writer, version: number, res: ListOffsetsResponse): void {
  if (version >= 2) w.int32(res.throttleTimeMs);
  w.array(res.topics, (w, t) => {
    w.string(t.name);
    w.array(t.partitions, (w, p) => {
      w.int32(p.partitionIndex).int16(p.errorCode);
      if (version === 0) w.array(p.oldStyleOffsets, (w, o) => w.int64(o));
      else w.int64(p.timestamp).int64(p.offset);
    });
  });
}

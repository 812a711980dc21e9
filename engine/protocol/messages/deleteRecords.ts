import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// DeleteRecords (api key 21), v0-1. Field names follow DeleteRecordsRequest.json / DeleteRecordsResponse.json.
// v1 only tells the client it may throttle on its side (KIP-219): the layout is unchanged.

export interface DeleteRecordsRequest {
  topics: DeleteRecordsTopic[];
  timeoutMs: number;
}

export interface DeleteRecordsTopic {
  name: string;
  partitions: DeleteRecordsPartition[];
}

export interface DeleteRecordsPartition {
  partitionIndex: number;
  /** Delete everything before this offset; -1 = up to the high watermark. */
  offset: number;
}

export interface DeleteRecordsResponse {
  throttleTimeMs: number;
  topics: DeleteRecordsTopicResult[];
}

export interface DeleteRecordsTopicResult {
  name: string;
  partitions: DeleteRecordsPartitionResult[];
}

export interface DeleteRecordsPartitionResult {
  partitionIndex: number;
  lowWatermark: number;
  errorCode: number;
}

export function decodeDeleteRecordsRequest(r: Reader, _version: number): DeleteRecordsRequest {
  const topics = r.array((r) => ({
    name: r.string(),
    partitions: r.array((r) => ({ partitionIndex: r.int32(), offset: r.int64() })),
  }));
  const timeoutMs = r.int32();
  return { topics, timeoutMs };
}

export function encodeDeleteRecordsResponse(w: Writer, _version: number, res: DeleteRecordsResponse): void {
  w.int32(res.throttleTimeMs);
  w.array(res.topics, (w, t) => {
    w.string(t.name);
    w.array(t.partitions, (w, p) => w.int32(p.partitionIndex).int64(p.lowWatermark).int16(p.errorCode));
  });
}

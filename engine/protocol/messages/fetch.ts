import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// Fetch (api key 1), v0-11. Field names follow FetchRequest.json / FetchResponse.json.

export interface FetchRequest {
  /** -1 for consumers. */
  replicaId: number;
  maxWaitMs: number;
  minBytes: number;
  /** v3+; 0x7fffffff (no limit) before. */
  maxBytes: number;
  /** v4+; 0 = READ_UNCOMMITTED (the only behaviour before v4), 1 = READ_COMMITTED. */
  isolationLevel: number;
  /** v7+; 0 = no fetch session. */
  sessionId: number;
  /** v7+; -1 = no fetch session. */
  sessionEpoch: number;
  topics: FetchTopic[];
  /** v7+; partitions an incremental fetch drops from its session. */
  forgottenTopicsData: ForgottenTopic[];
  /** v11+; '' when unknown. */
  rackId: string;
}

export interface FetchTopic {
  topic: string;
  partitions: FetchPartition[];
}

export interface FetchPartition {
  partition: number;
  /** v9+; -1 when unknown. */
  currentLeaderEpoch: number;
  fetchOffset: number;
  /** v5+; only followers set it, -1 otherwise. */
  logStartOffset: number;
  partitionMaxBytes: number;
}

export interface ForgottenTopic {
  topic: string;
  partitions: number[];
}

export interface FetchResponse {
  /** v1+. */
  throttleTimeMs: number;
  /** v7+: top-level error (fetch session errors). */
  errorCode: number;
  /** v7+; 0 when not part of a fetch session. */
  sessionId: number;
  responses: FetchableTopicResponse[];
}

export interface FetchableTopicResponse {
  topic: string;
  partitions: PartitionData[];
}

export interface PartitionData {
  partitionIndex: number;
  errorCode: number;
  highWatermark: number;
  /** v4+. */
  lastStableOffset: number;
  /** v5+. */
  logStartOffset: number;
  /** v4+; null when the request was READ_UNCOMMITTED. */
  abortedTransactions: AbortedTransaction[] | null;
  /** v11+; -1 = read from the leader. */
  preferredReadReplica: number;
  /**
   * Whole record batches, written back to back by reference (file chunks are never copied).
   * Prefer [] to null: kafkajs's Fetch v0-3 decoder steps backwards on a -1 length.
   */
  records: Buffer[] | null;
}

export interface AbortedTransaction {
  producerId: number;
  firstOffset: number;
}

export function decodeFetchRequest(r: Reader, version: number): FetchRequest {
  const replicaId = r.int32();
  const maxWaitMs = r.int32();
  const minBytes = r.int32();
  const maxBytes = version >= 3 ? r.int32() : 0x7fffffff;
  const isolationLevel = version >= 4 ? r.int8() : 0;
  const sessionId = version >= 7 ? r.int32() : 0;
  const sessionEpoch = version >= 7 ? r.int32() : -1;
  const topics = r.array((r) => ({
    topic: r.string(),
    partitions: r.array((r) => ({
      partition: r.int32(),
      currentLeaderEpoch: version >= 9 ? r.int32() : -1,
      fetchOffset: r.int64(),
      logStartOffset: version >= 5 ? r.int64() : -1,
      partitionMaxBytes: r.int32(),
    })),
  }));
  const forgottenTopicsData =
    version >= 7 ? r.array((r) => ({ topic: r.string(), partitions: r.array((r) => r.int32()) })) : [];
  const rackId = version >= 11 ? r.string() : '';
  return {
    replicaId,
    maxWaitMs,
    minBytes,
    maxBytes,
    isolationLevel,
    sessionId,
    sessionEpoch,
    topics,
    forgottenTopicsData,
    rackId,
  };
}

export function encodeFetchResponse(w: Writer, version: number, res: FetchResponse): void {
  if (version >= 1) w.int32(res.throttleTimeMs);
  if (version >= 7) w.int16(res.errorCode).int32(res.sessionId);
  w.array(res.responses, (w, t) => {
    w.string(t.topic);
    w.array(t.partitions, (w, p) => {
      w.int32(p.partitionIndex).int16(p.errorCode).int64(p.highWatermark);
      if (version >= 4) w.int64(p.lastStableOffset);
      if (version >= 5) w.int64(p.logStartOffset);
      if (version >= 4) w.array(p.abortedTransactions, (w, a) => w.int64(a.producerId).int64(a.firstOffset));
      if (version >= 11) w.int32(p.preferredReadReplica);
      if (p.records === null) w.int32(-1);
      else w.bytesList(p.records);
    });
  });
}

import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// TxnOffsetCommit (api key 28), v0-1. Field names follow TxnOffsetCommitRequest.json /
// TxnOffsetCommitResponse.json. v1 is the same as v0 on the wire; v2 adds CommittedLeaderEpoch
// per partition and v3+ is flexible, so neither is served.

export interface TxnOffsetCommitRequest {
  transactionalId: string;
  groupId: string;
  producerId: number;
  producerEpoch: number;
  topics: TxnOffsetCommitRequestTopic[];
}

export interface TxnOffsetCommitRequestTopic {
  name: string;
  partitions: TxnOffsetCommitRequestPartition[];
}

export interface TxnOffsetCommitRequestPartition {
  partitionIndex: number;
  committedOffset: number;
  committedMetadata: string | null;
}

export interface TxnOffsetCommitResponse {
  /** Every version; from v1 the client throttles itself by it (KIP-219). */
  throttleTimeMs: number;
  topics: TxnOffsetCommitResponseTopic[];
}

export interface TxnOffsetCommitResponseTopic {
  name: string;
  partitions: TxnOffsetCommitResponsePartition[];
}

export interface TxnOffsetCommitResponsePartition {
  partitionIndex: number;
  errorCode: number;
}

export function decodeTxnOffsetCommitRequest(r: Reader, _version: number): TxnOffsetCommitRequest {
  const transactionalId = r.string();
  const groupId = r.string();
  const producerId = r.int64();
  const producerEpoch = r.int16();
  const topics = r.array((r) => ({
    name: r.string(),
    partitions: r.array((r) => ({
      partitionIndex: r.int32(),
      committedOffset: r.int64(),
      committedMetadata: r.nullableString(),
    })),
  }));
  return { transactionalId, groupId, producerId, producerEpoch, topics };
}

export function encodeTxnOffsetCommitResponse(
  w: Writer,
  _version: number,
  res: TxnOffsetCommitResponse,
): void {
  w.int32(res.throttleTimeMs);
  w.array(res.topics, (w, t) => {
    w.string(t.name);
    w.array(t.partitions, (w, p) => w.int32(p.partitionIndex).int16(p.errorCode));
  });
}

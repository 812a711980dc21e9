import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// AddPartitionsToTxn (api key 24), v0-1. Field names follow AddPartitionsToTxnRequest.json /
// AddPartitionsToTxnResponse.json, except that the spec's v0-3 fields carry a version marker
// because v4+ (broker-to-broker, batched by transaction) replaced them:
//   request  V3AndBelowTransactionalId -> transactionalId
//            V3AndBelowProducerId      -> producerId
//            V3AndBelowProducerEpoch   -> producerEpoch
//            V3AndBelowTopics          -> topics
//   response ResultsByTopicV3AndBelow  -> resultsByTopic
// v1 and v2 are the same as v0 on the wire (v2 only permits PRODUCER_FENCED); v3+ is flexible.

export interface AddPartitionsToTxnRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  topics: AddPartitionsToTxnTopic[];
}

export interface AddPartitionsToTxnTopic {
  name: string;
  /** Partition indexes to add to the transaction. */
  partitions: number[];
}

export interface AddPartitionsToTxnResponse {
  /** Every version; from v1 the client throttles itself by it (KIP-219). */
  throttleTimeMs: number;
  resultsByTopic: AddPartitionsToTxnTopicResult[];
}

export interface AddPartitionsToTxnTopicResult {
  name: string;
  resultsByPartition: AddPartitionsToTxnPartitionResult[];
}

export interface AddPartitionsToTxnPartitionResult {
  partitionIndex: number;
  partitionErrorCode: number;
}

export function decodeAddPartitionsToTxnRequest(r: Reader, _version: number): AddPartitionsToTxnRequest {
  const transactionalId = r.string();
  const producerId = r.int64();
  const producerEpoch = r.int16();
  const topics = r.array((r) => ({ name: r.string(), partitions: r.array((r) => r.int32()) }));
  return { transactionalId, producerId, producerEpoch, topics };
}

export function encodeAddPartitionsToTxnResponse(
  w: Writer,
  _version: number,
  res: AddPartitionsToTxnResponse,
): void {
  w.int32(res.throttleTimeMs);
  w.array(res.resultsByTopic, (w, t) => {
    w.string(t.name);
    w.array(t.resultsByPartition, (w, p) => w.int32(p.partitionIndex).int16(p.partitionErrorCode));
  });
}

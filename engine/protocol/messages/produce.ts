import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// Produce (api key 0), v0-7. Field names follow ProduceRequest.json / ProduceResponse.json.

export interface ProduceRequest {
  /** v3+; null when the producer is not transactional (and always null before v3). */
  transactionalId: string | null;
  acks: number;
  timeoutMs: number;
  topicData: TopicProduceData[];
}

export interface TopicProduceData {
  name: string;
  partitionData: PartitionProduceData[];
}

export interface PartitionProduceData {
  index: number;
  /** Raw record batches (v0-2: message sets), a view into the request frame: not copied, not parsed. */
  records: Buffer | null;
}

export interface ProduceResponse {
  responses: TopicProduceResponse[];
  /** v1+. */
  throttleTimeMs: number;
}

export interface TopicProduceResponse {
  name: string;
  partitionResponses: PartitionProduceResponse[];
}

export interface PartitionProduceResponse {
  index: number;
  errorCode: number;
  baseOffset: number;
  /** v2+; -1 unless the topic uses LogAppendTime. */
  logAppendTimeMs: number;
  /** v5+. */
  logStartOffset: number;
}

export function decodeProduceRequest(r: Reader, version: number): ProduceRequest {
  const transactionalId = version >= 3 ? r.nullableString() : null;
  const acks = r.int16();
  const timeoutMs = r.int32();
  const topicData = r.array((r) => ({
    name: r.string(),
    partitionData: r.array((r) => ({ index: r.int32(), records: r.nullableBytes() })),
  }));
  return { transactionalId, acks, timeoutMs, topicData };
}

export function encodeProduceResponse(w: Writer, version: number, res: ProduceResponse): void {
  w.array(res.responses, (w, t) => {
    w.string(t.name);
    w.array(t.partitionResponses, (w, p) => {
      w.int32(p.index).int16(p.errorCode).int64(p.baseOffset);
      if (version >= 2) w.int64(p.logAppendTimeMs);
      if (version >= 5) w.int64(p.logStartOffset);
    });
  });
  if (version >= 1) w.int32(res.throttleTimeMs);
}

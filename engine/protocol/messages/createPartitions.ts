import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// CreatePartitions (api key 37), v0-1. Field names follow CreatePartitionsRequest.json / CreatePartitionsResponse.json.

export interface CreatePartitionsRequest {
  topics: CreatePartitionsTopic[];
  timeoutMs: number;
  validateOnly: boolean;
}

export interface CreatePartitionsTopic {
  name: string;
  /** The new total partition count. */
  count: number;
  /** One entry per new partition, or null to let the broker place them. */
  assignments: CreatePartitionsAssignment[] | null;
}

export interface CreatePartitionsAssignment {
  brokerIds: number[];
}

export interface CreatePartitionsResponse {
  throttleTimeMs: number;
  results: CreatePartitionsTopicResult[];
}

export interface CreatePartitionsTopicResult {
  name: string;
  errorCode: number;
  errorMessage: string | null;
}

export function decodeCreatePartitionsRequest(r: Reader, _version: number): CreatePartitionsRequest {
  const topics = r.array((r) => ({
    name: r.string(),
    count: r.int32(),
    // kafkajs writes an empty brokerIds list as a null array: r.array reads that as [].
    assignments: r.nullableArray((r) => ({ brokerIds: r.array((r) => r.int32()) })),
  }));
  const timeoutMs = r.int32();
  const validateOnly = r.boolean();
  return { topics, timeoutMs, validateOnly };
}

export function encodeCreatePartitionsResponse(
  w: Writer,
  _version: number,
  res: CreatePartitionsResponse,
): void {
  w.int32(res.throttleTimeMs);
  w.array(res.results, (w, t) => w.string(t.name).int16(t.errorCode).nullableString(t.errorMessage));
}

import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// Metadata (api key 3), v0-8. Field names follow MetadataRequest.json / MetadataResponse.json.

export interface MetadataRequest {
  /**
   * null = all topics. v0 has no null: there an empty array means all topics, so the decoder
   * turns it into null and the broker has one rule for every version.
   */
  topics: MetadataRequestTopic[] | null;
  /** v4+; true before (auto-creation was then up to broker config alone). */
  allowAutoTopicCreation: boolean;
  /** v8+. */
  includeClusterAuthorizedOperations: boolean;
  /** v8+. */
  includeTopicAuthorizedOperations: boolean;
}

export interface MetadataRequestTopic {
  name: string;
}

export interface MetadataResponse {
  /** v3+. */
  throttleTimeMs: number;
  brokers: MetadataResponseBroker[];
  /** v2+. */
  clusterId: string | null;
  /** v1+. */
  controllerId: number;
  topics: MetadataResponseTopic[];
  /** v8+; -2147483648 = not requested. */
  clusterAuthorizedOperations: number;
}

export interface MetadataResponseBroker {
  nodeId: number;
  host: string;
  port: number;
  /** v1+. */
  rack: string | null;
}

export interface MetadataResponseTopic {
  errorCode: number;
  name: string;
  /** v1+. */
  isInternal: boolean;
  partitions: MetadataResponsePartition[];
  /** v8+; -2147483648 = not requested. */
  topicAuthorizedOperations: number;
}

export interface MetadataResponsePartition {
  errorCode: number;
  partitionIndex: number;
  leaderId: number;
  /** v7+. */
  leaderEpoch: number;
  replicaNodes: number[];
  isrNodes: number[];
  /** v5+. */
  offlineReplicas: number[];
}

export function decodeMetadataRequest(r: Reader, version: number): MetadataRequest {
  let topics = r.nullableArray((r) => ({ name: r.string() }));
  if (version === 0 && topics !== null && topics.length === 0) topics = null;
  const allowAutoTopicCreation = version >= 4 ? r.boolean() : true;
  const includeClusterAuthorizedOperations = version >= 8 ? r.boolean() : false;
  const includeTopicAuthorizedOperations = version >= 8 ? r.boolean() : false;
  return {
    topics,
    allowAutoTopicCreation,
    includeClusterAuthorizedOperations,
    includeTopicAuthorizedOperations,
  };
}

const int32 = (w: Writer, v: number) => w.int32(v);

export function encodeMetadataResponse(w: Writer, version: number, res: MetadataResponse): void {
  if (version >= 3) w.int32(res.throttleTimeMs);
  w.array(res.brokers, (w, b) => {
    w.int32(b.nodeId).string(b.host).int32(b.port);
    if (version >= 1) w.nullableString(b.rack);
  });
  if (version >= 2) w.nullableString(res.clusterId);
  if (version >= 1) w.int32(res.controllerId);
  w.array(res.topics, (w, t) => {
    w.int16(t.errorCode).string(t.name);
    if (version >= 1) w.boolean(t.isInternal);
    w.array(t.partitions, (w, p) => {
      w.int16(p.errorCode).int32(p.partitionIndex).int32(p.leaderId);
      if (version >= 7) w.int32(p.leaderEpoch);
      w.array(p.replicaNodes, int32).array(p.isrNodes, int32);
      if (version >= 5) w.array(p.offlineReplicas, int32);
    });
    if (version >= 8) w.int32(t.topicAuthorizedOperations);
  });
  if (version >= 8) w.int32(res.clusterAuthorizedOperations);
}

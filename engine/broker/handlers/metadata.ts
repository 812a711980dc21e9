import { supportedVersions } from '../../protocol/apiKeys.js';
import { ErrorCode } from '../../protocol/errorCodes.js';
import type { ApiVersionsResponse } from '../../protocol/messages/apiVersions.js';
import type {
  FindCoordinatorRequest,
  FindCoordinatorResponse,
} from '../../protocol/messages/findCoordinator.js';
import type {
  MetadataRequest,
  MetadataResponse,
  MetadataResponseTopic,
} from '../../protocol/messages/metadata.js';
import { TopicError, type TopicMeta, TopicRegistry } from '../topicRegistry.js';
import type { BrokerState } from './context.js';

export function apiVersionsResponse(errorCode: number = ErrorCode.NONE): ApiVersionsResponse {
  return {
    errorCode,
    throttleTimeMs: 0,
    apiKeys: Object.entries(supportedVersions).map(([key, range]) => ({
      apiKey: Number(key),
      minVersion: range.min,
      maxVersion: range.max,
    })),
  };
}

function describeTopic(b: BrokerState, meta: TopicMeta): MetadataResponseTopic {
  const node = b.config['node.id'];
  return {
    errorCode: ErrorCode.NONE,
    name: meta.name,
    isInternal: meta.internal,
    topicAuthorizedOperations: -2147483648,
    partitions: Array.from({ length: meta.partitions }, (_, i) => ({
      errorCode: ErrorCode.NONE,
      partitionIndex: i,
      leaderId: node,
      leaderEpoch: 0,
      replicaNodes: [node],
      isrNodes: [node],
      offlineReplicas: [],
    })),
  };
}

/**
 * Metadata: this node is every partition's leader and the controller. Unknown topics are
 * created when both the broker (auto.create.topics.enable) and the request (v4+) allow it.
 */
export function handleMetadata(b: BrokerState, req: MetadataRequest, version: number): MetadataResponse {
  const node = b.config['node.id'];
  // v0 asks for every topic with an empty list; v1+ with null.
  const all = req.topics === null || (version === 0 && req.topics.length === 0);
  const autoCreate = b.config['auto.create.topics.enable'] && (version < 4 || req.allowAutoTopicCreation);
  const topics: MetadataResponseTopic[] = all
    ? b.topics.all().map((m) => describeTopic(b, m))
    : (req.topics ?? []).map(({ name }) => {
        const existing = b.topics.get(name);
        if (existing) return describeTopic(b, existing);
        const missing = { name, isInternal: false, partitions: [], topicAuthorizedOperations: -2147483648 };
        try {
          TopicRegistry.validateName(name);
        } catch {
          return { ...missing, errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION };
        }
        if (!autoCreate) return { ...missing, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
        try {
          return describeTopic(b, b.topics.create(name, -1));
        } catch (err) {
          if (err instanceof TopicError) return { ...missing, errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION };
          throw err;
        }
      });
  return {
    throttleTimeMs: 0,
    brokers: [{ nodeId: node, host: b.advertised.host, port: b.advertised.port, rack: null }],
    clusterId: b.config['cluster.id'],
    controllerId: node,
    topics,
    clusterAuthorizedOperations: -2147483648,
  };
}

/** This node coordinates both groups (key type 0) and transactions (key type 1). */
export function handleFindCoordinator(b: BrokerState, _req: FindCoordinatorRequest): FindCoordinatorResponse {
  return {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    errorMessage: null,
    nodeId: b.config['node.id'],
    host: b.advertised.host,
    port: b.advertised.port,
  };
}

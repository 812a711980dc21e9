import { ErrorCode } from '../../protocol/errorCodes.js';
import type {
  CreatePartitionsRequest,
  CreatePartitionsResponse,
} from '../../protocol/messages/createPartitions.js';
import type { CreateTopicsRequest, CreateTopicsResponse } from '../../protocol/messages/createTopics.js';
import type { DeleteTopicsRequest, DeleteTopicsResponse } from '../../protocol/messages/deleteTopics.js';
import type {
  DescribeConfigsRequest,
  DescribeConfigsResourceResult,
  DescribeConfigsResponse,
} from '../../protocol/messages/describeConfigs.js';
import { effectiveTopicConfigs } from '../config.js';
import { TopicError } from '../topicRegistry.js';
import type { BrokerState } from './context.js';

const topicErrorCode: Record<TopicError['kind'], number> = {
  exists: ErrorCode.TOPIC_ALREADY_EXISTS,
  'invalid-name': ErrorCode.INVALID_TOPIC_EXCEPTION,
  'invalid-partitions': ErrorCode.INVALID_PARTITIONS,
  'invalid-replication': ErrorCode.INVALID_REPLICATION_FACTOR,
  'invalid-config': ErrorCode.INVALID_CONFIG,
  unknown: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
};

function asError(err: unknown): { errorCode: number; errorMessage: string } {
  if (err instanceof TopicError) return { errorCode: topicErrorCode[err.kind], errorMessage: err.message };
  throw err;
}

export async function handleCreateTopics(
  b: BrokerState,
  req: CreateTopicsRequest,
): Promise<CreateTopicsResponse> {
  const node = b.config['node.id'];
  const topics = req.topics.map(({ name, numPartitions, replicationFactor, assignments, configs }) => {
    try {
      const overrides: Record<string, string> = {};
      for (const c of configs) if (c.value !== null) overrides[c.name] = c.value;
      let partitions = numPartitions;
      if (assignments.length > 0) {
        // Manual assignments are accepted when they place each partition on this node alone.
        if (numPartitions !== -1 || replicationFactor !== -1) {
          return {
            name,
            errorCode: ErrorCode.INVALID_REQUEST,
            errorMessage: 'Both numPartitions or replicationFactor and replicasAssignments were set.',
          };
        }
        if (assignments.some((a) => a.brokerIds.length !== 1 || a.brokerIds[0] !== node)) {
          return {
            name,
            errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            errorMessage: `Only broker ${node} exists.`,
          };
        }
        partitions = assignments.length;
      }
      b.topics.validateCreate(name, partitions, assignments.length > 0 ? 1 : replicationFactor, overrides);
      if (!req.validateOnly) b.topics.create(name, partitions, overrides);
      return { name, errorCode: ErrorCode.NONE, errorMessage: null };
    } catch (err) {
      return { name, ...asError(err) };
    }
  });
  return { throttleTimeMs: 0, topics };
}

export async function handleDeleteTopics(
  b: BrokerState,
  req: DeleteTopicsRequest,
): Promise<DeleteTopicsResponse> {
  const responses = [];
  for (const name of req.topicNames) {
    const meta = b.topics.get(name);
    if (!meta) {
      responses.push({ name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
      continue;
    }
    if (meta.internal) {
      responses.push({ name, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED });
      continue;
    }
    b.topics.delete(name);
    await b.groups.deleteTopicOffsets(name);
    responses.push({ name, errorCode: ErrorCode.NONE });
  }
  return { throttleTimeMs: 0, responses };
}

export function handleCreatePartitions(
  b: BrokerState,
  req: CreatePartitionsRequest,
): CreatePartitionsResponse {
  return {
    throttleTimeMs: 0,
    results: req.topics.map(({ name, count }) => {
      try {
        b.topics.addPartitions(name, count, req.validateOnly);
        return { name, errorCode: ErrorCode.NONE, errorMessage: null };
      } catch (err) {
        return { name, ...asError(err) };
      }
    }),
  };
}

const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
const SOURCE = { topic: 1, broker: 4, default: 5 } as const;

/** DescribeConfigs for topics and this broker; values and sources as Kafka reports them. */
export function handleDescribeConfigs(b: BrokerState, req: DescribeConfigsRequest): DescribeConfigsResponse {
  const results = req.resources.map((r) => {
    const base = { resourceType: r.resourceType, resourceName: r.resourceName };
    const pick = (all: DescribeConfigsResourceResult[]) =>
      r.configurationKeys === null ? all : all.filter((c) => r.configurationKeys!.includes(c.name));
    if (r.resourceType === RESOURCE_TOPIC) {
      const meta = b.topics.get(r.resourceName);
      if (!meta) {
        return {
          ...base,
          errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          errorMessage: `Topic '${r.resourceName}' does not exist.`,
          configs: [],
        };
      }
      const configs = Object.entries(effectiveTopicConfigs(b.config, meta.configs)).map(
        ([name, { value, source }]) => ({
          name,
          value,
          readOnly: false,
          isDefault: source === 'default',
          configSource: SOURCE[source],
          isSensitive: false,
          synonyms: req.includeSynonyms ? [{ name, value, source: SOURCE[source] }] : [],
        }),
      );
      return { ...base, errorCode: ErrorCode.NONE, errorMessage: null, configs: pick(configs) };
    }
    if (r.resourceType === RESOURCE_BROKER) {
      if (r.resourceName !== '' && r.resourceName !== String(b.config['node.id'])) {
        return {
          ...base,
          errorCode: ErrorCode.INVALID_REQUEST,
          errorMessage: `Unknown broker ${r.resourceName}`,
          configs: [],
        };
      }
      const configs = Object.entries(b.config).map(([name, value]) => ({
        name,
        value: String(value),
        readOnly: true,
        isDefault: false,
        configSource: SOURCE.broker,
        isSensitive: false,
        synonyms: req.includeSynonyms ? [{ name, value: String(value), source: SOURCE.broker }] : [],
      }));
      return { ...base, errorCode: ErrorCode.NONE, errorMessage: null, configs: pick(configs) };
    }
    return {
      ...base,
      errorCode: ErrorCode.INVALID_REQUEST,
      errorMessage: `Unsupported resource type ${r.resourceType}`,
      configs: [],
    };
  });
  return { throttleTimeMs: 0, results };
}

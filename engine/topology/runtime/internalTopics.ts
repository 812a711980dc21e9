import type { Kafka } from 'kafkajs';
import { SluiceError } from '../../errors.js';
import type { Topology } from '../topology.js';

/** Where an application's topics are: which sub-topology reads each, and how many tasks each has. */
export interface TopicLayout {
  /** Full topic name (internal ones carry the application id) to the sub-topology reading it. */
  topicToSubtopology: Map<string, number>;
  /** Tasks (partitions) per sub-topology. */
  taskCounts: Map<number, number>;
  /** `<input>.dlq` of every external input. */
  dlqTopics: Set<string>;
}

/**
 * Checks the inputs exist and are co-partitioned where the topology joins them, and creates the
 * application's repartition, changelog (compacted) and dead-letter topics that are missing.
 */
export async function prepareTopics(
  kafka: Kafka,
  topology: Topology,
  applicationId: string,
  internalPartitionsOption: number | undefined,
): Promise<TopicLayout> {
  const fullName = (spec: { topic: string; internal: boolean }) =>
    spec.internal ? topology.internalTopicName(applicationId, spec.topic) : spec.topic;
  const topicToSubtopology = new Map<string, number>();
  const taskCounts = new Map<number, number>();
  const dlqTopics = new Set<string>();
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const subs = topology.subtopologies;
    const external = [
      ...new Set(subs.flatMap((s) => s.sources.filter((t) => !t.internal).map((t) => t.topic))),
    ];
    const missing = external.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      throw new SluiceError(
        'SLUICE_TOPOLOGY_MISSING_TOPIC',
        `input topics do not exist: ${missing.join(', ')}`,
      );
    }
    const meta = await admin.fetchTopicMetadata({ topics: external });
    const partitions = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
    const internalPartitions = internalPartitionsOption ?? Math.max(1, ...partitions.values());
    for (const s of subs) {
      for (const group of s.copartitionGroups) {
        const counts = group.map((t) => partitions.get(t) ?? internalPartitions);
        if (new Set(counts).size > 1) {
          throw new SluiceError(
            'SLUICE_TOPOLOGY_NOT_COPARTITIONED',
            `topics joined together must have the same number of partitions: ${group.map((t, i) => `${t} (${counts[i]})`).join(', ')}`,
          );
        }
      }
    }
    const create: {
      topic: string;
      numPartitions: number;
      configEntries?: { name: string; value: string }[];
    }[] = [];
    for (const s of subs) {
      const taskCount = Math.max(
        ...s.sources.map((t) =>
          t.internal ? internalPartitions : (partitions.get(t.topic) ?? internalPartitions),
        ),
      );
      for (const t of [...s.sources, ...s.sinks].filter((x) => x.internal)) {
        create.push({ topic: fullName(t), numPartitions: internalPartitions });
      }
      for (const st of s.stores.filter((h) => h.spec.changelog)) {
        create.push({
          topic: topology.internalTopicName(applicationId, st.changelogTopic),
          numPartitions: taskCount,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        });
      }
      for (const t of s.sources) topicToSubtopology.set(fullName(t), s.id);
      taskCounts.set(s.id, taskCount);
    }
    for (const t of external) {
      dlqTopics.add(`${t}.dlq`);
      create.push({ topic: `${t}.dlq`, numPartitions: partitions.get(t) ?? 1 });
    }
    // Failures on internal topics (repartition) have no external source to name theirs after.
    create.push({ topic: `${applicationId}.dlq`, numPartitions: 1 });
    const toCreate = [...new Map(create.map((c) => [c.topic, c])).values()].filter(
      (c) => !existing.has(c.topic),
    );
    if (toCreate.length > 0) await admin.createTopics({ topics: toCreate, waitForLeaders: true });
    return { topicToSubtopology, taskCounts, dlqTopics };
  } finally {
    await admin.disconnect();
  }
}

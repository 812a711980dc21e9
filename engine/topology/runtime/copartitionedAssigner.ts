import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

/**
 * Assigns whole tasks, not single partitions: partition p of every subscribed topic goes to
 * the same member, as Kafka Streams' StreamsPartitionAssignor does, so co-partitioned inputs
 * of a join (and a sub-topology's repartition topic) meet in one task. Tasks are spread by
 * partition number over the members sorted by id, which keeps assignments stable when a
 * member rejoins.
 */
export const CopartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'SluiceCopartitioned',
  version: 0,
  async assign({ members, topics }) {
    const sorted = members.map((m) => m.memberId).sort();
    const assignment: Record<string, Record<string, number[]>> = {};
    for (const id of sorted) assignment[id] = {};
    for (const topic of topics) {
      for (const { partitionId } of cluster.findTopicPartitionMetadata(topic)) {
        const owner = sorted[partitionId % sorted.length];
        (assignment[owner][topic] ??= []).push(partitionId);
      }
    }
    return sorted.map((memberId) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: assignment[memberId],
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: 'SluiceCopartitioned',
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    };
  },
});

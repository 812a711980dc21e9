import { encodeBatch } from '../protocol/recordBatch.js';
import type { CommittedOffset, OffsetStore } from './groupCoordinator.js';
import type { TopicRegistry } from './topicRegistry.js';

export const OFFSETS_TOPIC = '__consumer_offsets';

/**
 * Committed offsets live in the compacted `__consumer_offsets` topic, as in Kafka: key
 * `{group, topic, partition}`, value `{offset, metadata, commitTimestamp}` (JSON, since
 * only this broker reads it), a null value deleting the entry. Offsets committed inside a
 * transaction carry the producer id in their key and are tombstoned when it ends. The coordinator's answer to
 * a commit waits for the fsync of this append.
 */
export class OffsetsTopic implements OffsetStore {
  constructor(private readonly topics: TopicRegistry) {}

  static ensure(topics: TopicRegistry): OffsetsTopic {
    if (!topics.get(OFFSETS_TOPIC)) {
      topics.create(
        OFFSETS_TOPIC,
        topics.config['offsets.topic.num.partitions'],
        {
          'cleanup.policy': 'compact',
          'segment.bytes': String(topics.config['offsets.topic.segment.bytes']),
        },
        true,
      );
    }
    return new OffsetsTopic(topics);
  }

  private partitionFor(groupId: string): number {
    const n = this.topics.get(OFFSETS_TOPIC)!.partitions;
    let h = 0;
    for (let i = 0; i < groupId.length; i++) h = (h * 31 + groupId.charCodeAt(i)) | 0;
    return Math.abs(h) % n;
  }

  async persist(entries: CommittedOffset[]): Promise<void> {
    const byPartition = new Map<number, CommittedOffset[]>();
    for (const e of entries) {
      const p = this.partitionFor(e.groupId);
      const list = byPartition.get(p) ?? [];
      list.push(e);
      byPartition.set(p, list);
    }
    const writes: Promise<void>[] = [];
    for (const [p, list] of byPartition) {
      const log = this.topics.partitionLog(OFFSETS_TOPIC, p)!;
      const batch = encodeBatch({
        baseOffset: 0,
        records: list.map((e, i) => ({
          offset: i,
          timestamp: e.commitTimestamp,
          key: Buffer.from(
            JSON.stringify(
              e.producerId === undefined
                ? { group: e.groupId, topic: e.topic, partition: e.partition }
                : { group: e.groupId, topic: e.topic, partition: e.partition, producerId: e.producerId },
            ),
          ),
          value:
            e.offset === null
              ? null
              : Buffer.from(
                  JSON.stringify({
                    offset: e.offset,
                    metadata: e.metadata,
                    commitTimestamp: e.commitTimestamp,
                  }),
                ),
          headers: [],
        })),
      });
      writes.push(log.append([batch]).durable);
    }
    await Promise.all(writes);
  }

  /** Every entry in log order, for the coordinator to replay at start. */
  load(): CommittedOffset[] {
    const out: CommittedOffset[] = [];
    for (const log of this.topics.partitionLogs(OFFSETS_TOPIC)) {
      for (const r of log.records()) {
        if (!r.key) continue;
        const k = JSON.parse(r.key.toString());
        const v = r.value ? JSON.parse(r.value.toString()) : null;
        out.push({
          groupId: k.group,
          topic: k.topic,
          partition: k.partition,
          offset: v ? v.offset : null,
          metadata: v ? v.metadata : '',
          commitTimestamp: v ? v.commitTimestamp : r.timestamp,
          ...(k.producerId === undefined ? {} : { producerId: k.producerId }),
        });
      }
    }
    return out;
  }
}

import type { Kafka, KafkaMessage } from 'kafkajs';

/** Readers started by this process: part of each throwaway group id, so two never share one. */
let readers = 0;

/** Offsets [from, to) of one partition. */
export interface PartitionRange {
  topic: string;
  partition: number;
  from: number;
  to: number;
}

/**
 * Reads every record of the given ranges once, in offset order per partition, and returns when
 * all ranges are read. kafkajs has no manual assignment, so a throwaway consumer group
 * subscribes the topics and seeks each partition to its range start once the fetch loop runs;
 * records outside a range (fetched before the seek, or past its end) are skipped, and a
 * partition whose range is read is paused. Offsets with no record (transaction markers,
 * compacted records) count as read when a later batch passes them.
 */
export async function readRanges(
  kafka: Kafka,
  ranges: PartitionRange[],
  onBatch: (range: PartitionRange, messages: KafkaMessage[]) => Promise<void>,
  options: { readCommitted?: boolean; groupPrefix?: string; maxBytesPerPartition?: number } = {},
): Promise<void> {
  const key = (topic: string, partition: number) => `${topic}\0${partition}`;
  const byKey = new Map(ranges.map((r) => [key(r.topic, r.partition), r]));
  const pending = new Set([...byKey].filter(([, r]) => r.to > r.from).map(([k]) => k));
  if (pending.size === 0) return;
  const consumer = kafka.consumer({
    groupId: `${options.groupPrefix ?? 'sluice-ranges'}-${process.pid}-${Date.now()}-${++readers}`,
    readUncommitted: !(options.readCommitted ?? true),
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 << 20,
  });
  await consumer.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      const finished = (k: string, lastOffset: number) => {
        const r = byKey.get(k);
        if (!r || !pending.has(k) || lastOffset + 1 < r.to) return;
        pending.delete(k);
        consumer.pause([{ topic: r.topic, partitions: [r.partition] }]);
        if (pending.size === 0) resolve();
      };
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
        finished(key(payload.topic, payload.partition), Number(payload.lastOffset)),
      );
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      const topics = [...new Set(ranges.map((r) => r.topic))];
      let seeked = false;
      consumer.on(consumer.events.GROUP_JOIN, () => {
        if (seeked) return;
        seeked = true;
        for (const r of ranges)
          consumer.seek({ topic: r.topic, partition: r.partition, offset: String(r.from) });
      });
      consumer
        .subscribe({ topics, fromBeginning: true })
        .then(() =>
          consumer.run({
            autoCommit: false,
            eachBatchAutoResolve: true,
            eachBatch: async ({ batch }) => {
              const k = key(batch.topic, batch.partition);
              const r = byKey.get(k);
              if (!r || !pending.has(k)) {
                consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
                return;
              }
              const inside = batch.messages.filter((m) => {
                const o = Number(m.offset);
                return o >= r.from && o < r.to;
              });
              if (inside.length > 0) await onBatch(r, inside);
            },
          }),
        )
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}

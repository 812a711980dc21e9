import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { SluiceError } from '../errors.js';

export interface PartitionEnd {
  topic: string;
  partition: number;
  /** The end offset read to (exclusive): the partition's high watermark when the read began. */
  offset: number;
}

/**
 * Reads `topics` from their beginning to their end offsets as of the call, read_committed, and
 * hands each record to `onRecord` in offset order per partition. Returns the end offsets: a
 * snapshot that names exactly what was read, so that reading again to those offsets (a replay,
 * an audit) sees the same records. No offsets are committed (a fresh group each time).
 */
export async function readToEnd(
  kafka: Kafka,
  topics: string[],
  onRecord: (topic: string, partition: number, message: KafkaMessage) => void,
  opts: { timeoutMs?: number } = {},
): Promise<PartitionEnd[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: PartitionEnd[];
  try {
    ends = (
      await Promise.all(
        topics.map(async (topic) =>
          (
            await admin.fetchTopicOffsets(topic)
          ).map((p) => ({
            topic,
            partition: p.partition,
            offset: Number(p.high),
          })),
        ),
      )
    ).flat();
  } finally {
    await admin.disconnect();
  }
  ends.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  const pending = new Map(
    ends.filter((e) => e.offset > 0).map((e) => [`${e.topic}:${e.partition}`, e.offset]),
  );
  if (pending.size === 0) return ends;
  const consumer = kafka.consumer({ groupId: `sluice-read-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? 120_000;
      const timer = setTimeout(
        () =>
          reject(
            new SluiceError(
              'SLUICE_READ_TIMEOUT',
              `reading ${topics.join(', ')} to the end took over ${timeoutMs} ms; left: ${[...pending.keys()].join(', ')}`,
            ),
          ),
        timeoutMs,
      );
      const reached = (topic: string, partition: number, next: number) => {
        const key = `${topic}:${partition}`;
        const end = pending.get(key);
        if (end !== undefined && next >= end) pending.delete(key);
        if (pending.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      // Transaction markers and aborted records never reach eachBatch: the batch event still moves on.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
        reached(payload.topic, payload.partition, Number(payload.lastOffset) + 1),
      );
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        clearTimeout(timer);
        reject(payload.error);
      });
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            const end = pending.get(`${batch.topic}:${batch.partition}`);
            if (end === undefined) return;
            for (const m of batch.messages) {
              if (Number(m.offset) >= end) break;
              onRecord(batch.topic, batch.partition, m);
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return ends;
}

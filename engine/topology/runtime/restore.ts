import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { readRanges } from '../../kafka/ranges.js';

export interface RestoreTarget {
  topic: string;
  partition: number;
  /** First offset to apply (a warm standby's position); 0 by default. */
  from?: number;
  onRecord(key: Buffer | null, value: Buffer | null): void;
}

/**
 * Reads changelog partitions from their start (or a standby's position) to their end as of now
 * (read_committed), for tasks that start or move.
 */
export async function restorePartitions(
  kafka: Kafka,
  groupPrefix: string,
  targets: RestoreTarget[],
  log: Logger,
): Promise<number> {
  if (targets.length === 0) return 0;
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, number>();
  try {
    for (const topic of new Set(targets.map((t) => t.topic))) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        ends.set(`${topic}\0${p.partition}`, Number(p.high));
      }
    }
  } finally {
    await admin.disconnect();
  }
  const byKey = new Map(targets.map((t) => [`${t.topic}\0${t.partition}`, t]));
  let restored = 0;
  await readRanges(
    kafka,
    targets.map((t) => ({
      topic: t.topic,
      partition: t.partition,
      from: t.from ?? 0,
      to: ends.get(`${t.topic}\0${t.partition}`) ?? 0,
    })),
    async (range, messages) => {
      const target = byKey.get(`${range.topic}\0${range.partition}`)!;
      for (const m of messages) target.onRecord(m.key, m.value);
      restored += messages.length;
    },
    { groupPrefix: `${groupPrefix}-restore`, maxBytesPerPartition: 8 << 20 },
  );
  log.debug({ restored, partitions: targets.length }, 'restored state from changelogs');
  return restored;
}

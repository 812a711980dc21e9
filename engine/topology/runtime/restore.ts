import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';

export interface RestoreTarget {
  topic: string;
  partition: number;
  /** First offset to apply (a warm standby's position); 0 by default. */
  from?: number;
  onRecord(key: Buffer | null, value: Buffer | null): void;
}

/**
 * Reads changelog partitions from their start (or a standby's position) to their end as of now
 * (read_committed), for tasks that start or move. kafkajs has no manual assignment, so a
 * throwaway consumer group subscribes the changelog topics, seeks to the start positions once
 * it has joined, and pauses the partitions it does not need. The end is known from kafkajs's
 * batch events, which also fire for batches of markers only.
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
  const pending = new Set([...byKey].filter(([k, t]) => (ends.get(k) ?? 0) > (t.from ?? 0)).map(([k]) => k));
  if (pending.size === 0) return 0;
  const consumer = kafka.consumer({
    groupId: `${groupPrefix}-restore-${process.pid}-${Date.now()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: 8 << 20,
  });
  let restored = 0;
  await consumer.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      const done = (key: string, lastOffset: number) => {
        if (pending.has(key) && lastOffset + 1 >= (ends.get(key) ?? 0)) {
          pending.delete(key);
          if (pending.size === 0) resolve();
        }
      };
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        done(`${payload.topic}\0${payload.partition}`, Number(payload.lastOffset));
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      let seeked = false;
      consumer.on(consumer.events.GROUP_JOIN, () => {
        if (seeked) return;
        seeked = true;
        for (const t of targets) {
          if ((t.from ?? 0) > 0)
            consumer.seek({ topic: t.topic, partition: t.partition, offset: String(t.from) });
        }
      });
      const topics = [...new Set(targets.map((t) => t.topic))];
      consumer
        .subscribe({ topics, fromBeginning: true })
        .then(() =>
          consumer.run({
            autoCommit: false,
            eachBatchAutoResolve: true,
            eachBatch: async ({ batch }) => {
              const target = byKey.get(`${batch.topic}\0${batch.partition}`);
              if (!target) {
                consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
                return;
              }
              const from = target.from ?? 0;
              for (const m of batch.messages) {
                // Fetched before the seek took effect: the standby already has it.
                if (Number(m.offset) < from) continue;
                target.onRecord(m.key, m.value);
                restored++;
              }
            },
          }),
        )
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  log.debug({ restored, partitions: targets.length }, 'restored state from changelogs');
  return restored;
}

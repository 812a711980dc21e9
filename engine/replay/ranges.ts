import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { SluiceError } from '../errors.js';

/** Offsets [from, to) of one partition. */
export interface PartitionRange {
  topic: string;
  partition: number;
  from: number;
  to: number;
}

/** Where a range starts or ends: an offset on every partition, a point in time, or an edge. */
export type Position = { offset: number } | { timestamp: number } | 'earliest' | 'latest';

export class ReplayError extends SluiceError {}

/**
 * Parses a `--from` / `--to` value the way Kafka's tools take them: a bare integer is an
 * offset, anything else must be an ISO-8601 date-time (`2026-01-01T00:00:00Z`).
 */
export function parsePosition(text: string, flag: string): Position {
  if (text === 'earliest' || text === 'latest') return text;
  if (/^\d+$/.test(text)) return { offset: Number(text) };
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) {
    throw new ReplayError(
      'SLUICE_REPLAY_INVALID_POSITION',
      `${flag} takes an offset, 'earliest', 'latest' or an ISO-8601 date-time, got "${text}"`,
    );
  }
  return { timestamp: ms };
}

/** Resolves a position to an offset per partition, clamped to the partition's [low, high]. */
export async function resolvePosition(
  admin: Admin,
  topic: string,
  position: Position,
): Promise<Map<number, number>> {
  const bounds = await admin.fetchTopicOffsets(topic);
  const out = new Map<number, number>();
  const byTime =
    typeof position === 'object' && 'timestamp' in position
      ? new Map(
          (await admin.fetchTopicOffsetsByTimestamp(topic, position.timestamp)).map((p) => [
            p.partition,
            Number(p.offset),
          ]),
        )
      : null;
  for (const b of bounds) {
    const low = Number(b.low);
    const high = Number(b.high);
    let offset: number;
    if (position === 'earliest') offset = low;
    else if (position === 'latest') offset = high;
    else if ('offset' in position) offset = position.offset;
    else {
      // ListOffsets answers -1 when no record is at or after the time: the end.
      const found = byTime?.get(b.partition) ?? -1;
      offset = found < 0 ? high : found;
    }
    out.set(b.partition, Math.min(Math.max(offset, low), high));
  }
  return out;
}

/** The ranges of `topic` between two positions (the end defaults to the end as of now). */
export async function topicRanges(
  admin: Admin,
  topic: string,
  from: Position,
  to: Position = 'latest',
): Promise<PartitionRange[]> {
  const starts = await resolvePosition(admin, topic, from);
  const ends = await resolvePosition(admin, topic, to);
  return [...starts]
    .sort((a, b) => a[0] - b[0])
    .map(([partition, start]) => ({
      topic,
      partition,
      from: start,
      to: Math.max(start, ends.get(partition) ?? start),
    }));
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
  options: { readCommitted?: boolean; groupPrefix?: string } = {},
): Promise<void> {
  const key = (topic: string, partition: number) => `${topic}\0${partition}`;
  const byKey = new Map(ranges.map((r) => [key(r.topic, r.partition), r]));
  const pending = new Set([...byKey].filter(([, r]) => r.to > r.from).map(([k]) => k));
  if (pending.size === 0) return;
  const consumer = kafka.consumer({
    groupId: `${options.groupPrefix ?? 'sluice-replay'}-${process.pid}-${Date.now()}`,
    readUncommitted: !(options.readCommitted ?? true),
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: 4 << 20,
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

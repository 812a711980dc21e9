import type { Admin } from 'kafkajs';
import { SluiceError } from '../errors.js';
import type { PartitionRange } from '../kafka/ranges.js';

export { type PartitionRange, readRanges } from '../kafka/ranges.js';

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

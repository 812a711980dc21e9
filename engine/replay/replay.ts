import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka, Message } from 'kafkajs';
import { sendInRequests } from '../kafka/batches.js';
import { type PartitionRange, type Position, ReplayError, readRanges, topicRanges } from './ranges.js';

/** Headers every replayed record carries, beside the original ones. */
export const REPLAY_HEADERS = {
  /** `<topic>/<partition>/<offset>` of the original record. */
  source: 'sluice.replay-source',
  /** One id per replay run, so consumers can tell runs apart. */
  run: 'sluice.replay-id',
} as const;

export interface ReplayRequest {
  topic: string;
  from: Position;
  /** Exclusive end; the end of each partition as of planning by default. */
  to?: Position;
  into: string;
}

export interface ReplayPlan {
  source: string;
  target: string;
  runId: string;
  ranges: PartitionRange[];
  /** Offsets in the ranges; records may be fewer (markers, compaction). */
  offsets: number;
}

/**
 * What a replay would copy. Records keep their partition (so order per partition holds), key,
 * headers and timestamp; the target needs at least as many partitions as the source.
 */
export async function planReplay(kafka: Kafka, req: ReplayRequest): Promise<ReplayPlan> {
  if (req.topic === req.into) {
    throw new ReplayError('SLUICE_REPLAY_SAME_TOPIC', 'replaying a topic into itself would never end');
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    for (const t of [req.topic, req.into]) {
      if (!existing.has(t)) throw new ReplayError('SLUICE_REPLAY_UNKNOWN_TOPIC', `topic ${t} does not exist`);
    }
    const meta = await admin.fetchTopicMetadata({ topics: [req.topic, req.into] });
    const count = (t: string) => meta.topics.find((m) => m.name === t)?.partitions.length ?? 0;
    if (count(req.into) < count(req.topic)) {
      throw new ReplayError(
        'SLUICE_REPLAY_PARTITIONS',
        `${req.into} has ${count(req.into)} partitions, fewer than ${req.topic}'s ${count(req.topic)}: records could not keep their partition`,
      );
    }
    const ranges = await topicRanges(admin, req.topic, req.from, req.to);
    return {
      source: req.topic,
      target: req.into,
      runId: randomUUID(),
      ranges,
      offsets: ranges.reduce((n, r) => n + (r.to - r.from), 0),
    };
  } finally {
    await admin.disconnect();
  }
}

export function describeReplay(plan: ReplayPlan): string {
  const lines = [`replay ${plan.source} -> ${plan.target} (run ${plan.runId}), ${plan.offsets} offset(s):`];
  for (const r of plan.ranges) {
    lines.push(`  partition ${r.partition}: offsets [${r.from}, ${r.to}) (${r.to - r.from})`);
  }
  return lines.join('\n');
}

/**
 * Copies the plan's records (committed ones only) with an idempotent producer, one partition
 * batch at a time and in order. Returns the number of records written.
 */
export async function executeReplay(
  kafka: Kafka,
  plan: ReplayPlan,
  onProgress: (records: number) => void = () => {},
): Promise<number> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let written = 0;
  try {
    await readRanges(
      kafka,
      plan.ranges,
      async (range, messages) => {
        const out: Message[] = messages.map((m) => ({
          key: m.key,
          value: m.value,
          timestamp: m.timestamp,
          partition: range.partition,
          headers: {
            ...copyHeaders(m.headers),
            [REPLAY_HEADERS.source]: `${range.topic}/${range.partition}/${m.offset}`,
            [REPLAY_HEADERS.run]: plan.runId,
          },
        }));
        // A fetched batch can be larger than the broker takes in one record batch.
        await sendInRequests(producer, [{ topic: plan.target, messages: out }]);
        written += out.length;
        onProgress(out.length);
      },
      { groupPrefix: `sluice-replay-${plan.runId}` },
    );
  } finally {
    await producer.disconnect();
  }
  return written;
}

function copyHeaders(h: IHeaders | undefined): IHeaders {
  const out: IHeaders = {};
  for (const [k, v] of Object.entries(h ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

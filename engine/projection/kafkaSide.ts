import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Message, Producer } from 'kafkajs';
import type { AvroSerializer } from '../codec/index.js';
import { sendInRequests } from '../kafka/batches.js';
import type { DeadLetterValue } from '../topology/index.js';
import { deadLetterMessage } from './deadLetters.js';
import { ProjectionError } from './errors.js';
import type { PreparedEvent } from './prepare.js';

export type Assignment = { topic: string; partitions: number[] }[];

/** Checks the source topics exist; creates their `<topic>.dlq` with as many partitions. */
export async function prepareSourceTopics(admin: Admin, topics: readonly string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length > 0) {
    throw new ProjectionError(
      'SLUICE_PROJECTION_MISSING_TOPIC',
      `source topics do not exist: ${missing.join(', ')}`,
    );
  }
  const meta = await admin.fetchTopicMetadata({ topics: [...topics] });
  const create = meta.topics
    .filter((t) => !existing.has(`${t.name}.dlq`))
    .map((t) => ({ topic: `${t.name}.dlq`, numPartitions: t.partitions.length }));
  if (create.length > 0) await admin.createTopics({ topics: create, waitForLeaders: true });
}

/** The log start offset of every assigned partition: where a projection version without a checkpoint begins. */
export async function logStartOffsets(
  admin: Admin,
  assignment: Assignment,
): Promise<{ topic: string; partition: number; start: number }[]> {
  const out: { topic: string; partition: number; start: number }[] = [];
  for (const { topic, partitions } of assignment) {
    const offsets = await admin.fetchTopicOffsets(topic);
    for (const p of partitions) {
      out.push({ topic, partition: p, start: Number(offsets.find((o) => o.partition === p)?.low ?? 0) });
    }
  }
  return out;
}

/** Produces the dead letters of poison events to their `<topic>.dlq`, acknowledged by all replicas. */
export async function sendDeadLetters(
  producer: Producer,
  serializer: AvroSerializer<DeadLetterValue>,
  consumerGroup: string,
  events: readonly PreparedEvent[],
): Promise<void> {
  const byTopic = new Map<string, Message[]>();
  const now = Date.now();
  for (const e of events) {
    const { topic, message } = deadLetterMessage(serializer, e, consumerGroup, now);
    let messages = byTopic.get(topic);
    if (!messages) byTopic.set(topic, (messages = []));
    messages.push(message);
  }
  await sendInRequests(
    producer,
    [...byTopic].map(([topic, messages]) => ({ topic, messages })),
  );
}

/** The errors kafkajs answers by rejoining the group (its own `isRebalancing`). */
const rebalancing = (err: unknown): boolean =>
  ['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION'].includes(
    (err as { type?: string } | null)?.type ?? '',
  );

/**
 * Waits for `work` while keeping the group membership alive (eachBatch waiting on the database).
 * A heartbeat that reports a rebalance is rethrown once the wait is over: kafkajs then leaves
 * eachBatch and rejoins, rather than keeping the group waiting for the rest of a large fetch.
 */
export async function waitWithHeartbeats(
  work: Promise<void>,
  heartbeat: () => Promise<void> | undefined,
  intervalMs: number,
): Promise<void> {
  let done = false;
  let rebalance: unknown = null;
  const beat = () =>
    heartbeat()?.catch((err) => {
      if (rebalancing(err)) rebalance ??= err;
    });
  void (async () => {
    while (!done) {
      await sleep(intervalMs);
      if (!done) await beat();
    }
  })();
  try {
    await work;
  } finally {
    done = true;
  }
  // Even a short wait may have missed a rebalance: ask once (kafkajs throttles to its heartbeatInterval).
  await beat();
  if (rebalance) throw rebalance;
}

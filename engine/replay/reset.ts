import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { type Position, ReplayError, resolvePosition } from './ranges.js';

export interface ResetRequest {
  applicationId: string;
  to: Extract<Position, 'earliest'> | { timestamp: number };
  /** Input topics; by default those the group has committed offsets for (internal ones aside). */
  inputTopics?: string[];
  /** Where the application keeps local state (`<stateDir>/<applicationId>` is removed). */
  stateDir?: string;
  /** Output topics to empty (DeleteRecords to their end), only when asked. */
  outputTopics?: string[];
}

export interface ResetPlan {
  applicationId: string;
  /** New committed offset per input partition. */
  offsets: { topic: string; partition: number; from: string | null; to: number }[];
  /** Repartition and changelog topics to delete (the application creates them again). */
  internalTopics: string[];
  stateDir: string | null;
  /** Output partitions to empty up to their current end. */
  outputs: { topic: string; partition: number; end: number }[];
}

const isInternal = (applicationId: string, topic: string) =>
  topic.startsWith(`${applicationId}-`) && /-(changelog|repartition)$/.test(topic);

async function requireInactive(admin: Admin, groupId: string): Promise<void> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  if (g && g.members.length > 0) {
    throw new ReplayError(
      'SLUICE_RESET_GROUP_ACTIVE',
      `group ${groupId} has ${g.members.length} active member(s) (state ${g.state}): stop every instance of the application first`,
    );
  }
}

/**
 * What resetting an application means, as Kafka Streams' reset tool does it plus the parts that
 * tool leaves to the user: committed input offsets moved to the earliest offset or a time, the
 * application's internal topics deleted, its local state removed, and output topics emptied
 * when asked. Planning reads only; it refuses while the group has active members.
 */
export async function planReset(kafka: Kafka, req: ResetRequest): Promise<ResetPlan> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await requireInactive(admin, req.applicationId);
    const topics = await admin.listTopics();
    const committed = await admin.fetchOffsets({ groupId: req.applicationId });
    const inputs =
      req.inputTopics ??
      committed.map((t) => t.topic).filter((t) => !isInternal(req.applicationId, t) && topics.includes(t));
    const unknown = [...inputs, ...(req.outputTopics ?? [])].filter((t) => !topics.includes(t));
    if (unknown.length > 0) {
      throw new ReplayError('SLUICE_REPLAY_UNKNOWN_TOPIC', `topics do not exist: ${unknown.join(', ')}`);
    }
    const offsets: ResetPlan['offsets'] = [];
    for (const topic of inputs.sort()) {
      const current = new Map(
        (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [p.partition, p.offset]),
      );
      const target = await resolvePosition(admin, topic, req.to);
      for (const [partition, to] of [...target].sort((a, b) => a[0] - b[0])) {
        const from = current.get(partition);
        offsets.push({ topic, partition, from: from === undefined || from === '-1' ? null : from, to });
      }
    }
    const outputs: ResetPlan['outputs'] = [];
    for (const topic of req.outputTopics ?? []) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (Number(p.high) > Number(p.low))
          outputs.push({ topic, partition: p.partition, end: Number(p.high) });
      }
    }
    const dir = req.stateDir ? join(req.stateDir, req.applicationId) : null;
    return {
      applicationId: req.applicationId,
      offsets,
      internalTopics: topics.filter((t) => isInternal(req.applicationId, t)).sort(),
      stateDir: dir && existsSync(dir) ? dir : null,
      outputs,
    };
  } finally {
    await admin.disconnect();
  }
}

export function describeReset(plan: ResetPlan): string {
  const lines = [`reset application ${plan.applicationId}:`];
  lines.push(plan.offsets.length > 0 ? '  input offsets:' : '  input offsets: none committed');
  for (const o of plan.offsets) {
    lines.push(`    ${o.topic}[${o.partition}]: ${o.from ?? 'none'} -> ${o.to}`);
  }
  lines.push(
    plan.internalTopics.length > 0
      ? `  delete internal topics: ${plan.internalTopics.join(', ')}`
      : '  internal topics: none',
  );
  lines.push(`  local state: ${plan.stateDir ? `remove ${plan.stateDir}` : 'none'}`);
  for (const o of plan.outputs) lines.push(`  empty output ${o.topic}[${o.partition}] up to offset ${o.end}`);
  return lines.join('\n');
}

/** Carries out a plan; checks again that no instance has started since it was made. */
export async function executeReset(kafka: Kafka, plan: ResetPlan): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await requireInactive(admin, plan.applicationId);
    const byTopic = new Map<string, { partition: number; offset: string }[]>();
    for (const o of plan.offsets) {
      const list = byTopic.get(o.topic) ?? [];
      list.push({ partition: o.partition, offset: String(o.to) });
      byTopic.set(o.topic, list);
    }
    for (const [topic, partitions] of byTopic) {
      await admin.setOffsets({ groupId: plan.applicationId, topic, partitions });
    }
    const outputs = new Map<string, { partition: number; offset: string }[]>();
    for (const o of plan.outputs) {
      const list = outputs.get(o.topic) ?? [];
      list.push({ partition: o.partition, offset: String(o.end) });
      outputs.set(o.topic, list);
    }
    for (const [topic, partitions] of outputs) {
      try {
        // kafkajs's deleteTopicRecords looks leaders up without loading the topic's metadata.
        await admin.fetchTopicMetadata({ topics: [topic] });
        await admin.deleteTopicRecords({ topic, partitions });
      } catch (err) {
        // kafkajs puts the per-partition causes beside a generic message.
        const failed = (err as { partitions?: { partition: number; error?: Error }[] }).partitions ?? [];
        const why = failed.map((f) => `${topic}[${f.partition}]: ${f.error?.message ?? 'failed'}`).join('; ');
        throw new ReplayError(
          'SLUICE_RESET_DELETE_RECORDS',
          `could not empty ${topic}${why ? `: ${why}` : ''}`,
          {
            cause: err,
          },
        );
      }
    }
    // Last of the Kafka steps: kafkajs's admin then fails metadata refreshes for deleted topics.
    if (plan.internalTopics.length > 0) await admin.deleteTopics({ topics: plan.internalTopics });
    if (plan.stateDir) rmSync(plan.stateDir, { recursive: true, force: true });
  } finally {
    await admin.disconnect();
  }
}

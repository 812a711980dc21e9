import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { AvroSerializer } from '../codec/index.js';
import { createLogger } from '../observability/logger.js';
import type { DeadLetterValue } from '../topology/index.js';
import { liveVersion, type ServedProjection } from './blueGreen.js';
import { ProjectionError } from './errors.js';
import { ProjectionRunner } from './runner.js';
import { projectionStatus } from './status.js';

export interface RebuildPlan {
  projection: string;
  /** The version serving now. */
  from: number;
  /** The version built from the earliest offsets. */
  to: number;
  /** End offsets per topic-partition when planned: the new version serves once it reaches them. */
  ends: { topic: string; partition: number; end: number }[];
  offsets: number;
  dropOld: boolean;
}

const groupOf = (name: string, version: number) => `sluice-projection-${name}-v${version}`;

export async function planRebuild(
  p: ServedProjection,
  deps: { pool: Pool; kafka: Kafka },
  options: { dropOld?: boolean } = {},
): Promise<RebuildPlan> {
  if (!p.blueGreen) {
    throw new ProjectionError(
      'SLUICE_PROJECTION_NOT_REBUILDABLE',
      `projection ${p.name} serves no stable names to swap: it cannot be rebuilt blue/green`,
    );
  }
  const from = await liveVersion(p, deps.pool);
  const { rows } = await deps.pool
    .query<{ v: number | null }>(
      'SELECT max(version) AS v FROM sluice_projection_checkpoints WHERE projection = $1',
      [p.name],
    )
    .catch(() => ({ rows: [{ v: null }] }));
  // A version above the live one may be a half-built earlier attempt: build past it.
  const to = Math.max(from, rows[0]?.v ?? 0) + 1;
  const admin = deps.kafka.admin();
  await admin.connect();
  const ends: RebuildPlan['ends'] = [];
  try {
    for (const topic of new Set(p.define(to).sources.map((s) => s.topic))) {
      for (const o of await admin.fetchTopicOffsets(topic)) {
        ends.push({ topic, partition: o.partition, end: Number(o.high) });
      }
    }
  } finally {
    await admin.disconnect();
  }
  return {
    projection: p.name,
    from,
    to,
    ends,
    offsets: ends.reduce((n, e) => n + e.end, 0),
    dropOld: options.dropOld ?? false,
  };
}

export function describeRebuild(plan: RebuildPlan): string {
  const lines = [
    `rebuild ${plan.projection}: build version ${plan.to} from the earliest offsets while version ${plan.from} serves`,
  ];
  const byTopic = new Map<string, number>();
  for (const e of plan.ends) byTopic.set(e.topic, (byTopic.get(e.topic) ?? 0) + e.end);
  for (const [topic, n] of byTopic) lines.push(`  read ${topic} up to its current end (${n} offsets)`);
  lines.push(`  then swap the stable names to version ${plan.to}`);
  lines.push(
    plan.dropOld
      ? `  then drop version ${plan.from} once no instance runs it`
      : `  version ${plan.from} stays (drop it later with --drop-old)`,
  );
  return lines.join('\n');
}

/**
 * Builds the plan's version next to the live one, swaps the stable names in one transaction
 * once it has caught up with the planned end offsets, and drops the old version on request
 * once its consumer group is empty (serving processes follow the swap on their own).
 */
export async function executeRebuild(
  p: ServedProjection,
  plan: RebuildPlan,
  deps: {
    pool: Pool;
    kafka: Kafka;
    deadLetterSerializer: AvroSerializer<DeadLetterValue>;
    logger?: Logger;
    onProgress?: (applied: number) => void;
    dropTimeoutMs?: number;
  },
): Promise<{ seconds: number }> {
  const log = deps.logger ?? createLogger('projection');
  const blueGreen = p.blueGreen!;
  const started = Date.now();
  const runner = await ProjectionRunner.start({
    definition: p.define(plan.to),
    kafka: deps.kafka,
    pool: deps.pool,
    deadLetterSerializer: deps.deadLetterSerializer,
    logger: log,
  });
  try {
    const target = new Map(plan.ends.map((e) => [`${e.topic}:${e.partition}`, e.end]));
    let reported = 0;
    for (;;) {
      const status = await projectionStatus(deps.pool, p.name, { version: plan.to });
      let applied = 0;
      let caughtUp = true;
      for (const [key, end] of target) {
        const part = status?.partitions.find((x) => `${x.topic}:${x.partition}` === key);
        const next = part?.nextOffset ?? 0;
        applied += Math.min(next, end);
        if (next < end) caughtUp = false;
      }
      if (applied > reported) {
        deps.onProgress?.(applied - reported);
        reported = applied;
      }
      if (caughtUp) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await runner.close();
  }
  await blueGreen.refresh?.(deps.pool, plan.to);
  const client = await deps.pool.connect();
  try {
    await client.query('BEGIN');
    await blueGreen.swap(client, plan.to);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
  log.info({ projection: p.name, version: plan.to }, 'swapped in the rebuilt version');
  if (plan.dropOld) await dropWhenIdle(p, plan.from, deps, deps.dropTimeoutMs ?? 60_000);
  return { seconds: (Date.now() - started) / 1000 };
}

async function dropWhenIdle(
  p: ServedProjection,
  version: number,
  deps: { pool: Pool; kafka: Kafka },
  timeoutMs: number,
): Promise<void> {
  const admin = deps.kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { groups } = await admin.describeGroups([groupOf(p.name, version)]);
      if ((groups[0]?.members.length ?? 0) === 0) break;
      if (Date.now() > deadline) {
        throw new ProjectionError(
          'SLUICE_PROJECTION_VERSION_IN_USE',
          `version ${version} of ${p.name} still runs in ${groups[0]!.members.length} instance(s) after ${timeoutMs} ms: not dropped`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await admin.disconnect();
  }
  const client = await deps.pool.connect();
  try {
    await client.query('BEGIN');
    await p.blueGreen!.drop(client, version);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';

export interface PartitionStatus {
  topic: string;
  partition: number;
  /** The next offset the projection will apply (its SQL checkpoint). */
  nextOffset: number;
  /** The partition's high watermark, when Kafka was asked. */
  endOffset: number | null;
  lag: number | null;
  updatedAt: Date;
}

export interface ProjectionErrorStatus {
  topic: string;
  partition: number;
  offset: number;
  errorClass: string;
  errorCode: string | null;
  message: string;
  recordedAt: Date;
}

export interface ProjectionStatus {
  projection: string;
  version: number;
  /** Every version with checkpoints, newest first (blue/green rebuilds run side by side). */
  versions: number[];
  partitions: PartitionStatus[];
  /** Sum of the partitions' lag; null without Kafka. */
  lag: number | null;
  errorCount: number;
  lastError: ProjectionErrorStatus | null;
}

/**
 * Where a projection stands, from its SQL checkpoints (the truth, not Kafka's committed
 * offsets) and, with `kafka`, the topics' end offsets. `version` defaults to the newest one.
 * Null when the projection has never run.
 */
export async function projectionStatus(
  pool: Pool,
  name: string,
  opts: { kafka?: Kafka; version?: number } = {},
): Promise<ProjectionStatus | null> {
  const { rows: exists } = await pool.query<{ ok: boolean }>(
    `SELECT to_regclass('sluice_projection_checkpoints') IS NOT NULL AS ok`,
  );
  if (!exists[0]?.ok) return null;
  const { rows: versionRows } = await pool.query<{ version: number }>(
    'SELECT DISTINCT version FROM sluice_projection_checkpoints WHERE projection = $1 ORDER BY version DESC',
    [name],
  );
  const versions = versionRows.map((r) => r.version);
  const version = opts.version ?? versions[0];
  if (version === undefined) return null;
  const { rows } = await pool.query<{
    topic: string;
    partition: number;
    next_offset: string;
    updated_at: Date;
  }>(
    `SELECT topic, partition, next_offset, updated_at FROM sluice_projection_checkpoints
     WHERE projection = $1 AND version = $2 ORDER BY topic, partition`,
    [name, version],
  );
  const ends = new Map<string, number>();
  if (opts.kafka) {
    const admin = opts.kafka.admin();
    await admin.connect();
    try {
      for (const topic of new Set(rows.map((r) => r.topic))) {
        for (const o of await admin.fetchTopicOffsets(topic))
          ends.set(`${topic}:${o.partition}`, Number(o.high));
      }
    } finally {
      await admin.disconnect();
    }
  }
  const partitions = rows.map((r): PartitionStatus => {
    const end = ends.get(`${r.topic}:${r.partition}`) ?? null;
    const next = Number(r.next_offset);
    return {
      topic: r.topic,
      partition: r.partition,
      nextOffset: next,
      endOffset: end,
      lag: end === null ? null : Math.max(0, end - next),
      updatedAt: r.updated_at,
    };
  });
  const { rows: errors } = await pool.query<{
    topic: string;
    partition: number;
    offset: string;
    error_class: string;
    error_code: string | null;
    message: string;
    recorded_at: Date;
    total: string;
  }>(
    `SELECT topic, partition, "offset", error_class, error_code, message, recorded_at,
            count(*) OVER () AS total
     FROM projection_errors WHERE projection = $1 AND version = $2
     ORDER BY recorded_at DESC, "offset" DESC LIMIT 1`,
    [name, version],
  );
  const last = errors[0];
  return {
    projection: name,
    version,
    versions,
    partitions,
    lag: opts.kafka ? partitions.reduce((s, p) => s + (p.lag ?? 0), 0) : null,
    errorCount: last ? Number(last.total) : 0,
    lastError: last
      ? {
          topic: last.topic,
          partition: last.partition,
          offset: Number(last.offset),
          errorClass: last.error_class,
          errorCode: last.error_code,
          message: last.message,
          recordedAt: last.recorded_at,
        }
      : null,
  };
}

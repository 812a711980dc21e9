import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { registry as processRegistry } from '../observability/metrics.js';
import type { WriteBatch, WriteOutcome } from './batchWriter.js';
import { tpKey } from './checkpoints.js';

/** Metrics of the projection runner, labelled by projection and version (and topic where they apply). */
export interface ProjectionMetrics {
  eventsApplied: Counter;
  batchSize: Histogram;
  batchWriteSeconds: Histogram;
  lag: Gauge;
  errors: Counter;
  retries: Counter;
  assignments: Counter;
}

const cached = new WeakMap<Registry, ProjectionMetrics>();

export function projectionMetrics(reg: Registry = processRegistry): ProjectionMetrics {
  const known = cached.get(reg);
  if (known) return known;
  const m: ProjectionMetrics = {
    eventsApplied: new Counter({
      name: 'sluice_projection_events_applied_total',
      help: 'Events committed to the read model (dead-lettered ones excluded)',
      labelNames: ['projection', 'version', 'topic'],
      registers: [reg],
    }),
    batchSize: new Histogram({
      name: 'sluice_projection_batch_size_events',
      help: 'Events per committed batch',
      labelNames: ['projection', 'version'],
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10_000, 25_000],
      registers: [reg],
    }),
    batchWriteSeconds: new Histogram({
      name: 'sluice_projection_batch_write_seconds',
      help: 'Time of one batch transaction: checkpoint lock, rows, errors, checkpoint, commit',
      labelNames: ['projection', 'version'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [reg],
    }),
    lag: new Gauge({
      name: 'sluice_projection_lag_events',
      help: 'Offsets between the SQL checkpoint and the high watermark last seen, per partition',
      labelNames: ['projection', 'version', 'topic', 'partition'],
      registers: [reg],
    }),
    errors: new Counter({
      name: 'sluice_projection_errors_total',
      help: 'Poison events dead-lettered and recorded in projection_errors',
      labelNames: ['projection', 'version', 'topic', 'stage'],
      registers: [reg],
    }),
    retries: new Counter({
      name: 'sluice_projection_retries_total',
      help: 'Batch transactions retried after a transient database or registry error',
      labelNames: ['projection', 'version'],
      registers: [reg],
    }),
    assignments: new Counter({
      name: 'sluice_projection_assignments_total',
      help: 'Partition assignments received (group joins after rebalances), each followed by a seek to the SQL checkpoints',
      labelNames: ['projection', 'version'],
      registers: [reg],
    }),
  };
  cached.set(reg, m);
  return m;
}

/** Records one committed batch: its size, the events applied and dead-lettered, each partition's lag. */
export function observeBatch(
  m: ProjectionMetrics,
  labels: { projection: string; version: string },
  batch: WriteBatch,
  outcome: WriteOutcome,
  highWatermarks: ReadonlyMap<string, number>,
): void {
  m.batchSize.observe(labels, batch.events.length);
  for (const [topic, n] of outcome.applied) m.eventsApplied.inc({ ...labels, topic }, n);
  for (const { event, poison } of outcome.poisons)
    m.errors.inc({ ...labels, topic: event.topic, stage: poison.stage });
  for (const r of batch.ranges) {
    const hw = highWatermarks.get(tpKey(r.topic, r.partition));
    const at = outcome.checkpoints.get(tpKey(r.topic, r.partition));
    if (hw !== undefined && at !== undefined) {
      m.lag.set({ ...labels, topic: r.topic, partition: String(r.partition) }, Math.max(0, hw - at));
    }
  }
}

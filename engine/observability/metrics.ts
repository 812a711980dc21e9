import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The process-wide registry; `sluice_<subsystem>_<name>_<unit>` names. */
export const registry = new Registry();

export interface TopologyMetrics {
  recordsIn: Counter;
  recordsOut: Counter;
  processSeconds: Histogram;
  consumerLag: Gauge;
  lateRecords: Counter;
  deadLetters: Counter;
  storeEntries: Gauge;
  restoredRecords: Counter;
  standbyRecords: Counter;
  standbyTasks: Gauge;
  commitSeconds: Histogram;
  rebalances: Counter;
}

const cached = new WeakMap<Registry, TopologyMetrics>();

/** Metrics of the topology runtime, labelled by application id (and topic / task where they apply). */
export function topologyMetrics(reg: Registry = registry): TopologyMetrics {
  const known = cached.get(reg);
  if (known) return known;
  const m: TopologyMetrics = {
    recordsIn: new Counter({
      name: 'sluice_topology_records_in_total',
      help: 'Records consumed by topology tasks',
      labelNames: ['application', 'topic'],
      registers: [reg],
    }),
    recordsOut: new Counter({
      name: 'sluice_topology_records_out_total',
      help: 'Records produced to sink topics',
      labelNames: ['application', 'topic'],
      registers: [reg],
    }),
    processSeconds: new Histogram({
      name: 'sluice_topology_process_latency_seconds',
      help: 'Time to process one fetched batch, per record',
      labelNames: ['application'],
      buckets: [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1],
      registers: [reg],
    }),
    consumerLag: new Gauge({
      name: 'sluice_topology_consumer_lag_records',
      help: 'Records between the last processed offset and the high watermark',
      labelNames: ['application', 'topic', 'partition'],
      registers: [reg],
    }),
    lateRecords: new Counter({
      name: 'sluice_topology_late_records_total',
      help: 'Records later than their window grace, sent to the dead-letter topic',
      labelNames: ['application', 'topic'],
      registers: [reg],
    }),
    deadLetters: new Counter({
      name: 'sluice_topology_dead_letter_records_total',
      help: 'Records sent to a dead-letter topic',
      labelNames: ['application', 'topic', 'kind'],
      registers: [reg],
    }),
    storeEntries: new Gauge({
      name: 'sluice_topology_store_entries',
      help: 'Approximate entries per state store and task',
      labelNames: ['application', 'store', 'task'],
      registers: [reg],
    }),
    restoredRecords: new Counter({
      name: 'sluice_topology_restored_records_total',
      help: 'Changelog records applied while restoring state',
      labelNames: ['application', 'store'],
      registers: [reg],
    }),
    standbyRecords: new Counter({
      name: 'sluice_topology_standby_records_total',
      help: 'Changelog records applied to standby replicas of tasks',
      labelNames: ['application', 'store'],
      registers: [reg],
    }),
    standbyTasks: new Gauge({
      name: 'sluice_topology_standby_tasks',
      help: 'Standby tasks this instance keeps warm',
      labelNames: ['application'],
      registers: [reg],
    }),
    commitSeconds: new Histogram({
      name: 'sluice_topology_commit_latency_seconds',
      help: 'Time to commit a task (flush, produce, offsets, transaction)',
      labelNames: ['application'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [reg],
    }),
    rebalances: new Counter({
      name: 'sluice_topology_rebalances_total',
      help: 'Consumer group rebalances seen by this instance',
      labelNames: ['application'],
      registers: [reg],
    }),
  };
  cached.set(reg, m);
  return m;
}

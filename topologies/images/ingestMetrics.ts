import { Counter, type Registry } from 'prom-client';
import { registry as processRegistry } from '../../engine/observability/metrics.js';

export interface IngestMetrics {
  uploads: Counter;
  rejected: Counter;
  deadLetters: Counter;
}

const cached = new WeakMap<Registry, IngestMetrics>();

/** Metrics of image ingest, labelled by channel (HTTP, IMPORT) and, for refusals, reason. */
export function ingestMetrics(reg: Registry = processRegistry): IngestMetrics {
  const known = cached.get(reg);
  if (known) return known;
  const m: IngestMetrics = {
    uploads: new Counter({
      name: 'sluice_ingest_uploads_total',
      help: 'Files accepted (an UploadReceived each); deduplicated: their bytes were already stored',
      labelNames: ['channel', 'deduplicated'],
      registers: [reg],
    }),
    rejected: new Counter({
      name: 'sluice_ingest_rejected_files_total',
      help: 'Files refused before anything was written, by reason',
      labelNames: ['channel', 'reason'],
      registers: [reg],
    }),
    deadLetters: new Counter({
      name: 'sluice_ingest_dead_letter_records_total',
      help: 'Refused files recorded on the dead-letter topic with their bytes, by reason',
      labelNames: ['channel', 'reason'],
      registers: [reg],
    }),
  };
  cached.set(reg, m);
  return m;
}

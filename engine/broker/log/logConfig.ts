/** Per-topic log settings, under Kafka's topic-level names (see TopicConfig). */
export interface LogConfig {
  cleanupPolicy: { delete: boolean; compact: boolean };
  retentionMs: number;
  retentionBytes: number;
  segmentBytes: number;
  segmentMs: number;
  deleteRetentionMs: number;
  indexIntervalBytes: number;
  maxMessageBytes: number;
  /** 1 = fsync before acknowledging every produce; larger values batch fsyncs. */
  flushMessages: number;
  flushMs: number;
  minCleanableDirtyRatio: number;
}

export function parseCleanupPolicy(v: string): { delete: boolean; compact: boolean } {
  const parts = v.split(',').map((s) => s.trim());
  return { delete: parts.includes('delete'), compact: parts.includes('compact') };
}

import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import {
  type BatchRecord,
  COMPRESSION_MASK,
  CONTROL_BIT,
  Compression,
  decodeRecords,
  encodeBatch,
  readBatchHeader,
} from '../../protocol/recordBatch.js';
import type { Segment } from './segment.js';

/** Batches the broker can open itself; snappy, lz4 and zstd ones pass through untouched. */
export function canOpen(batch: Buffer): boolean {
  const codec = readBatchHeader(batch).attributes & COMPRESSION_MASK;
  return codec === Compression.none || codec === Compression.gzip;
}

const isControl = (batch: Buffer) => (readBatchHeader(batch).attributes & CONTROL_BIT) !== 0;

/**
 * Log compaction as Kafka's cleaner does it: keep only the latest record per key, rewrite
 * the sealed segments below `cleanableEnd` (the active segment's base or the last stable
 * offset, whichever is lower: open transactions are never judged), keep offsets (and so
 * gaps), drop records of aborted transactions, and drop tombstones older than
 * delete.retention.ms. Control batches, records without a key, and batches in codecs the
 * broker cannot open are kept: nothing is lost that cannot be judged.
 */
export function compactSegments(
  segments: Segment[],
  cleanableEnd: number,
  now: number,
  deleteRetentionMs: number,
  isAborted: (producerId: number, offset: number) => boolean,
): { recordsRemoved: number } {
  const cleanable = segments.filter(
    (s) => s.nextOffset <= cleanableEnd && s !== segments[segments.length - 1],
  );
  const latest = new Map<string, number>();
  for (const seg of cleanable) {
    for (const loc of seg.batches()) {
      const batch = seg.read(loc.position, loc.size);
      if (!canOpen(batch) || isControl(batch)) continue;
      const pid = loc.header.producerId;
      for (const r of decodeRecords(batch)) {
        if (r.key && !isAborted(pid, r.offset)) latest.set(r.key.toString('latin1'), r.offset);
      }
    }
  }
  let producerId = -1;
  const keep = (r: BatchRecord) => {
    if (isAborted(producerId, r.offset)) return false;
    if (!r.key) return true;
    if (latest.get(r.key.toString('latin1')) !== r.offset) return false;
    return r.value !== null || now - r.timestamp <= deleteRetentionMs;
  };
  let recordsRemoved = 0;
  for (const seg of cleanable) {
    const out: Buffer[] = [];
    let removedHere = 0;
    for (const loc of seg.batches()) {
      const batch = seg.read(loc.position, loc.size);
      if (!canOpen(batch) || isControl(batch)) {
        out.push(batch);
        continue;
      }
      producerId = loc.header.producerId;
      const records = decodeRecords(batch);
      const kept = records.filter(keep);
      removedHere += records.length - kept.length;
      if (kept.length === records.length) out.push(batch);
      else if (kept.length > 0) {
        const h = readBatchHeader(batch);
        out.push(
          encodeBatch({
            baseOffset: h.baseOffset,
            records: kept,
            lastOffsetDelta: h.lastOffsetDelta,
            baseTimestamp: h.baseTimestamp,
            maxTimestamp: h.maxTimestamp,
            attributes: h.attributes,
            producerId: h.producerId,
            producerEpoch: h.producerEpoch,
            baseSequence: h.baseSequence,
            partitionLeaderEpoch: h.partitionLeaderEpoch,
          }),
        );
      }
    }
    if (removedHere === 0) continue;
    const cleaned = `${seg.path}.cleaned`;
    const fd = openSync(cleaned, 'w');
    try {
      for (const b of out) writeSync(fd, b);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    seg.replaceWith(cleaned);
    recordsRemoved += removedHere;
  }
  return { recordsRemoved };
}

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BatchRecord,
  CONTROL_BIT,
  decodeRecords,
  encodeBatch,
  LOG_OVERHEAD,
  readBatchHeader,
  TRANSACTIONAL_BIT,
  writeBaseOffset,
} from '../../protocol/recordBatch.js';
import { canOpen, compactSegments } from './cleaner.js';
import { writeFileAtomically } from './files.js';
import type { LogConfig } from './logConfig.js';
import { ControlType, ProducerState, type ProducerStateSnapshot } from './producerState.js';
import { type BatchLocation, Segment } from './segment.js';

export interface ReadResult {
  /** Whole batches, starting with the one that holds the requested offset. */
  chunks: Buffer[];
  bytes: number;
  /** Last offset of the last batch returned; offset - 1 when nothing is. */
  lastOffset: number;
}

export class OffsetOutOfRangeError extends Error {
  override name = 'OffsetOutOfRangeError';
}

const LOG_START_FILE = 'log-start-offset';
const PRODUCER_STATE_FILE = 'producer-state.json';

/** Why a produced batch was refused by the partition's producer state. */
export type AppendRefusal = 'fenced' | 'out-of-order' | 'invalid';

/**
 * The log of one partition: an ordered list of segments, the last one active. Offsets are
 * assigned synchronously on append, so request ordering alone decides log order.
 */
export class PartitionLog {
  private segments: Segment[] = [];
  logStartOffset = 0;
  private appendListeners = new Set<() => void>();
  /** Where the batch after the last read starts: sequential consumers skip the index. */
  private readHint: { offset: number; segment: Segment; position: number } | null = null;
  private unflushedMessages = 0;
  producers = new ProducerState();
  private flushTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly dir: string,
    readonly topic: string,
    readonly partition: number,
    public config: LogConfig,
  ) {}

  /**
   * Opens (or creates) the partition directory. After an unclean shutdown, the last segment
   * and any unsealed one are CRC-checked and truncated at the first torn batch.
   */
  static open(
    dir: string,
    topic: string,
    partition: number,
    config: LogConfig,
    cleanShutdown: boolean,
  ): { log: PartitionLog; truncatedBytes: number } {
    mkdirSync(dir, { recursive: true });
    const log = new PartitionLog(dir, topic, partition, config);
    let truncatedBytes = 0;
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.cleaned') || name.endsWith('.tmp')) rmSync(join(dir, name), { force: true });
    }
    const bases = readdirSync(dir)
      .filter((n) => /^\d{20}\.log$/.test(n))
      .map((n) => Number(n.slice(0, 20)))
      .sort((a, b) => a - b);
    bases.forEach((base, i) => {
      const isLast = i === bases.length - 1;
      const { segment, truncatedBytes: t } = Segment.open(
        dir,
        base,
        config.indexIntervalBytes,
        !cleanShutdown && isLast,
      );
      truncatedBytes += t;
      log.segments.push(segment);
    });
    if (log.segments.length === 0) log.segments.push(Segment.create(dir, 0, config.indexIntervalBytes));
    const saved = existsSync(join(dir, LOG_START_FILE))
      ? Number(readFileSync(join(dir, LOG_START_FILE), 'utf8'))
      : 0;
    log.logStartOffset = Math.max(log.segments[0].baseOffset, Number.isFinite(saved) ? saved : 0);
    log.logStartOffset = Math.min(log.logStartOffset, log.logEndOffset);
    log.producers = log.loadProducerState(cleanShutdown);
    return { log, truncatedBytes };
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1];
  }

  /** One past the last offset written: the high watermark of a single-replica partition. */
  get logEndOffset(): number {
    return this.active.nextOffset;
  }

  get sizeBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.size;
    return n;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /**
   * The snapshot written at a clean shutdown, or (after a crash) the state rebuilt from every
   * batch header in the log, as Kafka rebuilds its producer state.
   */
  private loadProducerState(cleanShutdown: boolean): ProducerState {
    const file = join(this.dir, PRODUCER_STATE_FILE);
    if (cleanShutdown && existsSync(file)) {
      const snap = JSON.parse(readFileSync(file, 'utf8')) as ProducerStateSnapshot;
      if (snap.logEndOffset === this.logEndOffset) return ProducerState.restore(snap);
    }
    const state = new ProducerState();
    for (const seg of this.segments) {
      for (const loc of seg.batches()) {
        if (loc.header.producerId < 0) continue;
        const control = (loc.header.attributes & CONTROL_BIT) !== 0;
        state.apply(loc.header, control ? controlTypeOf(seg.read(loc.position, loc.size)) : null);
      }
    }
    state.pruneBelow(this.logStartOffset);
    return state;
  }

  /**
   * Appends a producer's validated batches. Idempotent and transactional batches are checked
   * against the producer state first: a retried duplicate answers with its original offset
   * and is not written again; an older epoch is fenced; a sequence gap is refused. The
   * promise resolves when the batches are as durable as the flush policy promises.
   */
  appendProduced(
    batches: Buffer[],
    now = Date.now(),
  ): { baseOffset: number; durable: Promise<void> } | { refused: AppendRefusal } {
    const headers = batches.map((b) => readBatchHeader(b));
    if (headers.some((h) => (h.attributes & CONTROL_BIT) !== 0)) return { refused: 'invalid' };
    const stateful = headers.some((h) => h.producerId >= 0);
    if (stateful) {
      // Kafka clients send one batch per partition; sequence checks assume it.
      if (batches.length !== 1) return { refused: 'invalid' };
      const check = this.producers.check(headers[0]);
      if ('error' in check) return { refused: check.error };
      if ('duplicateOf' in check) return { baseOffset: check.duplicateOf, durable: this.active.sync() };
    }
    return this.append(batches, now);
  }

  /** Writes a transaction marker (a control batch) for `producerId`. */
  appendControl(
    producerId: number,
    producerEpoch: number,
    commit: boolean,
    coordinatorEpoch = 0,
  ): Promise<void> {
    const key = Buffer.alloc(4);
    key.writeInt16BE(0, 0);
    key.writeInt16BE(commit ? ControlType.commit : ControlType.abort, 2);
    const value = Buffer.alloc(6);
    value.writeInt16BE(0, 0);
    value.writeInt32BE(coordinatorEpoch, 2);
    const batch = encodeBatch({
      baseOffset: 0,
      records: [{ offset: 0, timestamp: Date.now(), key, value, headers: [] }],
      attributes: CONTROL_BIT | TRANSACTIONAL_BIT,
      producerId,
      producerEpoch,
      baseSequence: -1,
    });
    return this.append([batch]).durable;
  }

  /**
   * Assigns offsets and writes, without producer checks: the broker's own writes (internal
   * topics, markers) and the tail of appendProduced. Every batch updates the producer state.
   */
  append(batches: Buffer[], now = Date.now()): { baseOffset: number; durable: Promise<void> } {
    let total = 0;
    for (const b of batches) total += b.length;
    this.maybeRoll(total, now);
    const baseOffset = this.logEndOffset;
    let next = baseOffset;
    let records = 0;
    const headers = batches.map((b) => {
      writeBaseOffset(b, next);
      const h = readBatchHeader(b);
      next += h.lastOffsetDelta + 1;
      records += h.recordCount;
      return h;
    });
    const segment = this.active;
    segment.append(batches);
    headers.forEach((h, i) => {
      if (h.producerId >= 0) {
        this.producers.apply(h, (h.attributes & CONTROL_BIT) !== 0 ? controlTypeOf(batches[i]) : null);
      }
    });
    for (const l of this.appendListeners) l();
    return { baseOffset, durable: this.flushPolicy(segment, records) };
  }

  /** The last stable offset: read_committed fetches and ListOffsets stop here. */
  get lastStableOffset(): number {
    return this.producers.lastStableOffset(this.logEndOffset);
  }

  private flushPolicy(segment: Segment, records: number): Promise<void> {
    if (this.config.flushMessages <= 1) return segment.sync();
    this.unflushedMessages += records;
    if (this.unflushedMessages >= this.config.flushMessages) {
      this.unflushedMessages = 0;
      return segment.sync();
    }
    if (!this.flushTimer && this.config.flushMs < Number.MAX_SAFE_INTEGER) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.unflushedMessages = 0;
        this.active.sync().catch(() => {});
      }, this.config.flushMs);
      this.flushTimer.unref();
    }
    return Promise.resolve();
  }

  private maybeRoll(incoming: number, now: number): void {
    const seg = this.active;
    if (seg.size === 0) return;
    if (seg.size + incoming > this.config.segmentBytes || now - seg.createdAt >= this.config.segmentMs)
      this.roll();
  }

  /** Starts a new active segment at the log end; the old one is fsynced and its indexes saved. */
  roll(): void {
    const old = this.active;
    if (old.size === 0) return;
    this.segments.push(Segment.create(this.dir, old.nextOffset, this.config.indexIntervalBytes));
    // A seal that fails leaves no index files: the next start CRC-checks that segment instead.
    old.seal().catch(() => {});
  }

  /**
   * Reads whole batches from `offset`, at most `maxBytes` unless the first batch alone is
   * larger, and none at or past `upTo` (the last stable offset for read_committed).
   */
  read(offset: number, maxBytes: number, upTo = this.logEndOffset): ReadResult {
    if (offset < this.logStartOffset || offset > this.logEndOffset) {
      throw new OffsetOutOfRangeError(
        `offset ${offset} is outside [${this.logStartOffset}, ${this.logEndOffset}] of ${this.topic}-${this.partition}`,
      );
    }
    const nothing = { chunks: [], bytes: 0, lastOffset: offset - 1 };
    if (offset >= upTo) return nothing;
    let loc: BatchLocation | null = null;
    let segment: Segment | undefined;
    const hint = this.readHint;
    if (hint && hint.offset === offset && this.segments.includes(hint.segment)) {
      segment = hint.segment;
      loc = segment.locate(offset, { position: hint.position });
    }
    for (let i = this.segmentIndexFor(offset); !loc && i < this.segments.length; i++) {
      segment = this.segments[i];
      loc = segment.locate(offset);
    }
    if (!loc || !segment) return nothing;
    const wanted = Math.max(loc.size, Math.min(maxBytes, segment.size - loc.position));
    const buf = segment.read(loc.position, wanted);
    // Cut at the last whole batch: a partial batch costs the client a re-fetch.
    let end = 0;
    let lastOffset = offset - 1;
    while (end + 12 <= buf.length) {
      const size = LOG_OVERHEAD + buf.readInt32BE(end + 8);
      if (end + size > buf.length || Number(buf.readBigInt64BE(end)) >= upTo) break;
      lastOffset = Number(buf.readBigInt64BE(end)) + buf.readInt32BE(end + 23);
      end += size;
    }
    if (end === 0) return nothing;
    this.readHint = { offset: lastOffset + 1, segment, position: loc.position + end };
    const out = end === buf.length ? buf : buf.subarray(0, end);
    return { chunks: [out], bytes: end, lastOffset };
  }

  /** Every data record from the log start, in order (the broker's own topics replay this way at start). */
  *records(): Generator<BatchRecord> {
    for (let offset = this.logStartOffset; offset < this.logEndOffset; ) {
      const { chunks, lastOffset } = this.read(offset, 1 << 20);
      if (chunks.length === 0) return;
      const buf = chunks[0];
      for (let pos = 0; pos < buf.length; pos += LOG_OVERHEAD + buf.readInt32BE(pos + 8)) {
        const batch = buf.subarray(pos, pos + LOG_OVERHEAD + buf.readInt32BE(pos + 8));
        const control = (readBatchHeader(batch).attributes & CONTROL_BIT) !== 0;
        if (!control && canOpen(batch)) for (const r of decodeRecords(batch)) if (r.offset >= offset) yield r;
      }
      offset = lastOffset + 1;
    }
  }

  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid].baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /**
   * The earliest offset whose batch holds a timestamp >= `timestamp`, as ListOffsets
   * answers it; null when every record is older.
   */
  offsetForTimestamp(timestamp: number): { offset: number; timestamp: number } | null {
    for (const seg of this.segments) {
      const loc = seg.locateTimestamp(timestamp);
      if (!loc) continue;
      const found = firstRecordAtOrAfter(seg.read(loc.position, loc.size), timestamp);
      const offset = Math.max(found?.offset ?? loc.baseOffset, this.logStartOffset);
      return { offset, timestamp: found?.timestamp ?? loc.maxTimestamp };
    }
    return null;
  }

  /** DeleteRecords: moves the log start offset and drops segments wholly below it. */
  deleteRecordsBefore(offset: number): number {
    if (offset > this.logEndOffset || offset < 0) {
      throw new OffsetOutOfRangeError(`cannot delete before ${offset}: log end is ${this.logEndOffset}`);
    }
    if (offset <= this.logStartOffset) return this.logStartOffset;
    this.logStartOffset = offset;
    writeFileAtomically(join(this.dir, LOG_START_FILE), String(offset));
    this.dropSegmentsBelow(offset);
    return this.logStartOffset;
  }

  private dropSegmentsBelow(offset: number): void {
    while (this.segments.length > 0 && this.segments[0].nextOffset <= offset) {
      if (this.segments.length === 1) {
        this.roll();
        if (this.segments.length === 1) break;
      }
      this.dropOldest();
    }
  }

  private dropOldest(): void {
    const seg = this.segments.shift()!;
    if (this.readHint?.segment === seg) this.readHint = null;
    seg.delete();
    this.logStartOffset = Math.max(this.logStartOffset, this.segments[0].baseOffset);
    this.producers.pruneBelow(this.logStartOffset);
  }

  /** Time and size retention (cleanup.policy containing `delete`); returns segments removed. */
  enforceRetention(now: number): number {
    if (!this.config.cleanupPolicy.delete) return 0;
    let removed = 0;
    const expired = (s: Segment) =>
      this.config.retentionMs >= 0 && s.maxTimestamp >= 0 && now - s.maxTimestamp > this.config.retentionMs;
    while (this.segments.length > 0 && expired(this.segments[0])) {
      if (this.segments.length === 1) this.roll();
      if (this.segments.length === 1) break;
      this.dropOldest();
      removed++;
    }
    if (this.config.retentionBytes >= 0) {
      let size = this.sizeBytes;
      while (this.segments.length > 1 && size - this.segments[0].size >= this.config.retentionBytes) {
        size -= this.segments[0].size;
        this.dropOldest();
        removed++;
      }
    }
    if (removed > 0) writeFileAtomically(join(this.dir, LOG_START_FILE), String(this.logStartOffset));
    return removed;
  }

  /** Compacts every sealed segment (cleanup.policy containing `compact`). */
  compact(now: number): { recordsRemoved: number } {
    if (!this.config.cleanupPolicy.compact || this.segments.length < 2) return { recordsRemoved: 0 };
    const result = compactSegments(
      this.segments,
      this.lastStableOffset,
      now,
      this.config.deleteRetentionMs,
      (pid, offset) => this.producers.isAborted(pid, offset),
    );
    if (result.recordsRemoved > 0) this.readHint = null;
    return result;
  }

  /** Flushes everything and saves the active segment's indexes; the log stays readable. */
  async flush(): Promise<void> {
    await Promise.all(this.segments.map((s) => s.sync()));
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.appendListeners.clear();
    await this.active.seal();
    writeFileAtomically(
      join(this.dir, PRODUCER_STATE_FILE),
      JSON.stringify(this.producers.snapshot(this.logEndOffset)),
    );
    for (const s of this.segments) s.close();
  }

  /** Removes the partition's files (DeleteTopics). */
  destroy(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    for (const s of this.segments) s.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Within one batch, the first record whose timestamp is >= `timestamp`. */
function firstRecordAtOrAfter(
  batch: Buffer,
  timestamp: number,
): { offset: number; timestamp: number } | null {
  // snappy, lz4 and zstd batches are never opened: the answer is then the batch's base offset.
  if (!canOpen(batch)) return null;
  for (const r of decodeRecords(batch)) if (r.timestamp >= timestamp) return r;
  return null;
}

/** The marker type (abort 0, commit 1) of a control batch: its one record's key. */
function controlTypeOf(batch: Buffer): number {
  const [record] = decodeRecords(batch);
  return record?.key && record.key.length >= 4 ? record.key.readInt16BE(2) : -1;
}

import {
  closeSync,
  fdatasync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  BATCH_HEADER_SIZE,
  type BatchHeader,
  crcMatches,
  LOG_OVERHEAD,
  readBatchHeader,
} from '../../protocol/recordBatch.js';
import { OffsetIndex, TimeIndex } from './index.js';

export function segmentFileName(baseOffset: number, suffix: string): string {
  return `${String(baseOffset).padStart(20, '0')}${suffix}`;
}

/** Where one batch sits in a segment. */
export interface BatchLocation {
  position: number;
  size: number;
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
}

/**
 * One log segment: a file of record batches plus a sparse offset index and a time index
 * (in memory while the segment is active, written beside it when it rolls or closes).
 * Reads and appends are synchronous page-cache copies; only fsync goes to the thread pool.
 */
export class Segment {
  size: number;
  /** One past the last offset stored here (baseOffset when empty). */
  nextOffset: number;
  maxTimestamp = -1;
  private bytesSinceIndexEntry = 0;
  private syncedSize: number;
  private syncing: Promise<void> | null = null;
  private syncAgain: Promise<void> | null = null;
  private closed = false;
  readonly offsetIndex: OffsetIndex;
  readonly timeIndex: TimeIndex;
  /** When the segment was created (or its file last modified, for reopened ones): segment.ms rolls on it. */
  createdAt: number;

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    private fd: number,
    size: number,
    private readonly indexIntervalBytes: number,
  ) {
    this.size = size;
    this.syncedSize = size;
    this.nextOffset = baseOffset;
    this.offsetIndex = new OffsetIndex(baseOffset);
    this.timeIndex = new TimeIndex(baseOffset);
    this.createdAt = Date.now();
  }

  get path(): string {
    return join(this.dir, segmentFileName(this.baseOffset, '.log'));
  }

  static create(dir: string, baseOffset: number, indexIntervalBytes: number): Segment {
    const fd = openSync(join(dir, segmentFileName(baseOffset, '.log')), 'a+');
    return new Segment(dir, baseOffset, fd, 0, indexIntervalBytes);
  }

  /**
   * Opens an existing segment. `verify` checks every batch's CRC and truncates at the first
   * one that fails (torn tail after a crash); otherwise the saved indexes are trusted and
   * only the tail after their last entry is scanned.
   */
  static open(
    dir: string,
    baseOffset: number,
    indexIntervalBytes: number,
    verify: boolean,
  ): { segment: Segment; truncatedBytes: number } {
    const path = join(dir, segmentFileName(baseOffset, '.log'));
    const fd = openSync(path, 'r+');
    const size = fstatSync(fd).size;
    const seg = new Segment(dir, baseOffset, fd, size, indexIntervalBytes);
    seg.createdAt = fstatSync(fd).mtimeMs;
    // A segment without its saved indexes was never sealed: check it like an active one.
    const loaded =
      !verify &&
      seg.offsetIndex.load(join(dir, segmentFileName(baseOffset, '.index')), size) &&
      seg.timeIndex.load(join(dir, segmentFileName(baseOffset, '.timeindex')));
    if (loaded) seg.maxTimestamp = seg.timeIndex.lastTimestamp();
    else {
      seg.offsetIndex.clear();
      seg.timeIndex.clear();
    }
    const valid = seg.scan(loaded ? seg.offsetIndex.lastPosition() : 0, !loaded);
    const truncatedBytes = size - valid;
    if (truncatedBytes > 0) {
      ftruncateSync(fd, valid);
      seg.size = valid;
      seg.syncedSize = valid;
    }
    return { segment: seg, truncatedBytes };
  }

  /** Rebuilds nextOffset, timestamps and index entries from `from`; returns the valid length. */
  private scan(from: number, verify: boolean): number {
    const header = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
    let pos = from;
    let expected = -1;
    while (pos + BATCH_HEADER_SIZE <= this.size) {
      readSync(this.fd, header, 0, BATCH_HEADER_SIZE, pos);
      const h = readBatchHeader(header);
      const total = LOG_OVERHEAD + h.batchLength;
      if (h.magic !== 2 || h.batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD || pos + total > this.size) break;
      if (expected >= 0 && h.baseOffset < expected) break;
      if (verify) {
        const batch = Buffer.allocUnsafe(total);
        readSync(this.fd, batch, 0, total, pos);
        if (!crcMatches(batch)) break;
      }
      this.track(pos, total, h.baseOffset, h.baseOffset + h.lastOffsetDelta, h.maxTimestamp);
      expected = h.baseOffset + h.lastOffsetDelta + 1;
      pos += total;
    }
    return pos;
  }

  private track(
    position: number,
    size: number,
    baseOffset: number,
    lastOffset: number,
    maxTimestamp: number,
  ): void {
    if (this.bytesSinceIndexEntry >= this.indexIntervalBytes || this.offsetIndex.isEmpty()) {
      if (position > this.offsetIndex.lastPosition() || this.offsetIndex.isEmpty()) {
        this.offsetIndex.append(baseOffset, position);
      }
      this.bytesSinceIndexEntry = 0;
    }
    this.bytesSinceIndexEntry += size;
    if (maxTimestamp > this.maxTimestamp) {
      this.maxTimestamp = maxTimestamp;
      this.timeIndex.maybeAppend(maxTimestamp, baseOffset);
    }
    this.nextOffset = lastOffset + 1;
  }

  /** Appends whole batches whose baseOffsets are already assigned. */
  append(batches: Buffer[]): void {
    let pos = this.size;
    for (const b of batches) {
      const h = readBatchHeader(b);
      writeSync(this.fd, b, 0, b.length, pos);
      this.track(pos, b.length, h.baseOffset, h.baseOffset + h.lastOffsetDelta, h.maxTimestamp);
      pos += b.length;
    }
    this.size = pos;
  }

  /** fdatasync everything appended so far; concurrent callers share one sync. */
  sync(): Promise<void> {
    if (this.syncedSize === this.size || this.closed) return Promise.resolve();
    if (this.syncing) {
      this.syncAgain ??= this.syncing.then(() => {
        this.syncAgain = null;
        return this.sync();
      });
      return this.syncAgain;
    }
    const target = this.size;
    this.syncing = new Promise<void>((resolve, reject) => {
      fdatasync(this.fd, (err) => {
        this.syncing = null;
        if (err && !this.closed) reject(err);
        else {
          this.syncedSize = Math.max(this.syncedSize, target);
          resolve();
        }
      });
    });
    return this.syncing;
  }

  read(position: number, length: number): Buffer {
    const n = Math.max(0, Math.min(length, this.size - position));
    const out = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      const got = readSync(this.fd, out, done, n - done, position + done);
      if (got === 0) break;
      done += got;
    }
    return done === n ? out : out.subarray(0, done);
  }

  readHeader(position: number, into: Buffer): boolean {
    if (position + BATCH_HEADER_SIZE > this.size) return false;
    readSync(this.fd, into, 0, BATCH_HEADER_SIZE, position);
    return true;
  }

  /** Location of the first batch whose last offset is >= `offset`, or null past the end. */
  locate(offset: number, from?: { position: number }): BatchLocation | null {
    const header = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
    let pos = from?.position ?? this.offsetIndex.floorPosition(offset);
    while (this.readHeader(pos, header)) {
      const h = readBatchHeader(header);
      const size = LOG_OVERHEAD + h.batchLength;
      const last = h.baseOffset + h.lastOffsetDelta;
      if (last >= offset)
        return {
          position: pos,
          size,
          baseOffset: h.baseOffset,
          lastOffset: last,
          maxTimestamp: h.maxTimestamp,
        };
      pos += size;
    }
    return null;
  }

  /** First batch whose max timestamp is >= `timestamp`. */
  locateTimestamp(timestamp: number): BatchLocation | null {
    if (timestamp > this.maxTimestamp) return null;
    const startOffset = this.timeIndex.firstOffsetAtOrAfter(timestamp);
    const header = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
    let pos = this.offsetIndex.floorPosition(startOffset);
    while (this.readHeader(pos, header)) {
      const h = readBatchHeader(header);
      const size = LOG_OVERHEAD + h.batchLength;
      if (h.maxTimestamp >= timestamp) {
        return {
          position: pos,
          size,
          baseOffset: h.baseOffset,
          lastOffset: h.baseOffset + h.lastOffsetDelta,
          maxTimestamp: h.maxTimestamp,
        };
      }
      pos += size;
    }
    return null;
  }

  /** Every batch location, in order (the cleaner walks a whole segment). */
  /** Every batch, in order, with its header (the cleaner and producer-state rebuilds walk a segment). */
  *batches(): Generator<BatchLocation & { header: BatchHeader }> {
    const buf = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
    let pos = 0;
    while (this.readHeader(pos, buf)) {
      const header = readBatchHeader(buf);
      const size = LOG_OVERHEAD + header.batchLength;
      const lastOffset = header.baseOffset + header.lastOffsetDelta;
      yield {
        position: pos,
        size,
        baseOffset: header.baseOffset,
        lastOffset,
        maxTimestamp: header.maxTimestamp,
        header,
      };
      pos += size;
    }
  }

  /** Writes the indexes beside the log, durably; called when the segment stops being active. */
  async seal(): Promise<void> {
    await this.sync();
    this.offsetIndex.save(join(this.dir, segmentFileName(this.baseOffset, '.index')));
    this.timeIndex.save(join(this.dir, segmentFileName(this.baseOffset, '.timeindex')));
  }

  /** Replaces this segment's file with `cleanedPath` (already fsynced) and rebuilds its indexes. */
  replaceWith(cleanedPath: string): void {
    closeSync(this.fd);
    renameSync(cleanedPath, this.path);
    this.fd = openSync(this.path, 'r+');
    this.size = fstatSync(this.fd).size;
    this.syncedSize = this.size;
    this.offsetIndex.clear();
    this.timeIndex.clear();
    this.maxTimestamp = -1;
    this.bytesSinceIndexEntry = 0;
    const keepNext = this.nextOffset;
    this.scan(0, false);
    // A cleaned segment keeps its offset range even if its last records were removed.
    this.nextOffset = Math.max(this.nextOffset, keepNext);
    this.offsetIndex.save(join(this.dir, segmentFileName(this.baseOffset, '.index')));
    this.timeIndex.save(join(this.dir, segmentFileName(this.baseOffset, '.timeindex')));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  delete(): void {
    this.close();
    for (const suffix of ['.log', '.index', '.timeindex']) {
      rmSync(join(this.dir, segmentFileName(this.baseOffset, suffix)), { force: true });
    }
  }
}

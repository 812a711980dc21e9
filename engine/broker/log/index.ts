import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomically } from './files.js';

/** Growable pair of parallel number arrays; index files are small and load whole. */
class Entries {
  a = new Float64Array(64);
  b = new Float64Array(64);
  length = 0;

  push(x: number, y: number): void {
    if (this.length === this.a.length) {
      const a = new Float64Array(this.a.length * 2);
      const b = new Float64Array(this.b.length * 2);
      a.set(this.a);
      b.set(this.b);
      this.a = a;
      this.b = b;
    }
    this.a[this.length] = x;
    this.b[this.length] = y;
    this.length++;
  }

  /** Index of the last entry whose `a` is <= key, or -1. */
  floor(key: number): number {
    let lo = 0;
    let hi = this.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.a[mid] <= key) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Index of the first entry whose `a` is >= key, or -1. */
  ceiling(key: number): number {
    let lo = 0;
    let hi = this.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.a[mid] >= key) {
        found = mid;
        hi = mid - 1;
      } else lo = mid + 1;
    }
    return found;
  }
}

/**
 * Sparse offset index, Kafka's `.index` layout: (int32 offset relative to the segment base,
 * int32 file position), one entry per `index.interval.bytes` of log.
 */
export class OffsetIndex {
  private e = new Entries();

  constructor(private readonly baseOffset: number) {}

  isEmpty(): boolean {
    return this.e.length === 0;
  }
  append(offset: number, position: number): void {
    this.e.push(offset, position);
  }
  clear(): void {
    this.e = new Entries();
  }
  lastPosition(): number {
    return this.e.length === 0 ? 0 : this.e.b[this.e.length - 1];
  }
  /** Position of the last indexed batch starting at or before `offset`. */
  floorPosition(offset: number): number {
    const i = this.e.floor(offset);
    return i < 0 ? 0 : this.e.b[i];
  }

  save(path: string): void {
    const buf = Buffer.allocUnsafe(this.e.length * 8);
    for (let i = 0; i < this.e.length; i++) {
      buf.writeInt32BE(this.e.a[i] - this.baseOffset, i * 8);
      buf.writeInt32BE(this.e.b[i], i * 8 + 4);
    }
    writeFileAtomically(path, buf);
  }

  /** Loads a saved index; false (and empty) when missing or inconsistent with the log. */
  load(path: string, logSize: number): boolean {
    this.clear();
    if (!existsSync(path)) return false;
    const buf = readFileSync(path);
    if (buf.length % 8 !== 0) return false;
    let lastPos = -1;
    for (let i = 0; i < buf.length; i += 8) {
      const pos = buf.readInt32BE(i + 4);
      if (pos <= lastPos || pos >= logSize) {
        this.clear();
        return false;
      }
      lastPos = pos;
      this.e.push(this.baseOffset + buf.readInt32BE(i), pos);
    }
    return this.e.length > 0 || logSize === 0;
  }
}

/**
 * Time index, Kafka's `.timeindex` layout: (int64 timestamp, int32 relative offset), an entry
 * each time the segment's largest timestamp grows, so the first batch holding a timestamp
 * >= T is found by one binary search.
 */
export class TimeIndex {
  private e = new Entries();

  constructor(private readonly baseOffset: number) {}

  maybeAppend(timestamp: number, offset: number): void {
    if (this.e.length === 0 || timestamp > this.e.a[this.e.length - 1]) this.e.push(timestamp, offset);
  }
  clear(): void {
    this.e = new Entries();
  }
  lastTimestamp(): number {
    return this.e.length === 0 ? -1 : this.e.a[this.e.length - 1];
  }
  /** Offset of the first batch whose max timestamp is >= `timestamp` (the segment base if unknown). */
  firstOffsetAtOrAfter(timestamp: number): number {
    const i = this.e.ceiling(timestamp);
    return i < 0 ? this.baseOffset : this.e.b[i];
  }

  save(path: string): void {
    const buf = Buffer.allocUnsafe(this.e.length * 12);
    for (let i = 0; i < this.e.length; i++) {
      buf.writeBigInt64BE(BigInt(this.e.a[i]), i * 12);
      buf.writeInt32BE(this.e.b[i] - this.baseOffset, i * 12 + 8);
    }
    writeFileAtomically(path, buf);
  }

  load(path: string): boolean {
    this.clear();
    if (!existsSync(path)) return false;
    const buf = readFileSync(path);
    if (buf.length % 12 !== 0) return false;
    for (let i = 0; i < buf.length; i += 12) {
      this.maybeAppend(Number(buf.readBigInt64BE(i)), this.baseOffset + buf.readInt32BE(i + 8));
    }
    return true;
  }
}
